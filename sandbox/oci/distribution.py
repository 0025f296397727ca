"""A small client of the OCI distribution API (tags, manifests, blobs; push and pull) over plain HTTP or HTTPS,
with basic credentials answered either directly or through the registry's bearer-token challenge."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from sandbox.errors import SandboxError

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = ", ".join([MANIFEST_TYPE, INDEX_TYPE, DOCKER_MANIFEST_TYPE,
                    "application/vnd.docker.distribution.manifest.list.v2+json"])
DEFAULT_TIMEOUT = 60.0


class OCIError(SandboxError):
    """A registry operation failed; the message names the reference and the registry's answer."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(OCIError):
    """HTTP 401/403: no credentials, or the wrong ones."""


class NotFoundInRegistry(OCIError):
    """The repository, tag, manifest or blob does not exist (HTTP 404)."""


class Unreachable(OCIError):
    """Nothing answers at the registry's address."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """One blob to push: its media type and bytes."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Manifest:
    raw: bytes
    media_type: str
    digest: str

    @property
    def document(self) -> dict[str, Any]:
        parsed = json.loads(self.raw)
        if not isinstance(parsed, dict):
            raise ValueError("the manifest is not a JSON object")
        return parsed


def error_text(response: requests.Response) -> str:
    """What a registry says went wrong: its ``errors`` list (code: message), else the body or the reason."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return str(response.reason)
    return "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryClient:
    """The registry at ``host`` (``HOST[:PORT]``); ``insecure`` speaks plain HTTP (a registry on loopback)."""

    def __init__(self, host: str, *, insecure: bool = False, credentials: Credentials | None = None,
                 timeout: float = DEFAULT_TIMEOUT, ca_file: str | None = None,
                 client_cert: tuple[str, str] | None = None) -> None:
        """``ca_file``: trust these CAs (PEM) for HTTPS instead of the system's; ``client_cert``: (certificate,
        key) PEM files to present."""
        self.host = host
        self.scheme = "http" if insecure else "https"
        self.credentials = credentials
        self.timeout = timeout
        self._session = requests.Session()
        # Per request, not on the session: requests lets REQUESTS_CA_BUNDLE override a session's verify.
        self._verify: bool | str = ca_file or True
        self._cert = client_cert
        self._tokens: dict[str, str] = {}  # scope -> bearer token

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{path}"

    def _request(self, method: str, path: str, what: str, *, scope: str, headers: Mapping[str, str] | None = None,
                 data: bytes | None = None, ok: tuple[int, ...] = (200,)) -> requests.Response:
        request_headers = dict(headers or {})
        token = self._tokens.get(scope)
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        elif self.credentials is not None:
            request_headers["Authorization"] = _basic(self.credentials)
        response = self._send(method, path, what, request_headers, data)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            if challenge.lower().startswith("bearer ") and self._authorize(challenge, scope, what):
                request_headers["Authorization"] = f"Bearer {self._tokens[scope]}"
                response = self._send(method, path, what, request_headers, data)
        if response.status_code in ok:
            return response
        detail = error_text(response)
        if response.status_code in (401, 403):
            hint = "" if self.credentials else " (no credentials were given)"
            raise Unauthorized(f"{what}: HTTP {response.status_code} {detail}{hint}", status=response.status_code)
        if response.status_code == 404:
            raise NotFoundInRegistry(f"{what}: HTTP 404 {detail}", status=404)
        raise OCIError(f"{what}: HTTP {response.status_code} {detail}", status=response.status_code)

    def _send(self, method: str, path: str, what: str, headers: dict[str, str],
              data: bytes | None) -> requests.Response:
        url = path if path.startswith(("http://", "https://")) else self._url(path)
        try:
            return self._session.request(method, url, headers=headers, data=data, timeout=self.timeout,
                                         allow_redirects=True, verify=self._verify, cert=self._cert)
        except requests.exceptions.SSLError as err:
            raise OCIError(f"{what}: TLS with {self.host} failed: {err}") from err
        except requests.ConnectionError as err:
            raise Unreachable(f"{what}: the registry at {self.host} is not reachable over {self.scheme} "
                              f"({type(err).__name__})") from err
        except requests.RequestException as err:
            raise OCIError(f"{what}: {err}") from err

    def _authorize(self, challenge: str, scope: str, what: str) -> bool:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.get("realm")
        if not realm:
            return False
        query = {"service": params.get("service", ""), "scope": scope}
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        try:
            response = self._session.get(realm, params=query, auth=auth, timeout=self.timeout, verify=self._verify,
                                         cert=self._cert)
        except requests.RequestException as err:
            raise OCIError(f"{what}: fetching a token from {realm} failed: {err}") from err
        if response.status_code != 200:
            raise Unauthorized(f"{what}: the token service at {realm} answered HTTP {response.status_code}",
                               status=response.status_code)
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            return False
        self._tokens[scope] = str(token)
        return True

    # --- reading ------------------------------------------------------------------------------------------------

    def ping(self) -> int:
        """``GET /v2/``: the HTTP status the registry answers (401 included); Unreachable or OCIError (TLS) when
        nothing speaks the client's scheme there."""
        return self._send("GET", "", f"checking {self.scheme}://{self.host}/v2/", {}, None).status_code

    def tags(self, repository: str, *, page_size: int | None = None) -> list[str]:
        """Every tag of ``repository`` (following the registry's pagination; ``page_size`` asks for pages of at most
        that many tags with ``?n=``)."""
        found: list[str] = []
        path = f"{repository}/tags/list" + (f"?n={page_size}" if page_size else "")
        while path:
            url = path if path.startswith("http") else self._url(path)
            response = self._request("GET", path, f"GET {url}" if page_size else
                                     f"listing tags of {self.host}/{repository}", scope=_pull(repository))
            found.extend(str(tag) for tag in (response.json().get("tags") or []))
            link = response.headers.get("Link", "")
            match = re.match(r"<([^>]+)>", link)
            path = ""
            if match:
                target = match.group(1)
                path = target if target.startswith("http") else f"{self.scheme}://{self.host}{target}"
        return found

    def resolve(self, repository: str, reference: str) -> str:
        """The manifest digest ``repository:reference`` points at."""
        what = f"resolving {self.host}/{repository}:{reference}"
        try:
            response = self._request("HEAD", f"{repository}/manifests/{reference}", what, scope=_pull(repository),
                                     headers={"Accept": ACCEPT})
        except Unreachable:
            raise
        except OCIError:
            response = None  # a HEAD answer has no body to explain itself: GET says why (as go-containerregistry)
        digest = response.headers.get("Docker-Content-Digest") if response is not None else None
        if digest:
            return digest
        return self.manifest(repository, reference, what=what).digest

    def manifest(self, repository: str, reference: str, *, what: str = "") -> Manifest:
        separator = "@" if reference.startswith("sha256:") else ":"
        what = what or f"fetching manifest {self.host}/{repository}{separator}{reference}"
        response = self._request("GET", f"{repository}/manifests/{reference}", what, scope=_pull(repository),
                                 headers={"Accept": ACCEPT})
        raw = response.content
        digest = sha256_digest(raw)
        if reference.startswith("sha256:") and digest != reference:
            raise OCIError(f"{what}: the registry sent content with digest {digest}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(raw, media_type, digest)

    def blob(self, repository: str, digest: str) -> bytes:
        """The blob ``digest``, checked against its digest."""
        what = f"fetching blob {digest} of {self.host}/{repository}"
        data = self._request("GET", f"{repository}/blobs/{digest}", what, scope=_pull(repository)).content
        if sha256_digest(data) != digest:
            raise OCIError(f"{what}: the content's digest is {sha256_digest(data)}")
        return data

    # --- writing ------------------------------------------------------------------------------------------------

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload ``data`` (skipped when the registry has it already); returns its digest."""
        digest = sha256_digest(data)
        scope = _push(repository)
        what = f"uploading blob {digest} to {self.host}/{repository}"
        head = self._request("HEAD", f"{repository}/blobs/{digest}", what, scope=scope, ok=(200, 404))
        if head.status_code == 200:
            return digest
        started = self._request("POST", f"{repository}/blobs/uploads/", what, scope=scope, ok=(202,))
        location = started.headers.get("Location", "")
        if not location:
            raise OCIError(f"{what}: the registry gave no upload location")
        if not location.startswith("http"):
            location = f"{self.scheme}://{self.host}{location}"
        separator = "&" if "?" in location else "?"
        self._request("PUT", f"{location}{separator}digest={digest}", what, scope=scope, data=data,
                      headers={"Content-Type": "application/octet-stream"}, ok=(201,))
        return digest

    def push_manifest(self, repository: str, reference: str, raw: bytes, media_type: str = MANIFEST_TYPE) -> str:
        """Put the manifest ``raw`` as ``reference`` (a tag); returns its digest."""
        what = f"pushing manifest {self.host}/{repository}:{reference}"
        response = self._request("PUT", f"{repository}/manifests/{reference}", what, scope=_push(repository),
                                 data=raw, headers={"Content-Type": media_type}, ok=(201,))
        return response.headers.get("Docker-Content-Digest") or sha256_digest(raw)


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _basic(credentials: Credentials) -> str:
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    return f"Basic {token}"


def split_url(url: str) -> tuple[str, str]:
    """``oci://HOST[:PORT]/REPOSITORY`` → (host, repository); ValueError when it is not of that form or carries a
    tag (as source-controller's parseRepository)."""
    if not url.startswith("oci://"):
        raise ValueError("URL must be in format 'oci://<domain>/<org>/<repo>'")
    rest = url[len("oci://"):]
    host, slash, repository = rest.partition("/")
    if not slash or not host or not repository:
        raise ValueError("URL must be in format 'oci://<domain>/<org>/<repo>'")
    if ":" in repository:
        raise ValueError(f"URL must not contain a tag; remove ':{repository.split(':', 1)[1]}'")
    if "@" in repository:
        raise ValueError("URL must not contain a digest")
    if repository != repository.lower() or not re.fullmatch(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
                                                            r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*",
                                                            repository):
        raise ValueError(f"repository '{repository}' must be lowercase letters, digits and separators")
    return host, repository
