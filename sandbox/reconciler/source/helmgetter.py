"""How a HelmRepository is reached, as source-controller's getter.GetClientOpts builds it: basic auth from
``spec.secretRef`` (``username``/``password``), TLS from ``spec.certSecretRef`` (``ca.crt``, ``tls.crt`` +
``tls.key``; the deprecated TLS keys in ``spec.secretRef`` too), ``spec.passCredentials``, ``spec.timeout``; and
the HTTP GET Helm's getter does with them (credentials go to another host only with passCredentials). Secret
values never reach a message."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from sandbox.errors import InputError, NotFound, SandboxError

Obj = dict[str, Any]
MAX_CHART_SIZE = 10 * 1024 * 1024  # source-controller's default --helm-chart-max-size


class SecretError(InputError):
    """A Secret the repository names is missing or malformed (AuthenticationFailed)."""


class FetchError(SandboxError):
    """An HTTP GET failed; ``status`` is the HTTP status (0 when none came back)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HTTPOptions:
    repository_url: str
    timeout: float = 60.0
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    client_cert: tuple[str, str] | None = None
    pass_credentials: bool = False

    @property
    def has_basic_auth(self) -> bool:
        return self.username is not None


def _secret_data(kube: Any, namespace: str, name: str, what: str) -> dict[str, bytes]:
    try:
        secret = kube.get("v1", "Secret", name, namespace)
    except NotFound as err:
        raise SecretError(f"failed to get {what} '{namespace}/{name}': secrets \"{name}\" not found") from err
    return {str(key): base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


def basic_auth(data: dict[str, bytes], namespace: str, name: str) -> tuple[str, str] | None:
    """``username``/``password`` of a Secret (None when it has neither)."""
    if "username" not in data and "password" not in data:
        return None
    if "username" not in data or "password" not in data:
        present, missing = ("username", "password") if "username" in data else ("password", "username")
        raise SecretError(f"failed to detect authentication methods: secret '{namespace}/{name}': malformed basic "
                          f"auth - has '{present}' but missing '{missing}'")
    return data["username"].decode(), data["password"].decode()


@contextmanager
def http_options(kube: Any, repository: Obj, url: str, timeout: float) -> Iterator[HTTPOptions]:
    """The options of ``repository`` (a HelmRepository) for ``url``; TLS files live in a private temporary
    folder for the duration of the ``with`` block. Raises SecretError."""
    meta, spec = repository["metadata"], repository.get("spec") or {}
    namespace = str(meta.get("namespace", ""))
    tls: dict[str, bytes] = {}
    tls_secret = ""
    if (spec.get("certSecretRef") or {}).get("name"):
        tls_secret = str(spec["certSecretRef"]["name"])
        tls = _secret_data(kube, namespace, tls_secret, "TLS authentication secret")
        _check_tls(tls, namespace, tls_secret)
    auth: tuple[str, str] | None = None
    if (spec.get("secretRef") or {}).get("name"):
        name = str(spec["secretRef"]["name"])
        data = _secret_data(kube, namespace, name, "authentication secret")
        auth = basic_auth(data, namespace, name)
        if not tls and (data.get("ca.crt") or data.get("tls.crt")):
            tls = data  # deprecated: TLS keys in spec.secretRef
    with tempfile.TemporaryDirectory(prefix="helmrepo-tls-") as scratch:
        ca_file = client_cert = None
        for key in ("ca.crt", "tls.crt", "tls.key"):
            if tls.get(key):
                path = Path(scratch) / key
                path.write_bytes(tls[key])
                path.chmod(0o600)
        if tls.get("ca.crt"):
            ca_file = str(Path(scratch) / "ca.crt")
        if tls.get("tls.crt") and tls.get("tls.key"):
            client_cert = (str(Path(scratch) / "tls.crt"), str(Path(scratch) / "tls.key"))
        yield HTTPOptions(url, timeout, auth[0] if auth else None, auth[1] if auth else None, ca_file, client_cert,
                          bool(spec.get("passCredentials")))


def _check_tls(data: dict[str, bytes], namespace: str, name: str) -> None:
    if bool(data.get("tls.crt")) != bool(data.get("tls.key")):
        raise SecretError(f"failed to construct Helm client's TLS config: secret '{namespace}/{name}' must contain "
                          "both 'tls.crt' and 'tls.key', or neither")
    if not data.get("ca.crt") and not data.get("tls.crt"):
        raise SecretError(f"failed to construct Helm client's TLS config: secret '{namespace}/{name}' must "
                          "contain 'ca.crt', or 'tls.crt' and 'tls.key'")


def _same_host(left: str, right: str) -> bool:
    return urlsplit(left).netloc.rpartition("@")[2].lower() == urlsplit(right).netloc.rpartition("@")[2].lower()


def get(url: str, options: HTTPOptions, *, limit: int = MAX_CHART_SIZE) -> bytes:
    """GET ``url`` as Helm's HTTP getter does; FetchError worded as Helm's (``failed to fetch URL : 404 Not
    Found``)."""
    auth = None
    if options.has_basic_auth and (options.pass_credentials or _same_host(url, options.repository_url)):
        auth = (options.username or "", options.password or "")
    try:
        response = requests.get(url, auth=auth, timeout=options.timeout, verify=options.ca_file or True,
                                cert=options.client_cert, stream=True,
                                headers={"User-Agent": "Helm/4 (gitops-sandbox source-controller)"})
    except requests.exceptions.SSLError as err:
        raise FetchError(f"Get \"{url}\": tls: {_reason(err)}") from err
    except requests.RequestException as err:
        raise FetchError(f"Get \"{url}\": {_reason(err)}") from err
    with response:
        if response.status_code != 200:
            raise FetchError(f"failed to fetch {url} : {response.status_code} {response.reason}",
                             status=response.status_code)
        chunks = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise FetchError(f"{url} exceeds the maximum size of {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def _reason(err: Exception) -> str:
    """The innermost reason of a requests error, without the URL noise urllib3 wraps around it."""
    text = str(err)
    if isinstance(err, requests.exceptions.ConnectTimeout | requests.exceptions.ReadTimeout):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    if "Connection refused" in text:
        return "dial tcp: connect: connection refused"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "failed to verify certificate: x509: certificate signed by unknown authority"
    return text
