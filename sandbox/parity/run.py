"""Run scenarios against our reconciler and against upstream Flux, on one Kubernetes version, and compare them."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sandbox import binaries
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.errors import SandboxError
from sandbox.fluxdev import release
from sandbox.fluxdev.service import RUN
from sandbox.handle import SandboxHandle
from sandbox.monitoring import service as monitoring_service
from sandbox.parity.compare import Difference, compare_runs
from sandbox.parity.snapshot import SnapshotObserver
from sandbox.scenario import runner
from sandbox.scenario.failures import ScenarioFailed, ScenarioSkipped
from sandbox.scenario.model import Scenario

SIDES = {"ours": "sandbox", "flux": "flux"}  # report side -> `sandbox up --reconciler`
Log = Callable[[str], None]


def run_side(side: str, scenarios: Sequence[Scenario], log: Log, *, timeout: float = 180.0) -> dict[str, Any]:
    """Start a sandbox with the side's reconciler, run every scenario on it, stop it; scenario -> snapshots."""
    # Prometheus and Alertmanager on both sides when installed, for the scenarios that need monitoring (under
    # upstream Flux, kube-state-metrics gives gotk_resource_info); without them those scenarios are skipped, saying so.
    monitoring = MonitoringSettings() if not monitoring_service.missing() else None
    options = UpOptions(name=f"parity-{side}", reconciler=SIDES[side], fleet_repo="", timeout=timeout,
                        monitoring=monitoring)
    handle = SandboxHandle.start(options)
    results: dict[str, Any] = {}
    try:
        for scenario in scenarios:
            observer = SnapshotObserver()
            try:
                runner.run(scenario, handle, observer=observer)
            except ScenarioSkipped as err:
                results[scenario.name] = {"steps": [], "outcome": {"passed": False, "skipped": str(err)}}
                log(f"{side}: {scenario.name} skipped: {err}")
                continue
            except ScenarioFailed:
                pass  # the observer holds the outcome and the snapshots up to the failed step
            except SandboxError as err:  # cleanup failed: the outcome stands, the note says so
                observer.outcome.setdefault("cleanup", str(err))
            results[scenario.name] = {"steps": observer.steps, "outcome": observer.outcome}
            log(f"{side}: {scenario.name} {'passed' if observer.outcome.get('passed') else 'FAILED'}")
    finally:
        handle.stop()
    return results


def run(scenarios: Sequence[Scenario], log: Log) -> tuple[dict[str, Any], dict[str, dict[str, Any]],
                                                          list[Difference]]:
    """(meta, runs by scenario with "ours" and "flux", differences)."""
    built = release.require()
    by_side = {side: run_side(side, scenarios, log) for side in SIDES}
    runs = {s.name: {side: by_side[side].get(s.name, {}) for side in SIDES} for s in scenarios}
    differences: list[Difference] = []
    for name, pair in runs.items():
        differences += compare_runs(name, pair["ours"], pair["flux"])
    meta = {"generated": datetime.date.today().isoformat(), "kubernetes": binaries.resolve_version(),
            "flux_release": built.release,
            "flux_controllers": [f"{c} {built.built[c]}" for c in RUN if c in built.built],
            "flux_unavailable": sorted(built.unavailable), "scenarios": [s.name for s in scenarios]}
    return meta, runs, differences


def scenario_files(roots: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        files += sorted(root.glob("*/scenario.yaml"))
    return files
