"""``sandbox up --monitoring``: the extra start time over the same sandbox without it (median of alternating runs;
target ≤ 2 s), the time from ``up`` returning to Prometheus having scraped the reconciler and the kube-apiserver,
and the resident memory Prometheus and Alertmanager add."""

from __future__ import annotations

import os
import statistics
import time

import psutil

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.monitoring import service
from sandbox.state import StateDir
from sandbox.waiting import wait_until

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def _monitoring_rss(name: str) -> int:
    status = lifecycle.status(name, probe=False)
    total = 0
    for comp in status["components"]:
        if comp["name"] in (service.PROMETHEUS, service.ALERTMANAGER) and comp["pid"]:
            total += psutil.Process(comp["pid"]).memory_info().rss
    return total


def main() -> None:
    private_state_home()
    if service.missing():
        write("monitoring", {"skipped": f"missing Debian packages: {', '.join(service.missing())}"})
        return
    plain, monitored, first_scrape, rss = [], [], [], []
    for index in range(RUNS):
        name = f"bench-plain-{index}"
        started = time.perf_counter()
        lifecycle.up(UpOptions(name=name, git="local"))
        plain.append(time.perf_counter() - started)
        lifecycle.down(name)

        name = f"bench-monitoring-{index}"
        started = time.perf_counter()
        lifecycle.up(UpOptions(name=name, git="local", monitoring=MonitoringSettings()))
        monitored.append(time.perf_counter() - started)
        prom = service.client_of(StateDir(name))
        scraped = time.perf_counter()
        wait_until(lambda p=prom: len(p.query('up{job=~"gotk|apiserver"} == 1')) >= 2, timeout=60,
                   what="Prometheus to scrape the reconciler and the kube-apiserver")
        first_scrape.append(time.perf_counter() - scraped)
        rss.append(_monitoring_rss(name))
        lifecycle.down(name)
    write("monitoring", {
        "up_seconds_without": summary(plain),
        "up_seconds_with_monitoring": summary(monitored),
        "extra_up_seconds_median": round(statistics.median(monitored) - statistics.median(plain), 3),
        "extra_up_seconds_min": round(min(monitored) - min(plain), 3),  # less noisy on a shared machine
        "first_scrape_after_up_seconds": summary(first_scrape),
        "prometheus_alertmanager_rss_mib": round(max(rss) / 2**20, 1),
        "targets": {"extra_up_seconds_median": 2.0},
    })


if __name__ == "__main__":
    main()
