"""Run scenarios against our reconciler and against upstream Flux, on one Kubernetes version, and compare them."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import binaries
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.errors import InputError, SandboxError
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
CLUSTERS = ("embedded", "kind")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """The cluster both sides' sandboxes run on: embedded, or kind with ``load_images`` loaded into its nodes
    (``sandbox up --load-image``: the scenarios' public images, or their stand-ins where none can be pulled)."""

    cluster: str = "embedded"
    load_images: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise InputError(f"parity --cluster {self.cluster!r}: use one of {', '.join(CLUSTERS)}")
        if self.load_images and self.cluster != "kind":
            raise InputError("parity --load-image needs --cluster kind: the embedded cluster's simulated nodes run "
                             "no image")

    def unavailable(self, needs: SandboxNeeds) -> str:
        """Why a group's sandbox cannot run on this cluster ("" when it can)."""
        if self.cluster == "kind" and needs.clusters:
            return (f"needs workload clusters ({', '.join(needs.clusters)}), which a kind sandbox does not have "
                    "(one kind cluster per sandbox)")
        return ""

    def options(self) -> dict[str, Any]:
        """UpOptions for this cluster. On kind: no monitoring (refused there; the scenarios needing it skip, naming
        it) and more time to start (kind creates the cluster first)."""
        if self.cluster == "kind":
            return {"cluster": "kind", "kind_load_images": self.load_images, "monitoring": None, "timeout": 300.0}
        # Prometheus and Alertmanager on both sides when installed, for the scenarios that need monitoring (under
        # upstream Flux, kube-state-metrics gives gotk_resource_info); without them those scenarios are skipped.
        return {"monitoring": MonitoringSettings() if not monitoring_service.missing() else None}


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
             needs: SandboxNeeds = SandboxNeeds(), target: Target = Target()) -> tuple[dict[str, Any], str]:
    """Start a sandbox with the side's reconciler on ``target``'s cluster and what ``needs`` asks, run every
    scenario on it, stop it; (scenario -> snapshots, the Kubernetes version its API server reported)."""
    options = UpOptions(name=f"parity-{side}{needs.suffix}", reconciler=SIDES[side], fleet_repo="",
                        **{"timeout": timeout, **target.options(), **needs.options()})
    handle = SandboxHandle.start(options)
    results: dict[str, Any] = {}
    try:
        version = str(handle.status.get("kubernetes_version") or "")
        for scenario in scenarios:
            observer = SnapshotObserver()
            try:
                runner.run(scenario, handle, observer=observer)
            except ScenarioSkipped as err:
                results[scenario.name] = skipped(str(err))
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
    return results, version


def skipped(why: str) -> dict[str, Any]:
    return {"steps": [], "outcome": {"passed": False, "skipped": why}}


def run(scenarios: Sequence[Scenario], log: Log, *, target: Target = Target()) -> tuple[
        dict[str, Any], dict[str, dict[str, Any]], list[Difference]]:
    """(meta, runs by scenario with "ours" and "flux", differences)."""
    built = release.require()
    by_side: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
    versions: set[str] = set()
    for needs, group in grouped(scenarios).items():
        why = target.unavailable(needs)
        if why:
            for side in SIDES:
                by_side[side].update({s.name: skipped(why) for s in group})
            log(f"skipped on {target.cluster}: {', '.join(s.name for s in group)}: {why}")
            continue
        for side in SIDES:
            results, version = run_side(side, group, log, needs=needs, target=target)
            by_side[side].update(results)
            versions.add(version)
    runs = {s.name: {side: by_side[side].get(s.name, {}) for side in SIDES} for s in scenarios}
    differences: list[Difference] = []
    for name, pair in runs.items():
        differences += compare_runs(name, pair["ours"], pair["flux"])
    meta = {"generated": datetime.date.today().isoformat(),
            "kubernetes": ", ".join(sorted(versions - {""})) or binaries.resolve_version(),
            "cluster": target.cluster, "loaded_images": list(target.load_images),
            "flux_release": built.release,
            "flux_controllers": [f"{c} {built.built[c]}" for c in RUN if c in built.built],
            "flux_unavailable": sorted(built.unavailable), "scenarios": [s.name for s in scenarios]}
    return meta, runs, differences


def scenario_files(roots: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        files += sorted(root.glob("*/scenario.yaml"))
    return files
