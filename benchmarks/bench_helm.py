"""Helm releases of the demo chart (webapp, from the sandbox's HTTP chart repository), each timed against what a
user would otherwise run in the same sandbox — the Helm SDK's own install/upgrade of the same chart and values,
waiting for the release's resources (``helm install --wait``, watcher strategy), the two taken in turns so that
both see the same load on the machine:

- helmrelease_ready_seconds: a HelmRelease created → Ready (HelmChart generated, chart fetched, installed,
  health-checked), over BENCH_RELEASES releases (default 10), vs. ``helm install --wait``;
- helm_upgrade_seconds: a values change pushed to git → the HelmRelease upgraded and Ready again (receiver webhook,
  GitRepository, Kustomization, HelmRelease), over BENCH_UPGRADES pushes (default 10), vs. ``helm upgrade --wait``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from benchmarks.common import bench_sandbox, summary, write
from sandbox import helmrepo
from sandbox.git import repo as repos
from sandbox.handle import SandboxHandle
from sandbox.reconciler.runtime import conditions as cond
from sandbox.waiting import wait_until

RELEASES = int(os.environ.get("BENCH_RELEASES", "10"))
UPGRADES = int(os.environ.get("BENCH_UPGRADES", "10"))
NAME = "bench-helm"
FLUX_NAMESPACE = "flux-system"
HELM_RELEASE = "helm.toolkit.fluxcd.io/v2"
HELM_REPOSITORY = "source.toolkit.fluxcd.io/v1"
CHART, VERSION = "webapp", "0.2.0"
REPOSITORY = "bench-charts"
TARGETS = {"helmrelease_ready_seconds": 1.5, "helm_upgrade_seconds": 1.5}


def values(message: str) -> dict[str, Any]:
    return {"replicaCount": 1, "message": message}


def helm_release(name: str, target_namespace: str, message: str) -> dict[str, Any]:
    return {"apiVersion": HELM_RELEASE, "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
            "spec": {"interval": "1h", "releaseName": name, "targetNamespace": target_namespace,
                     "install": {"createNamespace": True},
                     "chart": {"spec": {"chart": CHART, "version": VERSION,
                                        "sourceRef": {"kind": "HelmRepository", "name": REPOSITORY}}},
                     "values": values(message)}}


def released(handle: SandboxHandle, name: str, version: int) -> dict[str, Any] | None:
    """The HelmRelease once Ready and current with Helm release ``version`` the latest in its history."""
    obj = handle.kube.get(HELM_RELEASE, "HelmRelease", name, FLUX_NAMESPACE)
    status = obj.get("status") or {}
    history = status.get("history") or [{}]
    current = status.get("observedGeneration") == obj["metadata"].get("generation")
    if current and history[0].get("version") == version and cond.is_true(status.get("conditions"), cond.READY):
        return obj
    return None


def describe(handle: SandboxHandle, name: str) -> str:
    obj = handle.kube.get_or_none(HELM_RELEASE, "HelmRelease", name, FLUX_NAMESPACE) or {}
    status = obj.get("status") or {}
    return f"conditions={status.get('conditions')}, history={(status.get('history') or [None])[0]}"


def chart_repository(handle: SandboxHandle) -> str:
    url = helmrepo.repository_url(handle.name)
    handle.kube.apply({"apiVersion": HELM_REPOSITORY, "kind": "HelmRepository",
                       "metadata": {"name": REPOSITORY, "namespace": FLUX_NAMESPACE},
                       "spec": {"url": url, "interval": "1h"}}, field_manager="bench")
    wait_until(lambda: cond.is_true((handle.kube.get(HELM_REPOSITORY, "HelmRepository", REPOSITORY, FLUX_NAMESPACE)
                                     .get("status") or {}).get("conditions"), cond.READY),
               timeout=60, what=f"HelmRepository {REPOSITORY} to be Ready")
    return url


def create_to_ready(handle: SandboxHandle, index: int) -> float:
    name = f"{NAME}-{index}"
    started = time.perf_counter()
    handle.kube.apply(helm_release(name, name, f"release {index}"), field_manager="bench")
    wait_until(lambda: released(handle, name, 1), timeout=60, what=f"HelmRelease {name} to be Ready",
               interval=0.01, max_interval=0.02, describe=lambda: describe(handle, name))
    return time.perf_counter() - started


def helm_install(handle: SandboxHandle, url: str, index: int) -> float:
    name = f"sdk-{index}"
    # One config per namespace: Helm stores a release in its own namespace.
    with helm.Config(kubeconfig_path=str(handle.kubeconfig), namespace=name, storage_driver="secret") as config:
        started = time.perf_counter()
        config.install(CHART, name, values(f"release {index}"), namespace=name, create_namespace=True,
                       chart_repo_url=url, chart_version=VERSION, wait="watcher", timeout=60)
        return time.perf_counter() - started


def installs(handle: SandboxHandle, url: str) -> tuple[list[float], list[float]]:
    """HelmReleases created → Ready and Helm SDK installs, taken in turns so that both see the same machine."""
    ours, theirs = [], []
    for index in range(RELEASES):
        ours.append(create_to_ready(handle, index))
        theirs.append(helm_install(handle, url, index))
    return ours, theirs


def upgrades(handle: SandboxHandle, url: str) -> tuple[list[float], list[float]]:
    """Values pushed to git → HelmRelease upgraded and Ready, and Helm SDK upgrades of the same values, in turns."""
    name, sdk = f"{NAME}-upgrade", "sdk-upgrade"

    def files(version: int) -> dict[str, str | bytes | None]:
        return {"release.yaml": yaml.safe_dump(helm_release(name, name, f"version {version}"))}

    repository = handle.new_repo(name, files=files(0))
    repository.kustomization(name)
    repository.wait_applied(name)
    wait_until(lambda: released(handle, name, 1), timeout=60, what=f"HelmRelease {name} to be installed",
               describe=lambda: describe(handle, name))
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as scratch, \
            helm.Config(kubeconfig_path=str(handle.kubeconfig), namespace=sdk, storage_driver="secret") as config:
        config.install(CHART, sdk, values("version 0"), namespace=sdk, create_namespace=True, chart_repo_url=url,
                       chart_version=VERSION, wait="watcher", timeout=60)
        copy = repos.clone(handle.git, repository.name, Path(scratch) / "wc")
        for version in range(1, UPGRADES + 1):
            copy.write(files(version))
            copy.commit(f"version {version}")
            started = time.perf_counter()
            copy.push()
            wait_until(lambda version=version: released(handle, name, version + 1), timeout=60,
                       what=f"HelmRelease {name} to be upgraded", interval=0.01, max_interval=0.02,
                       describe=lambda: describe(handle, name))
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            config.upgrade(CHART, sdk, values(f"version {version}"), namespace=sdk, chart_repo_url=url,
                           chart_version=VERSION, wait="watcher", timeout=60)
            theirs.append(time.perf_counter() - started)
    return ours, theirs


def compared(ours: list[float], theirs: list[float], target: float) -> dict[str, Any]:
    median, baseline = statistics.median(ours), statistics.median(theirs)
    return {**summary(ours), "helm_sdk": summary(theirs), "ratio_to_helm_sdk": round(median / baseline, 2),
            "target_median": target, "meets_target": median <= target}


def main() -> None:
    with bench_sandbox(NAME) as handle:
        url = chart_repository(handle)
        ready, sdk_installs = installs(handle, url)
        upgraded, sdk_upgrades = upgrades(handle, url)
    write("helm", {
        "helmrelease_ready_seconds": compared(ready, sdk_installs, TARGETS["helmrelease_ready_seconds"]),
        "helm_upgrade_seconds": compared(upgraded, sdk_upgrades, TARGETS["helm_upgrade_seconds"]),
        "chart": f"{CHART} {VERSION}",
    })


if __name__ == "__main__":
    main()
