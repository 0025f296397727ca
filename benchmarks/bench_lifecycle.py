"""up_seconds (warm: binaries cached) and down_seconds, median of 5; peak RSS of all components."""

from __future__ import annotations

import os
import tempfile
import time

from benchmarks.common import summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def main() -> None:
    os.environ.setdefault("SANDBOX_STATE_HOME", tempfile.mkdtemp(prefix="sandbox-bench-"))
    ups, downs, rss = [], [], []
    for index in range(RUNS):
        name = f"bench-{index}"
        started = time.perf_counter()
        lifecycle.up(UpOptions(name=name))
        ups.append(time.perf_counter() - started)
        rss.append(lifecycle.process_tree_rss(name))
        started = time.perf_counter()
        lifecycle.down(name)
        downs.append(time.perf_counter() - started)
    write("lifecycle", {
        "up_seconds": summary(ups),
        "down_seconds": summary(downs),
        "peak_rss_bytes": max(rss),
        "peak_rss_mib": round(max(rss) / 2**20, 1),
        "targets": {"up_seconds_median": 5.0, "peak_rss_mib": 1024},
    })


if __name__ == "__main__":
    main()
