"""Which artifact an OCIRepository's ``spec.ref`` names, which layer ``spec.layerSelector`` takes, and the revision
string — pure logic, following source-controller's getArtifactRef, getTagBySemver, selectLayer and getRevision."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import nodesemver  # type: ignore[import-untyped]

from sandbox.errors import InputError
from sandbox.reconciler.source.refs import semver_constraint

DEFAULT_TAG = "latest"
EXTRACT = "extract"
COPY = "copy"
HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


class RefError(InputError):
    """The ref names no artifact in the registry's tags (ReadOperationFailed)."""


class LayerError(InputError):
    """The manifest has no layer the selector accepts (OCIArtifactLayerOperationFailed)."""


@dataclass(frozen=True)
class ArtifactRef:
    """A tag or a digest of the repository."""

    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        return self.digest or self.tag


def wants_tag_list(ref: dict[str, Any] | None) -> bool:
    """Whether resolving ``ref`` needs the repository's tags (a semver range without a digest)."""
    ref = ref or {}
    return not ref.get("digest") and bool(ref.get("semver"))


def _filtered(tags: list[str], pattern: str) -> list[str]:
    if not pattern:
        return tags
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise RefError(f"failed to compile regex {pattern}: {err}") from err
    return [tag for tag in tags if regex.search(tag)]


def _to_semver(tag: str, media_type: str) -> str:
    # Helm maps '+' to '_' in OCI tags ('+' is not allowed in a tag); source-controller undoes it for charts.
    return tag.replace("_", "+") if media_type == HELM_CHART_MEDIA_TYPE else tag


def resolve(ref: dict[str, Any] | None, tags: list[str] | None = None, media_type: str = "") -> ArtifactRef:
    """Precedence as Flux: digest > semver > tag; no ref (or an empty one) means tag ``latest``."""
    ref = ref or {}
    if ref.get("digest"):
        return ArtifactRef(digest=str(ref["digest"]))
    if ref.get("semver"):
        expression = str(ref["semver"])
        candidates = _filtered(list(tags or []), str(ref.get("semverFilter") or ""))
        try:
            constraint = nodesemver.make_range(semver_constraint(expression), loose=True)
        except (ValueError, TypeError) as err:
            raise RefError(f"semver '{expression}' parse error: {err}") from err
        # Tags that are no version (latest, main-abc) are skipped, as source-controller skips them.
        by_version = {}
        for tag in candidates:
            version = _to_semver(tag, media_type)
            try:
                nodesemver.make_semver(version, loose=True)
            except (ValueError, TypeError):
                continue
            by_version[version] = tag
        best = nodesemver.max_satisfying(list(by_version), constraint, loose=True)
        if not best:
            raise RefError(f"no match found for semver: {expression}")
        return ArtifactRef(tag=by_version[best])
    if ref.get("tag"):
        return ArtifactRef(tag=str(ref["tag"]))
    return ArtifactRef(tag=DEFAULT_TAG)


def revision(ref: ArtifactRef, manifest_digest: str) -> str:
    """``<tag>@sha256:<digest>``, or ``sha256:<digest>`` for a digest ref."""
    return manifest_digest if ref.digest else f"{ref.tag}@{manifest_digest}"


def digest_of(revision_text: str) -> str:
    """The digest part of a revision (``latest@sha256:…`` → ``sha256:…``)."""
    return revision_text.rpartition("@")[2]


def layer_operation(selector: dict[str, Any] | None) -> str:
    return str((selector or {}).get("operation") or EXTRACT)


def select_layer(manifest: dict[str, Any], selector: dict[str, Any] | None) -> dict[str, Any]:
    """The layer descriptor ``selector`` picks: the first with its media type, else the first layer."""
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not layers:
        raise LayerError("no layers found in artifact")
    media_type = str((selector or {}).get("mediaType") or "")
    if not media_type:
        first = layers[0]
        if not isinstance(first, dict):
            raise LayerError("failed to parse artifact layers: layer[0] is not an object")
        return first
    for layer in layers:
        if isinstance(layer, dict) and layer.get("mediaType") == media_type:
            return layer
    raise LayerError(f"failed to find layer with media type '{media_type}' in artifact")
