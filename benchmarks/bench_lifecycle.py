"""up_seconds (warm: binaries cached) and down_seconds, median of 5; peak RSS of all components — for the whole
sandbox (cluster, registry, chart repo, git server, reconciler following the fleet repo) and for the cluster with
the registry and chart repo only (``--git none --no-reconciler``)."""

from __future__ import annotations

import os
import time

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def measure(prefix: str, **options: object) -> dict[str, object]:
    ups, downs, rss = [], [], []
    for index in range(RUNS):
        name = f"{prefix}-{index}"
        started = time.perf_counter()
        lifecycle.up(UpOptions(name=name, **options))  # type: ignore[arg-type]
        ups.append(time.perf_counter() - started)
        rss.append(lifecycle.process_tree_rss(name))
        started = time.perf_counter()
        lifecycle.down(name)
        downs.append(time.perf_counter() - started)
    return {"up_seconds": summary(ups), "down_seconds": summary(downs), "peak_rss_mib": round(max(rss) / 2**20, 1)}


def main() -> None:
    private_state_home()
    write("lifecycle", {
        "cluster": measure("bench-cluster", git="none", reconciler="none"),
        "full": measure("bench-full"),
        "targets": {"cluster_up_seconds_median": 5.0, "peak_rss_mib": 1024},
    })


if __name__ == "__main__":
    main()
