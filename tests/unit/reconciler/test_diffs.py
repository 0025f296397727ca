"""The source root and spec.path that `sandbox diff kustomization --path DIR` builds from."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import InputError
from sandbox.reconciler.diffs import local_source


def test_a_folder_in_a_work_tree_keeps_its_place_in_it(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "apps" / "dev").mkdir(parents=True)
    assert local_source(tmp_path / "apps" / "dev") == (tmp_path.resolve(), "./apps/dev")
    assert local_source(tmp_path) == (tmp_path.resolve(), "./")


def test_a_folder_outside_a_work_tree_is_its_own_root(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    assert local_source(tmp_path / "apps") == ((tmp_path / "apps").resolve(), "./")


def test_a_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="invalid resource path"):
        local_source(tmp_path / "nothing")
