"""Flux's RBAC for `sandbox up --reconciler flux` comes from `flux install --export`, run once per flux CLI build and
kept beside it, not at every start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.fluxdev import install, release
from tests.unit.fluxdev.test_release import fake_build


def test_the_rbac_export_is_kept_per_build_and_made_again_when_the_cli_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path))
    root = release.cache_dir()
    fake_build(root, {"flux": release.FLUX_RELEASE, "source-controller": "v1.9.5"})
    flux = root / "bin" / "flux"
    runs = tmp_path / "runs"
    flux.write_text(flux.read_text().replace('cd "$(dirname "$0")"', f'echo run >> {runs}\ncd "$(dirname "$0")"'))
    built = release.installed()
    assert built is not None
    first = install.cached_rbac_yaml(built)
    assert "name: source-controller" in first and "Deployment" not in first
    assert install.cached_rbac_yaml(built) == first
    assert runs.read_text().count("run") == 1, "the second start reuses the export"
    # A rebuilt CLI (another binary) with another controller: exported again.
    (root / "bin" / "kustomize-controller").write_text("#!/bin/sh\n")
    stat = flux.stat()
    os.utime(flux, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    built = release.installed()
    assert built is not None
    built.built["kustomize-controller"] = "v1.9.5"
    again = install.cached_rbac_yaml(built)
    assert "name: kustomize-controller" in again
    assert runs.read_text().count("run") == 2
