"""An ImageRepository's registry access from its Secrets, as image-reflector-controller's setAuthOptions builds it:
``spec.secretRef`` (type ``kubernetes.io/dockerconfigjson``, ``auths`` keyed by registry host, ``auth`` base64 or
``username``/``password``) and ``spec.certSecretRef`` (``ca.crt``, ``tls.crt`` + ``tls.key``). Errors carry
upstream's words and never a secret value."""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sandbox.errors import NotFound
from sandbox.oci import distribution
from sandbox.oci.distribution import Credentials
from sandbox.reconciler.image.reference import ImageName
from sandbox.reconciler.runtime.timeutil import parse_duration

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"


@dataclass(frozen=True)
class Access:
    """How to reach a registry: credentials (Basic, also answered to a Bearer token challenge), the PEM files of a
    certSecretRef (``ca.crt``, ``tls.crt``, ``tls.key``) and the per-request timeout."""

    credentials: Credentials | None = None
    tls: dict[str, bytes] = field(default_factory=dict, repr=False)
    timeout: float = distribution.DEFAULT_TIMEOUT


class AuthError(ValueError):
    """The Secrets cannot give access; the message follows ``failed to configure authentication options: ``."""


def _secret(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    try:
        return dict(kube.get("v1", "Secret", name, namespace))
    except NotFound as err:
        raise AuthError(f'secrets "{name}" not found') from err


def registry_host(server: str) -> str:
    """The host of a docker config ``auths`` key (``https://HOST/v1/``, ``HOST:PORT``…), as upstream's getURLHost."""
    if server in ("http://", "https://"):
        raise AuthError("Empty url")
    if not server.startswith(("http://", "https://")):
        server = f"https://{server}/"
    host = urlparse(server).netloc
    if not host:
        raise AuthError(f"Invalid registry auth key: {server}. Expected an HTTPS URL (e.g. "
                        "'https://index.docker.io/v2/' or 'https://index.docker.io'), or the same without the "
                        "'https://' (e.g., 'index.docker.io/v2/' or 'index.docker.io')")
    return host


def credentials_for(secret: dict[str, Any], image: ImageName) -> Credentials:
    """The credentials a dockerconfigjson Secret holds for ``image``'s registry."""
    meta = secret.get("metadata") or {}
    kind = str(secret.get("type") or "")
    if kind != DOCKER_CONFIG_JSON:
        raise AuthError(f'unknown secret type "{kind}"')
    raw = (secret.get("data") or {}).get(".dockerconfigjson") or ""
    try:
        config = json.loads(base64.b64decode(raw) or b"null")
    except (ValueError, binascii.Error) as err:
        # json's message quotes the offending text: say where, not what.
        raise AuthError(f"secret '{meta.get('namespace')}/{meta.get('name')}': '.dockerconfigjson' is not valid "
                        "JSON") from err
    auths = config.get("auths") if isinstance(config, dict) else None
    for server, entry in (auths or {}).items():
        if registry_host(str(server)) != image.registry or not isinstance(entry, dict):
            continue
        username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
        if entry.get("auth"):
            try:
                username, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
            except (ValueError, binascii.Error) as err:
                raise AuthError(f"secret '{meta.get('namespace')}/{meta.get('name')}': the 'auth' of "
                                f"'{server}' is not base64 of 'username:password'") from err
        return Credentials(username, password)
    raise AuthError(f'auth for "{image.registry}" not found in secret {meta.get("namespace")}/{meta.get("name")}')


def credentials_from(kube: Any, namespace: str, secret_name: str, image: ImageName) -> Credentials:
    return credentials_for(_secret(kube, namespace, secret_name), image)


def tls_data(kube: Any, namespace: str, secret_name: str) -> dict[str, bytes]:
    """The ``ca.crt``, ``tls.crt`` and ``tls.key`` of a certSecretRef (checked: a certificate needs its key)."""
    secret = _secret(kube, namespace, secret_name)
    data = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()
            if key in ("ca.crt", "tls.crt", "tls.key") and value}
    if bool(data.get("tls.crt")) != bool(data.get("tls.key")):
        raise AuthError(f"secret '{namespace}/{secret_name}' must contain both 'tls.crt' and 'tls.key', or neither")
    return data


@contextmanager
def tls_files(data: dict[str, bytes]) -> Iterator[dict[str, Any]]:
    """``ca_file``/``client_cert`` for the registry client, written 0600 to a private folder for one reconcile."""
    if not data:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="imagerepo-tls-") as scratch:
        options: dict[str, Any] = {}
        for key, value in data.items():
            path = Path(scratch) / key
            path.write_bytes(value)
            path.chmod(0o600)
        if data.get("ca.crt"):
            options["ca_file"] = str(Path(scratch) / "ca.crt")
        if data.get("tls.crt"):
            options["client_cert"] = (str(Path(scratch) / "tls.crt"), str(Path(scratch) / "tls.key"))
        yield options


def access_for(kube: Any, repository: dict[str, Any], image: ImageName) -> Access:
    """The access an ImageRepository's ``secretRef``, ``certSecretRef`` and ``timeout`` (default: its interval)
    give; AuthError when a Secret is missing or unusable."""
    meta, spec = repository["metadata"], repository.get("spec") or {}
    timeout = parse_duration(spec.get("timeout") or spec.get("interval") or "60s", field="spec.timeout")
    credentials, tls = None, {}
    secret = (spec.get("secretRef") or {}).get("name")
    if secret:
        credentials = credentials_from(kube, meta["namespace"], str(secret), image)
    cert_secret = (spec.get("certSecretRef") or {}).get("name")
    if cert_secret:
        tls = tls_data(kube, meta["namespace"], str(cert_secret))
    return Access(credentials, tls, timeout)
