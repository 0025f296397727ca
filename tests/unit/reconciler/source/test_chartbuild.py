"""The pure rules of a HelmChart build: build metadata and revisions, values merging, the values-files shortcut,
paths kept inside the source, and the summary source-controller writes in conditions and events."""

from __future__ import annotations

import pytest

from sandbox.reconciler.source import chartbuild


@pytest.mark.parametrize(("version", "metadata", "expected"), [
    ("1.2.3", "4", "1.2.3+4"),
    ("1.2.3+old", "5", "1.2.3+5"),
    ("v1.2.3", "0123456789ab.2", "1.2.3+0123456789ab.2"),
    ("1.2.3-rc.1", "7", "1.2.3-rc.1+7"),
])
def test_build_metadata(version: str, metadata: str, expected: str) -> None:
    assert chartbuild.with_metadata(version, metadata) == expected


@pytest.mark.parametrize(("version", "metadata", "message"), [
    ("not-semver", "1", "chart metadata patch error: failed to parse version from chart metadata as SemVer"),
    ("1.2.3", "main@sha1", "chart metadata patch error: failed to set SemVer metadata on chart version"),
])
def test_bad_build_metadata_is_a_persistent_patch_error(version: str, metadata: str, message: str) -> None:
    with pytest.raises(chartbuild.BuildError) as failed:
        chartbuild.with_metadata(version, metadata)
    assert str(failed.value).startswith(message)
    assert failed.value.reason.reason == "MetadataPatchError" and failed.value.persistent


@pytest.mark.parametrize(("revision", "metadata"), [
    ("main@sha1:0123456789abcdef0123456789abcdef01234567", "0123456789ab"),
    ("sha256:fedcba9876543210" + "0" * 48, "fedcba987654"),
    ("v1.0.0@sha256:abcdefabcdef" + "1" * 52, "abcdefabcdef"),
    ("plain", "plain"),
])
def test_revision_strategy_metadata(revision: str, metadata: str) -> None:
    assert chartbuild.revision_metadata(revision) == metadata


def test_maps_merge_key_by_key_and_the_rest_is_replaced() -> None:
    base = {"image": {"repository": "nginx", "tag": "1"}, "ports": [80], "replicas": 1}
    override = {"image": {"tag": "2"}, "ports": [443], "extra": {"a": 1}}
    assert chartbuild.merge_maps(base, override) == {"image": {"repository": "nginx", "tag": "2"}, "ports": [443],
                                                     "replicas": 1, "extra": {"a": 1}}
    assert base["image"] == {"repository": "nginx", "tag": "1"}  # inputs untouched


@pytest.mark.parametrize(("files", "effective"), [
    ((), ()), (("values.yaml",), ()), (("./values.yaml",), ()),
    (("values.yaml", "prod.yaml"), ("values.yaml", "prod.yaml")), (("prod.yaml",), ("prod.yaml",)),
])
def test_values_yaml_alone_means_the_chart_defaults(files: tuple[str, ...], effective: tuple[str, ...]) -> None:
    assert chartbuild.Options(values_files=files).effective_values_files() == effective


@pytest.mark.parametrize(("path", "joined"), [
    ("env/prod.yaml", "env/prod.yaml"), ("./env/../env/prod.yaml", "env/prod.yaml"),
    ("../../etc/passwd", "etc/passwd"), ("/abs/file", "abs/file"),
])
def test_paths_stay_inside_the_source(path: str, joined: str, tmp_path: object) -> None:
    assert chartbuild.secure_join(tmp_path, path) == joined  # type: ignore[arg-type]


@pytest.mark.parametrize(("build", "summary"), [
    (chartbuild.Build(), "no chart build"),
    (chartbuild.Build("app", "1.0.0"), "new 'app' chart with version '1.0.0'"),
    (chartbuild.Build("app", "1.0.0", "/p"), "pulled 'app' chart with version '1.0.0'"),
    (chartbuild.Build("app", "1.0.0+2", "/p", ["a.yaml", "b.yaml"], packaged=True),
     "packaged 'app' chart with version '1.0.0+2' and merged values files [a.yaml b.yaml]"),
])
def test_summaries(build: chartbuild.Build, summary: str) -> None:
    assert build.summary() == summary
