"""OCIRepository's ref resolution (digest > semver > tag > latest), semver with semverFilter, revision strings and
layer selection, as source-controller's getArtifactRef, getTagBySemver, getRevision and selectLayer."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.reconciler.source import ocirefs

DIGEST = "sha256:" + "a" * 64
TAGS = ["latest", "1.0.0", "1.1.0", "1.2.0-rc.1", "v2.0.0", "2.1.0", "main-abc", "1.1.1-dev"]


@pytest.mark.parametrize(("ref", "expected"), [
    (None, ocirefs.ArtifactRef(tag="latest")),
    ({}, ocirefs.ArtifactRef(tag="latest")),
    ({"tag": "v1"}, ocirefs.ArtifactRef(tag="v1")),
    ({"tag": "v1", "digest": DIGEST}, ocirefs.ArtifactRef(digest=DIGEST)),
    ({"tag": "v1", "semver": ">=1.0.0 <2.0.0"}, ocirefs.ArtifactRef(tag="1.1.0")),
    ({"semver": "1.x", "digest": DIGEST}, ocirefs.ArtifactRef(digest=DIGEST)),
    ({"semver": ">=1.0.0"}, ocirefs.ArtifactRef(tag="2.1.0")),
    ({"semver": ">=1.0.0, <2.0.0"}, ocirefs.ArtifactRef(tag="1.1.0")),
    ({"semver": "~2.0"}, ocirefs.ArtifactRef(tag="v2.0.0")),
    ({"semver": ">=1.2.0-rc.0 <1.3.0"}, ocirefs.ArtifactRef(tag="1.2.0-rc.1")),
    ({"semver": ">=1.1.1-0", "semverFilter": "-dev$"}, ocirefs.ArtifactRef(tag="1.1.1-dev")),
    ({"semver": "1.x", "semverFilter": "^1\\.0"}, ocirefs.ArtifactRef(tag="1.0.0")),
], ids=["none", "empty", "tag", "digest-wins", "semver-over-tag", "digest-over-semver", "highest", "comma-and",
        "tilde-with-v", "prerelease-asked-for", "filter-prerelease", "filter"])
def test_resolve(ref: dict[str, Any] | None, expected: ocirefs.ArtifactRef) -> None:
    assert ocirefs.resolve(ref, TAGS) == expected


@pytest.mark.parametrize(("ref", "message"), [
    ({"semver": ">=3.0.0"}, "no match found for semver: >=3.0.0"),
    ({"semver": "1.x", "semverFilter": "("}, "failed to compile regex ("),
], ids=["no-match", "bad-filter"])
def test_resolve_errors(ref: dict[str, Any], message: str) -> None:
    with pytest.raises(ocirefs.RefError) as err:
        ocirefs.resolve(ref, TAGS)
    assert message in str(err.value)


def test_helm_chart_tags_map_underscore_to_plus() -> None:
    ref = ocirefs.resolve({"semver": ">=1.0.0"}, ["1.0.0_build.1", "0.9.0"], ocirefs.HELM_CHART_MEDIA_TYPE)
    assert ref == ocirefs.ArtifactRef(tag="1.0.0_build.1")


def test_only_semver_needs_the_tag_list() -> None:
    assert ocirefs.wants_tag_list({"semver": "1.x"})
    assert not ocirefs.wants_tag_list({"semver": "1.x", "digest": DIGEST})
    assert not ocirefs.wants_tag_list({"tag": "v1"}) and not ocirefs.wants_tag_list(None)


@pytest.mark.parametrize(("ref", "revision"), [
    (ocirefs.ArtifactRef(tag="latest"), f"latest@{DIGEST}"),
    (ocirefs.ArtifactRef(tag="6.1.0"), f"6.1.0@{DIGEST}"),
    (ocirefs.ArtifactRef(digest=DIGEST), DIGEST),
], ids=["latest", "tag", "digest-only"])
def test_revision_format(ref: ocirefs.ArtifactRef, revision: str) -> None:
    assert ocirefs.revision(ref, DIGEST) == revision
    assert ocirefs.digest_of(revision) == DIGEST


MANIFEST = {"layers": [{"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "digest": "sha256:1"},
                       {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": "sha256:2"}]}


@pytest.mark.parametrize(("selector", "digest"), [
    (None, "sha256:1"),
    ({}, "sha256:1"),
    ({"operation": "copy"}, "sha256:1"),
    ({"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip"}, "sha256:2"),
], ids=["default-first", "empty", "copy-first", "by-media-type"])
def test_select_layer(selector: dict[str, Any] | None, digest: str) -> None:
    assert ocirefs.select_layer(MANIFEST, selector)["digest"] == digest


@pytest.mark.parametrize(("manifest", "selector", "message"), [
    ({"layers": []}, None, "no layers found in artifact"),
    ({}, None, "no layers found in artifact"),
    (MANIFEST, {"mediaType": "text/plain"}, "failed to find layer with media type 'text/plain' in artifact"),
], ids=["no-layers", "no-layers-key", "wrong-media-type"])
def test_select_layer_errors(manifest: dict[str, Any], selector: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(ocirefs.LayerError) as err:
        ocirefs.select_layer(manifest, selector)
    assert str(err.value) == message


def test_layer_operation_defaults_to_extract() -> None:
    assert ocirefs.layer_operation(None) == "extract"
    assert ocirefs.layer_operation({"mediaType": "x"}) == "extract"
    assert ocirefs.layer_operation({"operation": "copy"}) == "copy"
