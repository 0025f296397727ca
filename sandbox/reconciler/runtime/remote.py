"""``spec.kubeConfig``: the remote cluster an object applies to, as fluxcd/pkg's impersonator reads it.

``secretRef``: the Secret (in the object's namespace) holds a kubeconfig under ``secretRef.key``, else ``value``,
else ``value.yaml``; like Flux, a kubeconfig naming local files (CA, token, client certificate or key) is refused —
the reconciler's own files are not a tenant's to read. Clients are cached per Secret ``resourceVersion``, and so is
the kubeconfig file Helm reads (0600, in the reconciler's data directory).

``configMapRef`` (:mod:`sandbox.reconciler.runtime.workload_identity`): the ConfigMap names a provider and the
cluster's address; ``generic`` is implemented, the cloud providers are not (``NotSupported``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import InputError
from sandbox.kube.client import KubeClient
from sandbox.kube.kubeconfig import loads
from sandbox.reconciler.runtime import workload_identity

Obj = dict[str, Any]
DEFAULT_KEYS = ("value", "value.yaml")


class KubeConfigError(Exception):
    """The remote cluster's kubeconfig cannot be read; the message is Flux's (never the Secret's content)."""

    def __init__(self, message: str, *, not_found: bool = False, not_supported: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found  # the Secret (ConfigMap) does not exist
        self.not_supported = not_supported  # it asks for what the sandbox does not implement (a cloud provider)


@dataclass(frozen=True)
class Messages:
    """What each controller says (kustomize-controller through fluxcd/pkg, helm-controller its own)."""

    not_found: str
    missing_key: str
    no_default_key: str
    invalid: str


KUSTOMIZE = Messages(
    not_found="unable to read KubeConfig secret '{secret}' error: secrets \"{name}\" not found",
    missing_key="KubeConfig secret '{secret}' does not contain a '{key}' key with a kubeconfig",
    no_default_key="KubeConfig secret '{secret}' does not contain a 'value' key with a kubeconfig",
    invalid="invalid KubeConfig in secret '{secret}': {error}")
HELM = Messages(
    not_found="could not get KubeConfig secret '{secret}': secrets \"{name}\" not found",
    missing_key="KubeConfig secret '{secret}' does not contain a '{key}' key with data",
    no_default_key="KubeConfig secret '{secret}' does not contain a 'value' or 'value.yaml' key with data",
    invalid="failed to load KubeConfig from secret '{secret}': {error}")


@dataclass(frozen=True)
class Remote:
    kube: KubeClient
    kubeconfig: Path  # the same kubeconfig as a file, for Helm
    secret: str  # namespace/name of the Secret (or ConfigMap)


def secret_ref(obj: Obj) -> Obj | None:
    """``spec.kubeConfig.secretRef`` of ``obj`` (None: the object applies to the local cluster)."""
    ref = ((obj.get("spec") or {}).get("kubeConfig") or {}).get("secretRef")
    return ref if isinstance(ref, dict) else None


def validate(document: Any) -> None:
    """As fluxcd/pkg ValidateKubeConfig: every credential inline, no reference to a local file."""
    if not isinstance(document, dict):
        raise InputError("kubeconfig is empty or not a mapping")
    for item in document.get("clusters") or []:
        if (item.get("cluster") or {}).get("certificate-authority"):
            raise InputError(f"cluster '{item.get('name')}' references a certificate-authority file, only "
                             "certificate-authority-data is supported")
    for item in document.get("users") or []:
        user = item.get("user") or {}
        for field, what in (("tokenFile", "a tokenFile, only an inline token"),
                            ("client-certificate", "a client-certificate file, only client-certificate-data"),
                            ("client-key", "a client-key file, only client-key-data")):
            if user.get(field):
                raise InputError(f"user '{item.get('name')}' references {what} is supported")


def kubeconfig_bytes(secret: Obj | None, namespace: str, name: str, key: str = "",
                     messages: Messages = KUSTOMIZE) -> bytes:
    """The kubeconfig in ``secret`` under ``key`` (else ``value``, else ``value.yaml``), with Flux's errors."""
    where = {"secret": f"{namespace}/{name}", "name": name, "key": key}
    if secret is None:
        raise KubeConfigError(messages.not_found.format(**where), not_found=True)
    data = secret.get("data") or {}
    if key:
        if data.get(key) is None:
            raise KubeConfigError(messages.missing_key.format(**where))
        return base64.b64decode(data[key])
    for default in DEFAULT_KEYS:
        if data.get(default) is not None:
            return base64.b64decode(data[default])
    raise KubeConfigError(messages.no_default_key.format(**where))


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` (0600) through a temporary file: a Helm action reading it never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = path.with_name(f".{path.name}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(part, path)


class RemoteClients:
    """Clients for the remote clusters objects name in ``spec.kubeConfig``; thread-safe."""

    def __init__(self, directory: Path, messages: Messages = KUSTOMIZE) -> None:
        self.directory = directory
        self.messages = messages
        self._cache: dict[tuple[str, str, str], tuple[str, Remote]] = {}
        self._lock = threading.Lock()
        self._identities = workload_identity.Identities()

    def _remote_for(self, text: bytes, where: str) -> Remote:
        """A client and Helm's kubeconfig file for a kubeconfig the reconciler made itself (configMapRef)."""
        remote_kube = KubeClient(loads(text.decode(), where), user_agent="gitops-sandbox-reconciler")
        digest = hashlib.sha256(f"configmap/{where}".encode()).hexdigest()[:16]
        path = self.directory / f"{digest}.kubeconfig"
        _write_private(path, text)
        return Remote(kube=remote_kube, kubeconfig=path, secret=where)

    def resolve(self, kube: KubeClient, obj: Obj) -> Remote | None:
        """The remote cluster ``obj`` applies to, or None for the local one; KubeConfigError when unreadable."""
        ref = secret_ref(obj)
        if ref is None:
            cm_ref = workload_identity.config_map_ref(obj)
            if cm_ref is None:
                return None
            try:
                return self._identities.resolve(kube, obj, cm_ref, self._remote_for)
            except workload_identity.IdentityError as err:
                raise KubeConfigError(str(err), not_found=err.not_found, not_supported=err.not_supported) from err
        namespace, name, key = obj["metadata"]["namespace"], str(ref.get("name", "")), str(ref.get("key") or "")
        secret = kube.get_or_none("v1", "Secret", name, namespace)
        version = str((secret or {}).get("metadata", {}).get("resourceVersion", ""))
        with self._lock:
            cached = self._cache.get((namespace, name, key))
            if cached is not None and secret is not None and cached[0] == version:
                return cached[1]
        text = kubeconfig_bytes(secret, namespace, name, key, self.messages)
        try:
            validate(yaml.safe_load(text))
            connection = loads(text.decode(), f"secret '{namespace}/{name}'")
            remote_kube = KubeClient(connection, user_agent="gitops-sandbox-reconciler")
        except (InputError, yaml.YAMLError, UnicodeDecodeError, ValueError) as err:
            raise KubeConfigError(self.messages.invalid.format(secret=f"{namespace}/{name}", error=err)) from err
        digest = hashlib.sha256(f"{namespace}/{name}/{key}".encode()).hexdigest()[:16]
        path = self.directory / f"{digest}.kubeconfig"
        _write_private(path, text)
        remote = Remote(kube=remote_kube, kubeconfig=path, secret=f"{namespace}/{name}")
        with self._lock:
            self._cache[(namespace, name, key)] = (version, remote)
        return remote
