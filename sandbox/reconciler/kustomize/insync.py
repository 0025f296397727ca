"""What the applier knows to be in sync, so that a drift check need not dry-run it again.

A server-side dry-run apply is a function of the desired object, the live object and the API server's admission
configuration. After an object was applied, or dry-run and found unchanged, the applier remembers the digest of
the desired object, the live object's uid and resourceVersion (every write to it changes them), and a fingerprint
of the server's admission configuration (its version, the webhook configurations and admission policies). While
all of these are the same, the dry-run would answer what it answered then — unchanged — so it is skipped. Any
edit of the object, a new revision of it, a new webhook or policy, or a restart of the reconciler brings the
dry-run back. Only built-in kinds are remembered: a custom resource's dry-run also depends on its CRD.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.errors import APIError
from sandbox.kube.client import KubeClient

Obj = dict[str, Any]
Owner = tuple[str, str]

# Groups served by kube-apiserver itself (no CRD can define a kind in them).
BUILT_IN_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apps", "autoscaling", "batch",
    "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io", "scheduling.k8s.io",
    "storage.k8s.io"})
ADMISSION_KINDS = (("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
                   ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
                   ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"),
                   ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"),
                   ("admissionregistration.k8s.io/v1beta1", "MutatingAdmissionPolicy"),
                   ("admissionregistration.k8s.io/v1beta1", "MutatingAdmissionPolicyBinding"))


def digest(obj: Obj) -> str:
    """A digest of the desired object (key order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def rememberable(obj: Obj) -> bool:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.rpartition("/")[0] in BUILT_IN_GROUPS


def server_fingerprint(kube: KubeClient) -> str | None:
    """The API server's version and the resourceVersions of its admission webhooks and policies; None when it
    cannot be read (then nothing is taken as known)."""
    try:
        parts = [str(kube.request("GET", "/version").get("gitVersion", ""))]
    except APIError:
        return None
    for api_version, kind in ADMISSION_KINDS:
        try:
            items = kube.list(api_version, kind).items
        except APIError as err:
            if err.status == 404 or err.reason == "NoKindMatch":
                continue  # not served by this Kubernetes version
            return None
        parts += sorted(f"{kind}/{item['metadata'].get('name')}@{item['metadata'].get('resourceVersion')}"
                        for item in items)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class InSync:
    desired: str
    uid: str
    resource_version: str
    fingerprint: str


class Memory:
    """Per Kustomization (``owner``) and inventory id: what was last seen in sync. Thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[Owner, dict[str, InSync]] = {}
        self._lock = threading.Lock()

    def remember(self, owner: Owner, key: str, desired: Obj, live: Obj | None, fingerprint: str | None) -> None:
        meta = (live or {}).get("metadata") or {}
        with self._lock:
            entries = self._entries.setdefault(owner, {})
            if fingerprint is None or not rememberable(desired) or not meta.get("uid") \
                    or not meta.get("resourceVersion"):
                entries.pop(key, None)
                return
            entries[key] = InSync(digest(desired), str(meta["uid"]), str(meta["resourceVersion"]), fingerprint)

    def forget(self, owner: Owner, keys: Iterable[str] | None = None) -> None:
        with self._lock:
            if keys is None:
                self._entries.pop(owner, None)
                return
            entries = self._entries.get(owner, {})
            for key in keys:
                entries.pop(key, None)

    def has(self, owner: Owner) -> bool:
        with self._lock:
            return bool(self._entries.get(owner))

    def in_sync(self, owner: Owner, key: str, desired: Obj, live: Obj | None, fingerprint: str | None) -> bool:
        """True when ``live`` is the very object last seen in sync with this ``desired`` object."""
        if fingerprint is None or live is None or not rememberable(desired):
            return False
        with self._lock:
            known = self._entries.get(owner, {}).get(key)
        meta = live.get("metadata") or {}
        return (known is not None and known.fingerprint == fingerprint and known.uid == meta.get("uid")
                and known.resource_version == meta.get("resourceVersion") and known.desired == digest(desired))
