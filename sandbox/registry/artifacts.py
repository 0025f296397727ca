"""Registry operations addressed by sandbox name, the way the CLI and tests use them: references are checked
against that sandbox's registry, and results are plain dicts ready for output."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sandbox.errors import InputError
from sandbox.oci import fluxartifact
from sandbox.oci.distribution import MANIFEST_TYPE, NotFoundInRegistry, OCIError, RegistryClient
from sandbox.registry import auth, oci
from sandbox.registry.base import RegistryEndpoint, endpoint_of
from sandbox.registry.reference import ImageReference, in_registry


def push_image(name: str, reference: str, *, crash: bool = False) -> dict[str, Any]:
    """Push a synthetic image as ``reference`` (``REPO[:TAG]``, optionally with the registry's host); ``crash``
    marks it as a bad release whose containers crash at once."""
    endpoint = endpoint_of(name)
    ref = in_registry(reference, endpoint.hosts, want_tag=True)
    started = time.monotonic()
    pushed = oci.push_synthetic_image(endpoint.host, ref.repository, ref.tag, crash=crash,
                                      credentials=auth.credentials_of(name))
    return {"reference": pushed.reference, "repository": pushed.repository, "tag": pushed.tag,
            "digest": pushed.digest, "size": pushed.size, "seconds": round(time.monotonic() - started, 3),
            "in_cluster": f"{endpoint.cluster_host}/{pushed.repository}:{pushed.tag}"}


def image_tags(name: str, repository: str) -> dict[str, Any]:
    """The tags of ``repository`` in sandbox ``name``'s registry, each with the digest it points at."""
    endpoint = endpoint_of(name)
    ref = in_registry(repository, endpoint.hosts, want_tag=False)
    return {
        "repository": f"{endpoint.host}/{ref.repository}",
        "tags": [{"tag": tag, "digest": digest, "reference": f"{endpoint.host}/{ref.repository}:{tag}"}
                 for tag, digest in oci.tags_with_digests(endpoint.host, ref.repository,
                                                          credentials=auth.credentials_of(name))],
    }


# --- Flux OCI artifacts (`sandbox push|tag artifact`, `sandbox list artifacts`) --------------------------------------

def _artifact_url(endpoint: RegistryEndpoint, url: str, *, want_tag: bool) -> ImageReference:
    if not url.startswith("oci://"):
        raise InputError(f"{url!r} is not an artifact URL: write oci://{endpoint.host}/REPOSITORY"
                         f"{':TAG' if want_tag else ''}")
    return in_registry(url[len("oci://"):], endpoint.hosts, want_tag=want_tag)


def push_flux_artifact(name: str, url: str, path: Path, *, source: str, revision: str,
                       annotations: dict[str, str] | None = None, ignore_paths: list[str] | None = None,
                       created: str | None = None) -> dict[str, Any]:
    """Push ``path`` as a Flux OCI artifact to ``url`` (``oci://HOST/REPO[:TAG]``) in sandbox ``name``'s registry,
    exactly as ``flux push artifact`` builds it; returns flux's ``-o json`` fields (url, repository, tag, digest)."""
    endpoint = endpoint_of(name)
    ref = _artifact_url(endpoint, url, want_tag=True)
    if not source:
        raise InputError("--source is required (the address the content came from, e.g. a git URL)")
    if not revision:
        raise InputError("--revision is required (e.g. main@sha1:<commit>)")
    if not path.exists():
        raise InputError(f"invalid path '{path}', must point to an existing directory or file")
    artifact = fluxartifact.build(path, source_url=source, revision=revision, created=created,
                                  annotations=annotations,
                                  ignore=fluxartifact.DEFAULT_IGNORE if ignore_paths is None else ignore_paths)
    oci.ping(endpoint.host, credentials=auth.credentials_of(name))
    with RegistryClient(endpoint.host, insecure=True, credentials=auth.credentials_of(name)) as client:
        try:
            digest = fluxartifact.push(client, ref.repository, ref.tag, artifact)
        except OCIError as err:
            raise oci.RegistryRequestError(f"pushing artifact failed: {err}") from err
    return {"url": f"oci://{endpoint.host}/{ref.repository}@{digest}", "repository": f"{endpoint.host}/"
            f"{ref.repository}", "tag": ref.tag, "digest": digest}


def tag_flux_artifact(name: str, url: str, tags: list[str]) -> dict[str, Any]:
    """Point each of ``tags`` at the manifest ``url`` (``oci://HOST/REPO:TAG``) names, as ``flux tag artifact``."""
    endpoint = endpoint_of(name)
    ref = _artifact_url(endpoint, url, want_tag=True)
    if not tags:
        raise InputError("give at least one --tag")
    for tag in tags:
        in_registry(f"{ref.repository}:{tag}", endpoint.hosts, want_tag=True)
    oci.ping(endpoint.host, credentials=auth.credentials_of(name))
    with RegistryClient(endpoint.host, insecure=True, credentials=auth.credentials_of(name)) as client:
        try:
            manifest = client.manifest(ref.repository, ref.tag)
            for tag in tags:
                client.push_manifest(ref.repository, tag, manifest.raw, manifest.media_type or MANIFEST_TYPE)
        except NotFoundInRegistry as err:
            raise oci.ArtifactNotFound(f"{url} is not in the sandbox registry: {err}") from err
        except OCIError as err:
            raise oci.RegistryRequestError(f"tagging artifact failed: {err}") from err
    return {"url": f"oci://{endpoint.host}/{ref.repository}:{ref.tag}", "digest": manifest.digest,
            "tags": [f"oci://{endpoint.host}/{ref.repository}:{tag}" for tag in tags]}


def list_flux_artifacts(name: str, url: str) -> dict[str, Any]:
    """The tags of ``url`` (``oci://HOST/REPO``) with their digest and origin (source, revision, created), as
    ``flux list artifacts``."""
    endpoint = endpoint_of(name)
    ref = _artifact_url(endpoint, url, want_tag=False)
    oci.ping(endpoint.host, credentials=auth.credentials_of(name))
    found = []
    with RegistryClient(endpoint.host, insecure=True, credentials=auth.credentials_of(name)) as client:
        try:
            tags = sorted(client.tags(ref.repository))
        except NotFoundInRegistry as err:
            raise oci.ArtifactNotFound(f"repository {ref.repository!r} is not in the sandbox registry at "
                                       f"{endpoint.host}; push one first (`sandbox push artifact`)") from err
        for tag in tags:
            try:
                manifest = client.manifest(ref.repository, tag)
            except NotFoundInRegistry:
                continue  # deleted since the listing
            annotations = manifest.document.get("annotations") or {}
            found.append({"url": f"oci://{endpoint.host}/{ref.repository}:{tag}", "tag": tag,
                          "digest": manifest.digest,
                          "source": annotations.get(fluxartifact.SOURCE_ANNOTATION, ""),
                          "revision": annotations.get(fluxartifact.REVISION_ANNOTATION, ""),
                          "created": annotations.get(fluxartifact.CREATED_ANNOTATION, "")})
    return {"repository": f"{endpoint.host}/{ref.repository}", "artifacts": found}
