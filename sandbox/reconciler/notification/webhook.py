"""Verification of incoming webhooks per Receiver type (pure logic: headers + body + token -> verdict)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

SUPPORTED_TYPES = ("generic", "generic-hmac", "github", "gitlab")
_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    status: int  # HTTP status to answer with
    message: str
    trigger: bool = False  # annotate the resources?


def webhook_path(token: str, name: str, namespace: str) -> str:
    """``/hook/`` + sha256hex(token + name + namespace), as notification-controller computes it."""
    return "/hook/" + hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()


def _check_signature(header_value: str, body: bytes, token: str, default_algorithm: str = "") -> bool:
    if "=" in header_value:
        algorithm, _, signature = header_value.partition("=")
    else:
        algorithm, signature = default_algorithm, header_value
    digest = _ALGORITHMS.get(algorithm.lower())
    if digest is None or not signature:
        return False
    expected = hmac.new(token.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def verify(receiver_type: str, events: list[str], headers: dict[str, str], body: bytes, token: str) -> Verdict:
    """Decide what to do with a webhook call; ``headers`` keys are lower-case."""
    if receiver_type == "generic":
        return Verdict(True, 200, "accepted", trigger=True)
    if receiver_type == "generic-hmac":
        signature = headers.get("x-signature", "")
        if not _check_signature(signature, body, token):
            return Verdict(False, 401, "unable to verify the X-Signature HMAC")
        return Verdict(True, 200, "accepted", trigger=True)
    if receiver_type == "github":
        # Gitea sends GitHub-compatible headers as well as its own; Flux documents `type: github` for Gitea.
        candidates = [(headers.get("x-hub-signature-256", ""), ""), (headers.get("x-hub-signature", ""), ""),
                      (headers.get("x-gitea-signature", ""), "sha256")]
        present = [(value, algo) for value, algo in candidates if value]
        if not present or not any(_check_signature(v, body, token, a) for v, a in present):
            return Verdict(False, 401, "unable to validate the payload signature")
        event = headers.get("x-github-event") or headers.get("x-gitea-event", "")
        if event == "ping":
            return Verdict(True, 200, "pong")
        if events and event not in events:
            return Verdict(True, 200, f"event '{event}' is not in spec.events; ignored")
        try:
            json.loads(body or b"{}")
        except ValueError:
            return Verdict(False, 400, "payload is not JSON")
        return Verdict(True, 200, "accepted", trigger=True)
    if receiver_type == "gitlab":
        if not hmac.compare_digest(headers.get("x-gitlab-token", ""), token):
            return Verdict(False, 401, "the X-Gitlab-Token header does not match the token")
        event = headers.get("x-gitlab-event", "")
        if events and event not in events:
            return Verdict(True, 200, f"event '{event}' is not in spec.events; ignored")
        return Verdict(True, 200, "accepted", trigger=True)
    return Verdict(False, 400, f"receiver type '{receiver_type}' is not supported by the sandbox reconciler "
                               f"(supported: {', '.join(SUPPORTED_TYPES)})")
