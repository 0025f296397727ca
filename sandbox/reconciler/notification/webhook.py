"""Verification of incoming webhooks per Receiver type (pure logic: headers + body + token -> verdict)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

SUPPORTED_TYPES = ("generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor", "dockerhub", "quay", "nexus",
                   "acr")
# Registries' payloads: notification-controller decodes them into these shapes (field -> nested shape or the
# JSON type of a leaf) and acts on nothing else, so any JSON object whose named fields have these types passes.
_PAYLOADS: dict[str, dict[str, object]] = {
    "dockerhub": {"push_data": {"tag": str}, "repository": {"repo_url": str}},
    "quay": {"docker_url": str, "updated_tags": [str]},
    "nexus": {"action": str, "repositoryName": str},
    "acr": {"action": str, "target": {"repository": str, "tag": str}},
}
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


def _signed_payload_ok(headers: dict[str, str], body: bytes, token: str) -> str:
    """go-github's ValidatePayload, as notification-controller applies it to Bitbucket Server: a JSON or form body,
    signed in X-Hub-Signature-256 (else X-Hub-Signature) as ``sha1=``/``sha256=``/``sha512=`` + hex HMAC of the raw
    body. Returns what is wrong, or "" when it is valid."""
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in ("application/json", "application/x-www-form-urlencoded"):
        return f"webhook request has unsupported Content-Type {media_type!r}"
    signature = headers.get("x-hub-signature-256") or headers.get("x-hub-signature", "")
    if not signature:
        return "missing signature"
    if not _check_signature(signature, body, token):
        return "payload signature check failed"
    return ""


def _event_allowed(event: str, events: list[str]) -> bool:
    """spec.events, compared case-insensitively as notification-controller does; empty allows every event."""
    return not events or any(event.lower() == allowed.lower() for allowed in events)


def _verify_bitbucket(events: list[str], headers: dict[str, str], body: bytes, token: str) -> Verdict:
    problem = _signed_payload_ok(headers, body, token)
    if problem:
        return Verdict(False, 400, f"the Bitbucket server signature header is invalid: {problem}")
    event = headers.get("x-event-key", "")
    if not _event_allowed(event, events):
        return Verdict(False, 400, f"the Bitbucket server event '{event}' is not authorised")
    return Verdict(True, 200, "accepted", trigger=True)


def _fits(value: object, shape: object) -> bool:
    """Whether Go's encoding/json would decode ``value`` into a field of ``shape`` (null fits anything)."""
    if value is None:
        return True
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(_fits(value.get(key), inner) for key, inner in shape.items())
    if isinstance(shape, list):
        return isinstance(value, list) and all(_fits(item, shape[0]) for item in value)
    return isinstance(value, str)


def decodes_as(body: bytes, receiver_type: str, *, whole: bool = False) -> bool:
    """Whether the body decodes into the payload notification-controller declares for ``receiver_type``.

    Like Go's ``json.Decoder.Decode`` only the first JSON value counts, unless ``whole`` (``json.Unmarshal``)."""
    try:
        text = body.decode()
        value, end = json.JSONDecoder().raw_decode(text.lstrip())
    except (UnicodeDecodeError, ValueError):
        return False
    if whole and text.lstrip()[end:].strip():
        return False
    return _fits(value, _PAYLOADS[receiver_type])


def _nexus_signature_ok(header_value: str, body: bytes, token: str) -> bool:
    """X-Nexus-Webhook-Signature: the lower-case hex HMAC-SHA1 of the body, compared as is."""
    expected = hmac.new(token.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(header_value.encode(), expected.encode())


def _verify_registry(receiver_type: str, headers: dict[str, str], body: bytes, token: str) -> Verdict:
    """harbor, dockerhub, quay, nexus, acr: notification-controller answers 400 to whatever fails validation
    and never looks at ``spec.events`` for them."""
    if receiver_type == "harbor":
        if headers.get("authorization") != token:
            return Verdict(False, 400, "the Harbor Authorization header value does not match the receiver token")
        return Verdict(True, 200, "accepted", trigger=True)
    if receiver_type == "nexus":
        signature = headers.get("x-nexus-webhook-signature", "")
        if not signature:
            return Verdict(False, 400, "Nexus signature is missing from header")
        if not _nexus_signature_ok(signature, body, token):
            return Verdict(False, 400, "invalid Nexus signature")
        if not decodes_as(body, "nexus", whole=True):
            return Verdict(False, 400, "cannot decode Nexus webhook payload")
        return Verdict(True, 200, "accepted", trigger=True)
    names = {"dockerhub": "DockerHub", "quay": "Quay", "acr": "ACR"}
    if not decodes_as(body, receiver_type):
        return Verdict(False, 400, f"cannot decode {names[receiver_type]} webhook payload")
    return Verdict(True, 200, "accepted", trigger=True)


def verify(receiver_type: str, events: list[str], headers: dict[str, str], body: bytes, token: str) -> Verdict:
    """Decide what to do with a webhook call; ``headers`` keys are lower-case."""
    if receiver_type == "generic":
        return Verdict(True, 200, "accepted", trigger=True)
    if receiver_type == "generic-hmac":
        signature = headers.get("x-signature", "")
        if not _check_signature(signature, body, token):
            return Verdict(False, 400, "unable to verify the X-Signature HMAC")
        return Verdict(True, 200, "accepted", trigger=True)
    if receiver_type == "github":
        # Gitea sends GitHub's headers as well as its own; Flux documents `type: github` for Gitea. A Gitea too old
        # to send X-Hub-Signature-256 is still verified through X-Gitea-Signature (the same HMAC-SHA256, bare hex).
        gitea_only = headers.get("x-gitea-signature") and not (headers.get("x-hub-signature-256")
                                                                or headers.get("x-hub-signature"))
        if gitea_only:
            signed = {**headers, "x-hub-signature-256": "sha256=" + headers["x-gitea-signature"]}
            problem = _signed_payload_ok(signed, body, token)
        else:
            problem = _signed_payload_ok(headers, body, token)
        if problem:
            return Verdict(False, 400, f"the GitHub signature header is invalid: {problem}")
        event = headers.get("x-github-event") or headers.get("x-gitea-event", "")
        if not _event_allowed(event, events):
            return Verdict(False, 400, f"the GitHub event '{event}' is not authorised")
        return Verdict(True, 200, "accepted", trigger=True)
    if receiver_type == "gitlab":
        if not hmac.compare_digest(headers.get("x-gitlab-token", ""), token):
            return Verdict(False, 400, "the X-Gitlab-Token header value does not match the receiver token")
        event = headers.get("x-gitlab-event", "")
        if not _event_allowed(event, events):
            return Verdict(False, 400, f"the GitLab event '{event}' is not authorised")
        return Verdict(True, 200, "accepted", trigger=True)
    if receiver_type == "bitbucket":
        return _verify_bitbucket(events, headers, body, token)
    if receiver_type in ("harbor", "dockerhub", "quay", "nexus", "acr"):
        return _verify_registry(receiver_type, headers, body, token)
    return Verdict(False, 400, f"receiver type '{receiver_type}' is not supported by the sandbox reconciler "
                               f"(supported: {', '.join(SUPPORTED_TYPES)})")
