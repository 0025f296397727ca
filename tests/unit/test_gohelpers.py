"""The sandbox's own Go helpers: the recipe (Sprig module, the main.go), where they go, when they are rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import binaries, gohelpers


def test_commitmsg_recipe_builds_the_wrapper_main_against_sprig() -> None:
    recipe = gohelpers.commitmsg_recipe()
    assert (recipe.module, recipe.version) == ("github.com/Masterminds/sprig/v3", gohelpers.SPRIG_VERSION)
    assert [(p.binary, p.package) for p in recipe.programs] == [(gohelpers.COMMITMSG, ".")]
    assert "sprig.HermeticTxtFuncMap()" in recipe.main_go
    assert 'template.New("commit message")' in recipe.main_go, "upstream's template name appears in its errors"
    assert f'sprigVersion = "{gohelpers.SPRIG_VERSION}"' in recipe.main_go


def test_helpers_dir_is_searched_and_stale_builds_are_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path))
    assert ("helpers", tmp_path / "bin" / "helpers") in binaries.search_dirs()
    helper = gohelpers.HELPERS[0]
    assert not gohelpers.is_current(helper)
    binary = binaries.helpers_bin_dir() / helper.binary
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert not gohelpers.is_current(helper), "no stamp: built by something else"
    (binary.parent / f".{helper.binary}.json").write_text('{"recipe": 0}')
    assert not gohelpers.is_current(helper), "an older recipe"
    assert binaries.find(helper.binary) is not None and binaries.find(helper.binary).source == "helpers"  # type: ignore[union-attr]
