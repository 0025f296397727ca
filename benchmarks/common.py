"""Shared helpers for benchmarks: timing, medians, and writing results as JSON."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.handle import SandboxHandle

RESULTS_DIR = Path(os.environ.get("SANDBOX_BENCH_DIR", "bench-results"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "p95": percentile(values, 0.95), "min": min(values),
            "max": max(values), "runs": len(values)}


def write(name: str, figures: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / f"{name}.json"
    document = {"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()},
                "figures": figures}
    target.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    return target


def private_state_home() -> None:
    """Put the benchmark's sandboxes under a temporary state home (unless one is set), removed at exit."""
    if "SANDBOX_STATE_HOME" in os.environ:
        return
    home = tempfile.mkdtemp(prefix="sandbox-bench-")
    os.environ["SANDBOX_STATE_HOME"] = home
    atexit.register(shutil.rmtree, home, True)


@contextlib.contextmanager
def bench_sandbox(name: str) -> Iterator[SandboxHandle]:
    """A sandbox of the benchmark's own, in a private state home, stopped (down) after the measurement."""
    from sandbox import lifecycle
    from sandbox.config import UpOptions
    from sandbox.handle import SandboxHandle

    private_state_home()
    handle = SandboxHandle.start(UpOptions(name=name))
    try:
        yield handle
    finally:
        lifecycle.down(handle.name)
