"""Scenarios on several clusters: `cluster: NAME` on a check implies the need cluster/NAME, which a sandbox without
that workload cluster lacks (the scenario skips, naming `sandbox up --clusters`)."""

from __future__ import annotations

from pathlib import Path

from sandbox.scenario import features, loader

ROOT = Path(__file__).parents[3]


def test_the_fleet_scenario_needs_both_workload_clusters() -> None:
    scenario = loader.load(ROOT / "scenarios" / "fleet")
    assert features.clusters_needed(scenario.needs) == ["staging", "production"]


def test_a_check_in_a_cluster_implies_the_need(tmp_path: Path) -> None:
    folder = tmp_path / "remote-check"
    folder.mkdir()
    (folder / "scenario.yaml").write_text("title: t\nsummary: s\nsteps:\n  - expect:\n      absent: Deployment/web\n"
                                          "      cluster: qa\n")
    assert "cluster/qa" in loader.load(folder).needs


def test_missing_names_the_command() -> None:
    status = {"name": "s", "clusters": [{"name": "default", "management": True}]}
    assert features.missing(["cluster/staging"], status) == [
        "needs cluster/staging: sandbox 's' has no workload cluster 'staging'; start one with `sandbox up "
        "--clusters mgmt,staging` (docs/several-clusters.md)"]
    status["clusters"].append({"name": "staging", "management": False})
    assert features.missing(["cluster/staging"], status) == []
    assert features.not_available("cluster/staging") is None
