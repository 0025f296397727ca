"""Finding scenarios, the editor schema, and the features a scenario may need."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from sandbox.errors import InputError
from sandbox.monitoring import service as monitoring_service
from sandbox.scenario import catalog, features
from sandbox.scenario.schema import full_schema


def make(root: Path, name: str, title: str = "T") -> Path:
    (root / name).mkdir(parents=True)
    (root / name / "scenario.yaml").write_text(f"title: {title}\nsummary: S\nsteps:\n  - narrate: x\n")
    return root / name / "scenario.yaml"


def test_search_path_order_and_first_name_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    make(mine, "drift", title="My drift")
    make(theirs, "other")
    monkeypatch.setenv("SANDBOX_SCENARIOS_PATH", f"{mine}:{theirs}")
    monkeypatch.chdir(tmp_path)
    assert catalog.search_path()[:2] == [mine, theirs]
    assert catalog.find("drift") == mine / "drift" / "scenario.yaml"  # shadows the built-in one
    assert catalog.find("other") == theirs / "other" / "scenario.yaml"
    assert catalog.find("getting-started").parent.parent == catalog.BUILTIN
    rows = {row["name"]: row for row in catalog.summaries()}
    assert rows["drift"]["title"] == "My drift" and rows["getting-started"]["valid"]


def test_find_by_path_and_unknown_names(tmp_path: Path) -> None:
    file = make(tmp_path, "mine")
    assert catalog.find(str(tmp_path / "mine")) == file
    assert catalog.find(str(file)) == file
    with pytest.raises(InputError, match=r"no scenario named 'nope' \(known: .*getting-started"):
        catalog.find("nope")


def test_invalid_scenarios_are_listed_with_their_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "scenario.yaml").write_text("title: T\nsummary: S\nsteps:\n  - explode: now\n")
    monkeypatch.setenv("SANDBOX_SCENARIOS_PATH", str(tmp_path))
    row = next(r for r in catalog.summaries() if r["name"] == "broken")
    assert not row["valid"] and "scenario.yaml:4: steps[0].explode: unknown step type 'explode'" in row["error"]


@pytest.mark.parametrize("file", sorted(catalog.BUILTIN.glob("*/scenario.yaml")), ids=lambda f: f.parent.name)
def test_editor_schema_accepts_the_builtin_scenarios(file: Path) -> None:
    jsonschema.validate(yaml.safe_load(file.read_text()), full_schema())


def test_editor_schema_rejects_unknown_step_types() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"title": "t", "summary": "s", "steps": [{"explode": "now"}]}, full_schema())


def test_features_in_use_are_known_and_runtime_presence_is_checked() -> None:
    assert set(features.STEP_FEATURES.values()) <= set(features.FEATURES)
    assert features.not_available("registry") is None
    assert features.not_available("monitoring") is None
    status = {"name": "s", "services": {"git": {"backend": "local"}, "registry": {"host": "127.0.0.1:1"}}}
    assert features.missing(["registry"], status) == []
    missing = features.missing(["charts", "gitea"], status)
    assert missing[0].startswith("needs charts: sandbox 's' runs no charts service")
    assert "needs gitea" in missing[1] and "--git gitea" in missing[1]


def test_monitoring_needs_a_sandbox_started_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert features.missing(["monitoring"], {"name": "s", "services": {"monitoring": {"prometheus": "x"}}}) == []
    monkeypatch.setattr(monitoring_service, "missing", lambda: [])
    (reason,) = features.missing(["monitoring"], {"name": "s", "services": {}})
    assert reason == "needs monitoring: sandbox 's' runs no Prometheus; start one with `sandbox up --monitoring`"
    monkeypatch.setattr(monitoring_service, "missing", lambda: ["prometheus-alertmanager"])
    (reason,) = features.missing(["monitoring"], {"name": "s", "services": {}})
    assert reason.endswith("(it needs the Debian packages prometheus-alertmanager: "
                           "`apt-get install prometheus-alertmanager`)")


def test_on_kind_what_kind_cannot_have_says_so_instead_of_suggesting_a_refused_flag() -> None:
    on_kind = {"name": "k", "services": {"kind": {"cluster": "sandbox-k"}}, "clusters": []}
    reasons = features.missing(["monitoring", "cluster/staging"], on_kind)
    assert all("runs a kind cluster" in r and "choosing-a-cluster" in r for r in reasons), reasons
    assert "`sandbox up --clusters mgmt,staging`" in reasons[1]
    embedded = {"name": "e", "services": {}, "clusters": []}
    assert "runs a kind cluster" not in features.missing(["cluster/staging"], embedded)[0]


def test_helm_needs_a_reconciler() -> None:
    assert features.not_available("helm") is None
    without = {"name": "s", "services": {"charts": {"url": "http://127.0.0.1:1"}}}
    (reason,) = features.missing(["helm"], without)
    assert reason.startswith("needs helm: sandbox 's' runs no reconciler")
    for reconciler in ("reconciler", "flux"):
        assert features.missing(["helm"], {"name": "s", "services": {reconciler: {}}}) == []


def test_playing_monitoring_on_a_sandbox_without_it_says_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from sandbox.scenario.failures import ScenarioSkipped
    from sandbox.scenario.loader import load
    from sandbox.scenario.runner import check_needs

    monkeypatch.setattr(monitoring_service, "missing", lambda: [])
    handle = SimpleNamespace(name="dev", status={"name": "dev", "services": {"reconciler": {}}})
    with pytest.raises(ScenarioSkipped, match=r"scenario 'monitoring' cannot run on sandbox 'dev': needs monitoring: "
                                              r"sandbox 'dev' runs no Prometheus; start one with `sandbox up "
                                              r"--monitoring`"):
        check_needs(load(catalog.BUILTIN / "monitoring"), handle)  # type: ignore[arg-type]


def test_notifications_need_the_sandbox_reconciler_alone_or_beside_upstream_flux() -> None:
    assert features.not_available("notifications") is None
    ours = {"name": "s", "services": {"reconciler": {"log": "x"}}}
    beside_flux = {"name": "s", "services": {"reconciler": {"log": "x"}, "flux": {"release": "v2"}}}
    assert features.missing(["notifications"], ours) == []
    assert features.missing(["notifications"], beside_flux) == []
    missing = features.missing(["notifications"], {"name": "s", "services": {}})
    assert missing and "runs no reconciler" in missing[0]
