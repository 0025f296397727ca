"""Flux's OCI artifact format as `sandbox push artifact` builds it: media types, annotations, the manifest's shape
and the reproducible tar.gz of a directory (fluxcd/pkg/oci Build and fluxcd/pkg/tar)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from sandbox.oci import fluxartifact
from sandbox.oci.distribution import split_url


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "deploy"
    (root / "apps" / "web").mkdir(parents=True)
    (root / "apps" / "web" / "deploy.yaml").write_text("kind: Deployment\n")
    (root / "apps" / "b.yaml").write_text("kind: ConfigMap\n")
    (root / "a.yaml").write_text("kind: Namespace\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "logo.png").write_bytes(b"\x89PNG")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    return root


def members(layer: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        return archive.getmembers()


def test_the_layer_is_a_reproducible_tar_gz_in_walk_order_without_vcs_or_binaries(tree: Path) -> None:
    layer = fluxartifact.build_layer(tree)
    assert layer == fluxartifact.build_layer(tree)  # reproducible
    assert layer[:2] == b"\x1f\x8b" and layer[4:8] == b"\x00\x00\x00\x00"  # gzip, mtime 0
    found = members(layer)
    assert [m.name for m in found] == [".", "a.yaml", "apps", "apps/b.yaml", "apps/web", "apps/web/deploy.yaml",
                                       "run.sh"]
    for member in found:
        assert (member.uid, member.gid, member.uname, member.gname, member.mtime) == (0, 0, "", "", 0)
    by_name = {m.name: m for m in found}
    assert by_name["run.sh"].mode == 0o755 and by_name["a.yaml"].mode == 0o644
    assert by_name["apps"].isdir() and by_name["a.yaml"].isreg()
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        handle = archive.extractfile("apps/web/deploy.yaml")
        assert handle is not None and handle.read() == b"kind: Deployment\n"


def test_ignore_paths_replace_the_defaults(tree: Path) -> None:
    names = [m.name for m in members(fluxartifact.build_layer(tree, ["apps/"]))]
    assert "apps/b.yaml" not in names and ".git/HEAD" in names and "logo.png" in names


def test_a_single_file_is_packed_alone(tree: Path) -> None:
    assert [m.name for m in members(fluxartifact.build_layer(tree / "a.yaml"))] == ["a.yaml"]


def test_the_manifest_has_flux_media_types_and_annotations(tree: Path) -> None:
    artifact = fluxartifact.build(tree, source_url="https://git.example/app", revision="main@sha1:abc",
                                  created="2026-11-29T00:00:00Z", annotations={"team": "web"})
    manifest = json.loads(artifact.manifest())
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.flux.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/vnd.cncf.flux.content.v1.tar+gzip"]
    assert manifest["annotations"] == {"org.opencontainers.image.created": "2026-11-29T00:00:00Z",
                                       "org.opencontainers.image.revision": "main@sha1:abc",
                                       "org.opencontainers.image.source": "https://git.example/app",
                                       "team": "web"}
    assert manifest["layers"][0]["digest"] == artifact.layers[0].digest
    assert manifest["layers"][0]["size"] == len(artifact.layers[0].data)
    config = json.loads(artifact.config.data)
    assert config["created"] == "2026-11-29T00:00:00Z"
    # The same inputs and created time give the same digest (flux's --reproducible).
    again = fluxartifact.build(tree, source_url="https://git.example/app", revision="main@sha1:abc",
                               created="2026-11-29T00:00:00Z", annotations={"team": "web"})
    assert again.digest == artifact.digest


@pytest.mark.parametrize(("url", "expected"), [
    ("oci://127.0.0.1:5000/app", ("127.0.0.1:5000", "app")),
    ("oci://registry.test/team/app", ("registry.test", "team/app")),
])
def test_urls_split_into_host_and_repository(url: str, expected: tuple[str, str]) -> None:
    assert split_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("https://registry.test/app", "URL must be in format 'oci://<domain>/<org>/<repo>'"),
    ("oci://registry.test", "URL must be in format 'oci://<domain>/<org>/<repo>'"),
    ("oci://registry.test/app:v1", "URL must not contain a tag; remove ':v1'"),
    ("oci://registry.test/App", "must be lowercase"),
], ids=["scheme", "no-repository", "tag", "uppercase"])
def test_bad_urls_are_refused_as_source_controller_words_it(url: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        split_url(url)
    assert message in str(err.value)


def test_gzip_member_is_plain(tree: Path) -> None:
    layer = fluxartifact.build_layer(tree)
    assert gzip.decompress(layer)[257:262] == b"ustar"  # a USTAR header, as Go's archive/tar writes
