"""Registry and chart repository figures, per registry backend available: seconds from launching the supervisor to
the registry answering /v2/ (registry_start_seconds), pushing a synthetic image (image_push_seconds), and
`chart push` to both the HTTP repository and the registry (chart_push_seconds); medians of BENCH_RUNS."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import private_state_home, summary, write
from sandbox import helmrepo, lifecycle, supervisor
from sandbox.config import UpOptions
from sandbox.helmrepo import ChartRepoService
from sandbox.registry import container, oci
from sandbox.registry.base import endpoint_of
from sandbox.registry.service import RegistryService
from sandbox.state import StateDir
from sandbox.waiting import wait_until

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def start(name: str, backend: str) -> float:
    """Plan the registry and chart repository as `sandbox up` does and run them; seconds until both are ready."""
    state = StateDir(name)
    state.create()
    options = UpOptions(name=name, registry=backend)
    plans = [RegistryService().plan(state, options), ChartRepoService().plan(state, options)]
    state.write_specs([c for plan in plans for c in plan.components])
    record: dict[str, Any] = {"name": name}
    for plan in plans:
        record.update(plan.record)
    state.write_record(record)
    started = time.perf_counter()
    state.write_record({**record, "supervisor_pid": supervisor.launch(state)})
    wait_until(lambda: (state.read_status() or {}).get("phase") == "ready", timeout=60, what=f"{name} to start")
    return time.perf_counter() - started


def write_chart(root: Path, version: str) -> Path:
    chart = root / f"bench-{version}"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: bench\nversion: {version}\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench\n")
    return chart


def measure(backend: str, work: Path) -> dict[str, Any]:
    starts, pushes, charts = [], [], []
    for run in range(RUNS):
        name = f"bench-registry-{backend}-{run}"
        try:
            starts.append(start(name, backend))
            host = endpoint_of(name).host
            for index in range(RUNS):
                began = time.perf_counter()
                oci.push_synthetic_image(host, "bench/app", f"v{run}.{index}")
                pushes.append(time.perf_counter() - began)
            chart = write_chart(work / name, f"0.{run}.0")
            began = time.perf_counter()
            helmrepo.push_chart(name, chart)
            charts.append(time.perf_counter() - began)
        finally:
            lifecycle.down(name)
    return {"registry_start_seconds": summary(starts), "image_push_seconds": summary(pushes),
            "chart_push_seconds": summary(charts)}


def main() -> None:
    private_state_home()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-charts-") as work:
        figures["local"] = measure("local", Path(work))
        ok, why = container.availability(container.image_name())
        figures["container"] = measure("container", Path(work)) if ok else {"skipped": why}
    write("registry", figures)


if __name__ == "__main__":
    main()
