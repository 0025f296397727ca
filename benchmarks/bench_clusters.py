"""Several clusters in one sandbox: up_seconds (warm), down_seconds and the RSS of every process of the sandbox
(supervisor and components: cluster(s), registry, chart repo, local git server, reconciler) for one cluster and for
``--clusters mgmt,staging,production`` — right after ``up``, and once a Deployment runs in each workload cluster
(what a fleet costs while it works). Median of ``BENCH_RUNS`` (3)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.kube.client import KubeClient
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


def measure(prefix: str, clusters: tuple[str, ...]) -> dict[str, object]:
    ups, downs, rss, working = [], [], [], []
    for index in range(RUNS):
        name = f"{prefix}-{index}"
        started = time.perf_counter()
        status = lifecycle.up(UpOptions(name=name, git="local", registry="local", clusters=clusters, timeout=180))
        ups.append(time.perf_counter() - started)
        rss.append(lifecycle.process_tree_rss(name))
        for cluster in status["clusters"]:
            _run_a_deployment(cluster["kubeconfig"])
        working.append(lifecycle.process_tree_rss(name))
        started = time.perf_counter()
        lifecycle.down(name)
        downs.append(time.perf_counter() - started)
    return {"up_seconds": summary(ups), "down_seconds": summary(downs),
            "rss_after_up_mib": round(sorted(rss)[len(rss) // 2] / 2**20, 1),
            "rss_with_deployments_mib": round(sorted(working)[len(working) // 2] / 2**20, 1),
            "peak_rss_mib": round(max(working + rss) / 2**20, 1)}


def main() -> None:
    private_state_home()
    figures: dict[str, object] = {
        "one_cluster": measure("bench-one", ()),
        "three_clusters": measure("bench-three", ("mgmt", "staging", "production")),
        "targets": {"three_clusters_up_seconds_median": 12.0, "three_clusters_rss_mib": 1536},
    }
    write("clusters", figures)


if __name__ == "__main__":
    main()
