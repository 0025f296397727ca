"""`sandbox up --requeue-dependency`: Flux's flag, passed to our reconciler or to each of upstream's controllers,
recorded for scenarios (${requeue_dependency}), and refused when it is not a positive duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.config import UpOptions
from sandbox.errors import InputError
from sandbox.fluxdev import release
from sandbox.fluxdev.service import FluxService, component_name
from sandbox.reconciler_service import ReconcilerService, check_requeue_dependency
from sandbox.state import StateDir
from tests.unit.fluxdev.test_release import fake_build


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    made = StateDir("requeue", root=tmp_path / "state")
    made.create()
    return made


def test_our_reconciler_gets_the_flag_and_the_record_says_what_it_runs_with(state: StateDir) -> None:
    plan = ReconcilerService().plan(state, UpOptions(name=state.name, requeue_dependency="5s"))
    argv = plan.components[0].argv
    assert argv[argv.index("--requeue-dependency") + 1] == "5s"
    assert plan.record["reconciler"]["requeue_dependency"] == "5s"
    default = ReconcilerService().plan(state, UpOptions(name=state.name))
    assert "--requeue-dependency" not in default.components[0].argv
    assert default.record["reconciler"]["requeue_dependency"] == "30s"


def test_each_upstream_controller_gets_the_flag(state: StateDir, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    fake_build(release.cache_dir(), {"flux": release.FLUX_RELEASE, "source-controller": "v1.9.5",
                                     "kustomize-controller": "v1.9.5", "helm-controller": "v1.6.4"})
    plan = FluxService().plan(state, UpOptions(name=state.name, reconciler="flux", requeue_dependency="5s"))
    by_name = {c.name: c for c in plan.components}
    for controller in ("source-controller", "kustomize-controller", "helm-controller"):
        assert "--requeue-dependency=5s" in by_name[component_name(controller)].argv, controller


@pytest.mark.parametrize(("given", "normalised"), [("5s", "5s"), ("90s", "1m30s"), ("1m", "1m0s"), ("500ms", "500ms")])
def test_durations_are_written_as_go_prints_them(given: str, normalised: str) -> None:
    assert check_requeue_dependency(given) == normalised


@pytest.mark.parametrize("bad", ["", "5", "soon", "0s"])
def test_what_is_not_a_positive_duration_is_refused_naming_the_flag(bad: str) -> None:
    with pytest.raises(InputError, match="--requeue-dependency"):
        check_requeue_dependency(bad)
