"""Several clusters in one sandbox: up_seconds (warm), down_seconds and the RSS of every process of the sandbox
(supervisor and components: cluster(s), registry, chart repo, local git server, reconciler) for one cluster and for
``--clusters mgmt,staging,production`` — right after ``up``, and once a Deployment runs in each workload cluster
(what a fleet costs while it works), with the RSS and PSS of each component (the last run's). RSS counts the pages
of a binary the clusters share (three kube-apiservers run one executable) once per process; PSS shares them out,
so its sum is what the sandbox really takes. Median of ``BENCH_RUNS`` (3); ``BENCH_ONLY=three`` skips the single
cluster."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.kube.client import KubeClient
from sandbox.state import StateDir
from sandbox.waiting import wait_until

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench", "namespace": "default"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "bench"}},
                       "template": {"metadata": {"labels": {"app": "bench"}},
                                    "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}


def _run_a_deployment(kubeconfig: str) -> None:
    kube = KubeClient.from_kubeconfig(Path(kubeconfig))
    kube.apply(DEPLOYMENT, field_manager="bench")
    wait_until(lambda: kube.get("apps/v1", "Deployment", "bench", "default").get("status", {})
               .get("availableReplicas") == 1, timeout=60, what="the benchmark's Deployment to run")


def pss(name: str) -> int:
    """Proportional set size (bytes) of the supervisor and every process under it."""
    sup = lifecycle.supervisor_process(StateDir(name))
    total = 0
    for proc in [sup, *sup.children(recursive=True)] if sup is not None else []:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def per_process(name: str) -> dict[str, dict[str, float]]:
    """RSS and PSS (MiB) of each component of sandbox ``name`` (with its children: a keeper and its container
    client, a service and its helpers), and of the supervisor itself."""
    state = StateDir(name)
    found: dict[str, dict[str, float]] = {}
    sup = lifecycle.supervisor_process(state)
    pids = {c["name"]: c.get("pid") for c in (state.read_status() or {}).get("components", [])}
    for component, pid in [("supervisor", sup.pid if sup else None), *pids.items()]:
        if not pid:
            continue
        try:
            root = psutil.Process(pid)
            procs = [root] if component == "supervisor" else [root, *root.children(recursive=True)]
            infos = [proc.memory_full_info() for proc in procs]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found[component] = {"rss_mib": round(sum(i.rss for i in infos) / 2**20, 1),
                            "pss_mib": round(sum(i.pss for i in infos) / 2**20, 1)}
    return found


def _median_mib(values: list[int]) -> float:
    return round(sorted(values)[len(values) // 2] / 2**20, 1)


def measure(prefix: str, clusters: tuple[str, ...]) -> dict[str, object]:
    ups, downs, rss, working, shared = [], [], [], [], []
    processes: dict[str, dict[str, float]] = {}
    for index in range(RUNS):
        name = f"{prefix}-{index}"
        started = time.perf_counter()
        status = lifecycle.up(UpOptions(name=name, git="local", registry="local", clusters=clusters, timeout=180))
        ups.append(time.perf_counter() - started)
        rss.append(lifecycle.process_tree_rss(name))
        for cluster in status["clusters"]:
            _run_a_deployment(cluster["kubeconfig"])
        working.append(lifecycle.process_tree_rss(name))
        shared.append(pss(name))
        processes = per_process(name)  # (the last run's)
        started = time.perf_counter()
        lifecycle.down(name)
        downs.append(time.perf_counter() - started)
    return {"up_seconds": summary(ups), "down_seconds": summary(downs),
            "rss_after_up_mib": _median_mib(rss), "rss_with_deployments_mib": _median_mib(working),
            "pss_with_deployments_mib": _median_mib(shared),
            "peak_rss_mib": round(max(working + rss) / 2**20, 1), "per_process_with_deployments": processes}


def main() -> None:
    private_state_home()
    figures: dict[str, object] = {
        **({} if os.environ.get("BENCH_ONLY") == "three" else {"one_cluster": measure("bench-one", ())}),
        "three_clusters": measure("bench-three", ("mgmt", "staging", "production")),
        "targets": {"three_clusters_up_seconds_median": 12.0, "three_clusters_rss_mib": 1536},
    }
    write("clusters", figures)


if __name__ == "__main__":
    main()
