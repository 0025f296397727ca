"""up_seconds (warm: binaries cached) and down_seconds, median of 5; peak RSS of all components — for the whole
sandbox (cluster, registry, chart repo, git server, reconciler following the fleet repo) and for the cluster with
the registry and chart repo only (``--git none --no-reconciler``); on the default Kubernetes version, and on
v1.20.2 too when the cache has it (what the newer API server costs); the whole sandbox with upstream Flux's
controllers (``--reconciler flux``) when they are built."""

from __future__ import annotations

import os
import time

from benchmarks.common import private_state_home, summary, write
from sandbox import binaries, lifecycle
from sandbox.config import DEFAULT_K8S_VERSION, UpOptions
from sandbox.fluxdev import release

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
    cached = binaries.cached_versions()
    figures: dict[str, object] = {}
    for version in [v for v in (DEFAULT_K8S_VERSION, binaries.DEBIAN_SOURCE_VERSION) if v in cached]:
        short = version.rsplit(".", 1)[0].replace(".", "_")  # v1_37
        figures[f"cluster_{short}"] = measure(f"bench-cluster-{short}", git="none", reconciler="none",
                                              k8s_version=version)
        figures[f"full_{short}"] = measure(f"bench-full-{short}", k8s_version=version)
    if release.installed() is not None:
        figures["full_flux"] = measure("bench-full-flux", reconciler="flux")
    figures["targets"] = {"cluster_up_seconds_median": 5.0, "full_up_seconds_median": 4.0, "peak_rss_mib": 1024}
    write("lifecycle", figures)


if __name__ == "__main__":
    main()
