"""The pinned Flux release set, read from the flux CLI's go.mod, and what the cache must hold to count as built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.errors import InputError
from sandbox.fluxdev import release

CLI_GO_MOD = {"Require": [
    {"Path": "github.com/fluxcd/helm-controller/api", "Version": "v1.6.4"},
    {"Path": "github.com/fluxcd/kustomize-controller/api", "Version": "v1.9.5"},
    {"Path": "github.com/fluxcd/source-controller/api", "Version": "v1.9.5"},
    {"Path": "github.com/fluxcd/source-watcher/api/v2", "Version": "v2.2.4"},
    {"Path": "github.com/fluxcd/pkg/apis/meta", "Version": "v1.38.0"},
]}


def test_the_cli_go_mod_pins_each_controller_of_the_release() -> None:
    components = release.release_components(CLI_GO_MOD)
    assert [(c.name, c.module, c.version) for c in components] == [
        ("source-controller", "github.com/fluxcd/source-controller", "v1.9.5"),
        ("kustomize-controller", "github.com/fluxcd/kustomize-controller", "v1.9.5"),
        ("helm-controller", "github.com/fluxcd/helm-controller", "v1.6.4"),
        ("source-watcher", "github.com/fluxcd/source-watcher/v2", "v2.2.4"),
    ]


def fake_build(root: Path, built: dict[str, str], recipe: int = release.RECIPE) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "crds").mkdir()
    for name in built:
        binary = root / "bin" / name
        binary.write_text(FAKE_FLUX if name == "flux" else "#!/bin/sh\n")
        binary.chmod(0o755)
    (root / release.INFO).write_text(json.dumps({"recipe": recipe, "cli_recipe": release.CLI_RECIPE, "built": built,
                                                 "unavailable": {"notification-controller": "not served"}}))


# `flux install --export` of a fake build: one ServiceAccount per controller built, and a Deployment.
FAKE_FLUX = """#!/bin/sh
cd "$(dirname "$0")"
for c in *-controller; do
  [ -e "$c" ] || continue
  printf -- '---\\napiVersion: v1\\nkind: ServiceAccount\\nmetadata: {name: %s, namespace: flux-system}\\n' "$c"
  printf -- '---\\napiVersion: apps/v1\\nkind: Deployment\\nmetadata: {name: %s, namespace: flux-system}\\n' "$c"
done
"""


def test_a_complete_build_is_found_and_an_incomplete_or_outdated_one_is_not(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path))
    assert release.installed() is None
    with pytest.raises(InputError, match="sandbox setup --flux"):
        release.require()
    root = release.cache_dir()
    fake_build(root, {"flux": release.FLUX_RELEASE, "source-controller": "v1.9.5"})
    found = release.installed()
    assert found is not None and found.binary("flux") == root / "bin" / "flux"
    assert found.unavailable == {"notification-controller": "not served"}
    (root / "bin" / "source-controller").unlink()
    assert release.installed() is None, "a binary the record names is missing"
    fake_build(tmp_path / "old", {"flux": "v2.9.5"}, recipe=release.RECIPE - 1)
    monkeypatch.setattr(release, "cache_dir", lambda _release=release.FLUX_RELEASE: tmp_path / "old")
    assert release.installed() is None, "made by an older recipe"
