"""OCI operations against a registry on this machine: push a minimal valid image (config + one layer) without
Docker, list tags, resolve digests, fetch manifests, delete tags, and push/pull Helm charts as OCI artifacts.

Images go through oras (the ORAS project's Python client); charts through the Helm SDK, exactly as Helm and
Flux push and pull them. Both talk plain HTTP: the sandbox registry listens on loopback only.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import io
import json
import logging
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from sandbox.cluster.images import CRASH_ANNOTATION
from sandbox.errors import InputError, SandboxError
from sandbox.oci.distribution import Blob, Credentials, error_text
from sandbox.registry.base import CHART_NAMESPACE
from sandbox.registry.reference import check_repository

# oras reports failures through its logger *and* its exceptions; keep the logger from printing on its own.
logging.getLogger("oras").addHandler(logging.NullHandler())

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join([
    MANIFEST_TYPE,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
SYNTHETIC_LABEL = "io.gitops-sandbox.synthetic"
_TIMEOUT = 30.0


class RegistryUnavailable(SandboxError):
    """The registry does not answer at its address."""


class ArtifactNotFound(InputError):
    """The repository, tag or chart asked for is not in the registry."""


class RegistryRequestError(SandboxError):
    """The registry refused a request; the message carries its error codes."""


@dataclass(frozen=True)
class PushedImage:
    reference: str  # host/repository:tag
    repository: str
    tag: str
    digest: str  # of the manifest
    size: int  # of the manifest and its blobs, in bytes


@dataclass(frozen=True)
class PushedChart:
    reference: str  # oci://host/charts/name:version
    name: str
    version: str
    digest: str




@dataclass(frozen=True)
class Image:
    config: Blob
    layers: tuple[Blob, ...]
    annotations: tuple[tuple[str, str], ...] = ()  # the manifest's

    def manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                                    "config": self.config.descriptor(),
                                    "layers": [layer.descriptor() for layer in self.layers]}
        if self.annotations:
            manifest["annotations"] = dict(self.annotations)
        return manifest


# A static busybox for synthetic images (Debian's busybox-static), so their containers really run on a node that runs
# images (kind), as the small web app the demo chart expects (nginx's port and document root): they serve
# /usr/share/nginx/html on port 80 until stopped, or exit at once when the image is marked to crash.
BUSYBOX = Path("/bin/busybox")
DOCUMENT_ROOT = "usr/share/nginx/html"
RUN_FOREVER = ["/bin/sh", "-c", f"busybox httpd -p 80 -h /{DOCUMENT_ROOT}; trap 'exit 0' TERM INT; "
               "while :; do sleep 1; done"]
CRASH_AT_ONCE = ["/bin/sh", "-c", "echo 'this release crashes at start (sandbox image push --crash)' >&2; exit 1"]


def _layer(files: dict[str, tuple[bytes, int]], symlinks: dict[str, str] | None = None) -> tuple[Blob, bytes]:
    """A reproducible gzip layer of ``files`` (path → (content, mode)) and ``symlinks`` (path → target) with their
    directories; (blob, its tar)."""
    links = symlinks or {}
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        directories = {str(parent) for name in [*files, *links] for parent in Path(name).parents} - {"."}
        for directory in sorted(directories):
            entry = tarfile.TarInfo(directory)
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, 0
            archive.addfile(entry)
        for name, (content, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, 0
            archive.addfile(info, io.BytesIO(content))
        for name, target in sorted(links.items()):
            link = tarfile.TarInfo(name)
            link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, target, 0o777, 0
            archive.addfile(link)
    uncompressed = tar_buffer.getvalue()
    return Blob(LAYER_TYPE, gzip.compress(uncompressed, mtime=0)), uncompressed


@functools.lru_cache(maxsize=1)
def _runtime_layer() -> tuple[Blob, bytes] | None:
    """The layer with ``/bin/busybox`` and ``/bin/sh`` (made once per process), or None where busybox-static is not
    installed."""
    if not BUSYBOX.is_file():
        return None
    return _layer({"bin/busybox": (BUSYBOX.read_bytes(), 0o755)}, {"bin/sh": "busybox"})


def synthetic_image(repository: str, tag: str, *, crash: bool = False) -> Image:
    """A minimal, valid, reproducible image: a layer holding ``/sandbox/image.txt`` naming itself, under a layer
    with a static busybox (where busybox-static is installed) so that a real node runs it: it serves
    ``/usr/share/nginx/html`` (its own ``index.html`` naming it) on port 80 until stopped, or, ``crash`` (a bad
    release), exits at once (CrashLoopBackOff on kind as on the embedded cluster,
    whose node agent reads the manifest's annotation).

    The same ``repository:tag`` always gives the same digest (pushing again changes nothing); different tags give
    different digests, as real builds would.
    """
    name = f"{repository}:{tag}\n".encode()
    own, own_tar = _layer({"sandbox/image.txt": (name, 0o644), f"{DOCUMENT_ROOT}/index.html": (name, 0o644)})
    runtime = _runtime_layer()
    layers = ((runtime[0], own), (runtime[1], own_tar)) if runtime else ((own,), (own_tar,))
    command = (CRASH_AT_ONCE if crash else RUN_FOREVER) if runtime else ["/bin/true"]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Labels": {SYNTHETIC_LABEL: "true"}, "Cmd": command},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest() for tar in layers[1]]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "sandbox image push (synthetic)"}
                    for _ in layers[0]],
    }
    return Image(Blob(CONFIG_TYPE, json.dumps(config, sort_keys=True, separators=(",", ":")).encode()), layers[0],
                 ((CRASH_ANNOTATION, "true"),) if crash else ())


# --- transport ------------------------------------------------------------------------------------------------------

def ping(host: str, timeout: float = 2.0, *, credentials: Credentials | None = None) -> None:
    """Fail fast, with the address, when the registry is down (oras would retry for minutes)."""
    request = urllib.request.Request(f"http://{host}/v2/")
    if credentials is not None:
        request.add_header("Authorization", basic_authorization(credentials))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status == 200:
                return
            raise RegistryUnavailable(f"registry at {host} answered /v2/ with HTTP {response.status}")
    except urllib.error.HTTPError as err:
        if err.code == 401:
            raise RegistryRequestError(
                f"registry at {host} refused the {'credentials' if credentials else 'request'} (HTTP 401): "
                + ("they are not the sandbox's" if credentials else
                   "it runs in authenticated mode (`sandbox up --registry-auth`); use the sandbox's credentials"))\
                from err
        raise RegistryUnavailable(f"registry at {host} answered /v2/ with HTTP {err.code}; is it the sandbox "
                                  "registry?") from err
    except (urllib.error.URLError, OSError) as err:
        raise RegistryUnavailable(f"registry at {host} is not reachable ({getattr(err, 'reason', err)}); is the "
                                  "sandbox up? `sandbox status` shows its registry") from err


def basic_authorization(credentials: Credentials) -> str:
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    return f"Basic {token}"


class _TimeoutSession(requests.Session):
    """requests has no session-wide timeout; oras passes none, so a stuck registry would hang us forever."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", _TIMEOUT)
        return super().request(*args, **kwargs)


@contextmanager
def _oras(host: str, credentials: Credentials | None = None) -> Iterator[Any]:
    import oras.provider

    ping(host, credentials=credentials)
    client = oras.provider.Registry(hostname=host, insecure=True,
                                    auth_backend="basic" if credentials is not None else "token")
    if credentials is not None:  # the registry's htpasswd mode answers Basic challenges
        client.auth.set_basic_auth(credentials.username, credentials.password)
    session = _TimeoutSession()
    session.cookies.set_policy(client.session.cookies.get_policy())
    client.session = session
    client.auth.session = session
    try:
        yield client
    except requests.RequestException as err:
        raise RegistryUnavailable(f"registry at {host}: {err}") from err
    except ValueError as err:  # oras's way of saying the registry answered with an error
        raise RegistryRequestError(f"registry at {host}: {err}") from err
    finally:
        session.close()




def _check(response: requests.Response, what: str, *, not_found: str = "") -> requests.Response:
    if response.status_code in (200, 201, 202):
        return response
    if response.status_code == 404 and not_found:
        raise ArtifactNotFound(not_found)
    raise RegistryRequestError(f"{what} failed: HTTP {response.status_code} ({error_text(response)})")


def _manifest_url(host: str, repository: str, reference: str) -> str:
    return f"http://{host}/v2/{repository}/manifests/{reference}"


# --- images ---------------------------------------------------------------------------------------------------------

def push_image(host: str, repository: str, tag: str, image: Image, *,
               credentials: Credentials | None = None) -> PushedImage:
    """Upload ``image``'s blobs, then its manifest under ``tag`` (the manifest last: no tag points at a half image)."""
    check_repository(repository)
    with _oras(host, credentials) as client, tempfile.TemporaryDirectory(prefix="sandbox-image-") as tmp:
        container = client.get_container(f"{host}/{repository}:{tag}")
        for index, blob in enumerate((*image.layers, image.config)):
            path = Path(tmp) / f"blob-{index}"
            path.write_bytes(blob.data)
            _check(client.upload_blob(str(path), container, blob.descriptor()), f"uploading blob {blob.digest} to "
                   f"{host}/{repository}")
        response = _check(client.upload_manifest(image.manifest(), container),
                          f"pushing manifest {host}/{repository}:{tag}")
        digest = response.headers.get("Docker-Content-Digest", "")
    size = sum(len(b.data) for b in (*image.layers, image.config)) + len(json.dumps(image.manifest()))
    return PushedImage(f"{host}/{repository}:{tag}", repository, tag, digest, size)


def push_synthetic_image(host: str, repository: str, tag: str, *, crash: bool = False,
                         credentials: Credentials | None = None) -> PushedImage:
    return push_image(host, repository, tag, synthetic_image(repository, tag, crash=crash), credentials=credentials)


def list_tags(host: str, repository: str, *, credentials: Credentials | None = None) -> list[str]:
    """The tags of ``repository``, sorted; ArtifactNotFound when the registry has never seen it."""
    check_repository(repository)
    with _oras(host, credentials) as client:
        response = client.do_request(f"http://{host}/v2/{repository}/tags/list", "GET")
        _check(response, f"listing tags of {host}/{repository}",
               not_found=f"repository {repository!r} is not in the sandbox registry at {host}; push an image "
                         f"first (`sandbox image push {repository}:TAG`)")
        # oras follows the Link header for registries that paginate; distribution returns everything at once here.
        tags = client.get_tags(f"{host}/{repository}")
    return sorted(tags)


def tags_with_digests(host: str, repository: str, *, credentials: Credentials | None = None) -> list[tuple[str, str]]:
    """Each tag of ``repository`` (sorted) with the manifest digest it points at, over one connection."""
    tags = list_tags(host, repository, credentials=credentials)
    with _oras(host, credentials) as client:
        found = []
        for tag in tags:
            response = client.do_request(_manifest_url(host, repository, tag), "HEAD", headers={"Accept": ACCEPT})
            if response.status_code == 404:
                continue  # deleted since the listing
            _check(response, f"resolving {host}/{repository}:{tag}")
            found.append((tag, str(response.headers["Docker-Content-Digest"])))
    return found


def get_manifest(host: str, repository: str, reference: str, *,
                 credentials: Credentials | None = None) -> dict[str, Any]:
    """The manifest of ``repository:reference`` (tag or digest) as stored."""
    check_repository(repository)
    with _oras(host, credentials) as client:
        response = client.do_request(_manifest_url(host, repository, reference), "GET", headers={"Accept": ACCEPT})
        _check(response, f"fetching manifest {host}/{repository}:{reference}",
               not_found=f"{host}/{repository}:{reference} is not in the sandbox registry")
        manifest: dict[str, Any] = response.json()
        return manifest


def resolve_digest(host: str, repository: str, reference: str, *, credentials: Credentials | None = None) -> str:
    """The manifest digest ``repository:reference`` points at (``sha256:…``)."""
    check_repository(repository)
    with _oras(host, credentials) as client:
        response = client.do_request(_manifest_url(host, repository, reference), "HEAD", headers={"Accept": ACCEPT})
        _check(response, f"resolving {host}/{repository}:{reference}",
               not_found=f"{host}/{repository}:{reference} is not in the sandbox registry")
        return str(response.headers["Docker-Content-Digest"])


def delete_tag(host: str, repository: str, tag: str, *, credentials: Credentials | None = None) -> str:
    """Remove ``tag`` and return the digest it pointed at.

    Distribution 2.8 deletes manifests, not tags: deleting the manifest drops every tag on it. The other tags
    on the same manifest are put back (same bytes, same digest), so only ``tag`` disappears.
    """
    check_repository(repository)
    with _oras(host, credentials) as client:
        response = client.do_request(_manifest_url(host, repository, tag), "GET", headers={"Accept": ACCEPT})
        _check(response, f"fetching {host}/{repository}:{tag}",
               not_found=f"{host}/{repository}:{tag} is not in the sandbox registry")
        raw, media_type = response.content, response.headers.get("Content-Type", MANIFEST_TYPE)
        digest = str(response.headers["Docker-Content-Digest"])
        siblings = []
        for other in client.get_tags(f"{host}/{repository}"):
            if other == tag:
                continue
            head = client.do_request(_manifest_url(host, repository, other), "HEAD", headers={"Accept": ACCEPT})
            if head.status_code == 200 and head.headers.get("Docker-Content-Digest") == digest:
                siblings.append(other)
        _check(client.do_request(_manifest_url(host, repository, digest), "DELETE"),
               f"deleting {host}/{repository}@{digest} (deletes must be enabled in the registry config)")
        for other in siblings:
            _check(client.do_request(_manifest_url(host, repository, other), "PUT", data=raw,
                                     headers={"Content-Type": media_type}),
                   f"restoring tag {other} of {host}/{repository}")
    return digest


# --- charts ---------------------------------------------------------------------------------------------------------

def chart_repository(host: str) -> str:
    return f"oci://{host}/{CHART_NAMESPACE}"


@contextmanager
def _helm_client(host: str, credentials: Credentials | None) -> Iterator[Any]:
    """The Helm SDK's registry client, logged in (credentials kept in a private temporary file) when the registry
    runs in authenticated mode."""
    import helm_python as helm

    with tempfile.TemporaryDirectory(prefix="sandbox-helm-registry-") as scratch:
        client = helm.RegistryClient(plain_http=True, credentials_file=Path(scratch) / "config.json")
        try:
            if credentials is not None:
                client.login(host, credentials.username, credentials.password, plain_http=True)
            yield client
        finally:
            client.close()


def push_chart(host: str, archive: Path, *, credentials: Credentials | None = None) -> PushedChart:
    """Push a packaged chart (``NAME-VERSION.tgz``) to ``oci://host/charts/NAME:VERSION`` with the Helm SDK."""
    import helm_python as helm

    ping(host, credentials=credentials)
    try:
        with helm.Chart.load(archive) as chart:
            name, version = str(chart.name), str(chart.version)
        with _helm_client(host, credentials) as client:
            helm.push(archive, chart_repository(host), client=client, plain_http=True)
            digest = str(client.resolve(f"{chart_repository(host)}/{name}:{version}")["digest"])
    except helm.HelmError as err:
        raise RegistryRequestError(f"pushing chart {archive.name} to {chart_repository(host)} failed: {err}") from err
    return PushedChart(f"{chart_repository(host)}/{name}:{version}", name, version, digest)


def pull_chart(host: str, name: str, version: str, destination: Path, *,
               credentials: Credentials | None = None) -> Path:
    """Pull ``oci://host/charts/NAME`` at ``version`` into ``destination``; returns the ``.tgz`` path."""
    import helm_python as helm

    ping(host, credentials=credentials)
    destination.mkdir(parents=True, exist_ok=True)
    reference = f"{chart_repository(host)}/{name}"
    try:
        with _helm_client(host, credentials) as client:
            helm.pull(reference, client=client, version=version, destination=destination, plain_http=True)
    except helm.HelmError as err:
        raise ArtifactNotFound(f"could not pull chart {reference}:{version}: {err}") from err
    path = destination / f"{name}-{version}.tgz"
    if not path.exists():
        raise RegistryRequestError(f"pulling {reference}:{version} wrote no {path.name} into {destination}")
    return path


def chart_versions(host: str, name: str, *, credentials: Credentials | None = None) -> list[str]:
    """Versions of chart ``name`` in the registry, newest first (semver order, as Helm sorts them)."""
    import helm_python as helm

    ping(host, credentials=credentials)
    try:
        with _helm_client(host, credentials) as client:
            return [str(tag) for tag in client.tags(f"{chart_repository(host)}/{name}")]
    except helm.HelmError as err:
        raise ArtifactNotFound(f"chart {name!r} is not in {chart_repository(host)}: {err}") from err
