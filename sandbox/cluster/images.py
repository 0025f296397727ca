"""Image references, and the node agent's question: can this image be pulled?

Images that name a sandbox registry are looked up there (an absent tag means ErrImagePull); images from anywhere
else count as pullable unless strict mode is on. A synthetic image pushed as a bad release (``sandbox image push
--crash``) carries the manifest annotation ``CRASH_ANNOTATION``: its containers start and crash at once, as
``probe.gitops-sandbox.io/crash: "true"`` makes a pod's.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGISTRY = "docker.io"
CRASH_ANNOTATION = "io.gitops-sandbox.image/crash"  # "true": the image's process exits at once
_MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def reference(self) -> str:
        return self.digest or self.tag


def parse_image(image: str) -> ImageRef:
    """Split ``[registry/]repository[:tag][@digest]``; the tag defaults to ``latest``."""
    rest, _, digest = image.partition("@")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DEFAULT_REGISTRY, rest
    name, colon, tag = path.rpartition(":")
    if not colon or "/" in tag:
        name, tag = path, ""
    if not tag and not digest:
        tag = "latest"
    return ImageRef(registry, name, tag, digest)


@dataclass(frozen=True)
class PullVerdict:
    pullable: bool
    message: str = ""
    crash: bool = False  # pulled, but marked as an image whose process exits at once


# (registry host as written in images, repository, tag-or-digest) -> exists?
Lookup = Callable[[str, str, str], bool]
# (registry host as written in images, repository, tag-or-digest) -> the manifest's annotations
Marks = Callable[[str, str, str], Mapping[str, str]]


class ImageChecker:
    """Decides whether an image can be pulled."""

    def __init__(self, registries: Mapping[str, str] | None = None, *, lookup: Lookup | None = None,
                 marks: Marks | None = None, strict: bool = False, credentials_file: Path | None = None) -> None:
        # registries: host as written in image names -> base URL the agent can reach (http://127.0.0.1:PORT)
        self.registries = dict(registries or {})
        # (host, repository, reference) -> the manifest's annotations, None when the registry has no such manifest.
        # Over HTTP one GET answers both; a given lookup (a test's) reads annotations only when marks are given too.
        self.manifest: Callable[[str, str, str], Mapping[str, str] | None] = self._http_manifest
        if lookup is not None:
            given, read_marks = lookup, marks or (lambda *_: {})
            self.manifest = lambda *ref: read_marks(*ref) if given(*ref) else None
        self.strict = strict
        # the registry's htpasswd mode: {"username", "password"}, read when asked (the file is 0600)
        self.credentials_file = credentials_file

    def _authorization(self) -> str:
        if self.credentials_file is None:
            return ""
        data = json.loads(self.credentials_file.read_text())
        token = base64.b64encode(f"{data['username']}:{data['password']}".encode()).decode()
        return f"Basic {token}"

    def _http_manifest(self, host: str, repository: str, reference: str) -> Mapping[str, str] | None:
        base = self.registries[host].rstrip("/")
        request = urllib.request.Request(f"{base}/v2/{repository}/manifests/{reference}")
        authorization = self._authorization()
        if authorization:
            request.add_header("Authorization", authorization)
        request.add_header("Accept", _MANIFEST_TYPES)
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        try:
            manifest = json.loads(body or b"{}")
        except ValueError:
            return {}  # the annotations are a refinement: a manifest that exists is pullable
        annotations = manifest.get("annotations") if isinstance(manifest, dict) else None
        return {str(k): str(v) for k, v in (annotations or {}).items()}

    def check(self, image: str) -> PullVerdict:
        ref = parse_image(image)
        if ref.registry in self.registries:
            try:
                annotations = self.manifest(ref.registry, ref.repository, ref.reference)
            except (urllib.error.URLError, OSError) as err:
                return PullVerdict(False, f"failed to pull image {image!r}: registry {ref.registry} unreachable: "
                                          f"{getattr(err, 'reason', err)}")
            if annotations is not None:
                return PullVerdict(True, crash=annotations.get(CRASH_ANNOTATION) == "true")
            return PullVerdict(False, f"failed to pull image {image!r}: {ref.registry}/{ref.repository}:"
                                      f"{ref.reference} not found in the sandbox registry")
        if self.strict:
            return PullVerdict(False, f"failed to pull image {image!r}: strict mode only allows images from the "
                                      f"sandbox registry ({', '.join(sorted(self.registries)) or 'none configured'})")
        return PullVerdict(True)
