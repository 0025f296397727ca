"""Run scenarios against our reconciler and against upstream Flux, on one Kubernetes version, and compare them."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from sandbox.reconciler.lockdown import Lockdown
from sandbox.scenario import features, runner
from sandbox.scenario.failures import ScenarioFailed, ScenarioSkipped
from sandbox.scenario.model import Scenario

SIDES = {"ours": "sandbox", "flux": "flux"}  # report side -> `sandbox up --reconciler`
Log = Callable[[str], None]


@dataclass(frozen=True)
class SandboxNeeds:
    """What a scenario needs of the sandbox it runs on, beyond the defaults: workload clusters (``cluster/NAME``)
    and Flux's multi-tenancy lockdown (``tenancy-lockdown``). Scenarios needing the same share one sandbox."""

    clusters: tuple[str, ...] = ()
    lockdown: bool = False

    @staticmethod
    def of(scenario: Scenario) -> SandboxNeeds:
        return SandboxNeeds(tuple(sorted(features.clusters_needed(scenario.needs))),
                            "tenancy-lockdown" in scenario.needs)

    @property
    def suffix(self) -> str:
        return "".join(f"-{c}" for c in self.clusters) + ("-lockdown" if self.lockdown else "")

    def options(self) -> dict[str, Any]:
        flags = Lockdown.full() if self.lockdown else Lockdown()
        return {"clusters": ("mgmt", *self.clusters) if self.clusters else (),
                "default_service_account": flags.default_service_account,
                "no_cross_namespace_refs": flags.no_cross_namespace_refs, "no_remote_bases": flags.no_remote_bases}


def grouped(scenarios: Sequence[Scenario]) -> dict[SandboxNeeds, list[Scenario]]:
    """The scenarios by the sandbox they need, in their order (the plain sandbox first)."""
    groups: dict[SandboxNeeds, list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(SandboxNeeds.of(scenario), []).append(scenario)
    return dict(sorted(groups.items(), key=lambda item: item[0] != SandboxNeeds()))


def run_side(side: str, scenarios: Sequence[Scenario], log: Log, *, timeout: float = 180.0,
             needs: SandboxNeeds = SandboxNeeds()) -> dict[str, Any]:
    """Start a sandbox with the side's reconciler and what ``needs`` asks, run every scenario on it, stop it;
    scenario -> snapshots."""
    # Prometheus and Alertmanager on both sides when installed, for the scenarios that need monitoring (under
    # upstream Flux, kube-state-metrics gives gotk_resource_info); without them those scenarios are skipped, saying so.
    monitoring = MonitoringSettings() if not monitoring_service.missing() else None
    options = UpOptions(name=f"parity-{side}{needs.suffix}", reconciler=SIDES[side], fleet_repo="", timeout=timeout,
                        monitoring=monitoring, **needs.options())
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
    by_side: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
    for needs, group in grouped(scenarios).items():
        for side in SIDES:
            by_side[side].update(run_side(side, group, log, needs=needs))
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
