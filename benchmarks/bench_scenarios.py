"""suite_seconds: the six built-in scenarios, one after the other, on one embedded sandbox (target: <= 30 s on a
2-core machine), from the first step of the first to the cleanup of the last; the sandbox's start-up is reported
apart (sandbox_up_seconds). Median of BENCH_RUNS (default 3) passes; each scenario's time is reported too."""

from __future__ import annotations

import os
import statistics
import time

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
from sandbox.scenario import catalog
from sandbox.scenario.loader import load
from sandbox.scenario.runner import run

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TARGET_SECONDS = 30.0
BUILTIN = ("getting-started", "receiver", "drift", "depends-on", "broken-revision", "suspend-resume")


def main() -> None:
    private_state_home()
    scenarios = [load(catalog.BUILTIN / name) for name in BUILTIN]
    started = time.monotonic()
    handle = SandboxHandle.start(UpOptions(name="bench-scenarios"))
    up_seconds = time.monotonic() - started
    suites: list[float] = []
    per_scenario: dict[str, list[float]] = {s.name: [] for s in scenarios}
    steps: dict[str, int] = {s.name: len(s.steps) for s in scenarios}
    try:
        for _ in range(RUNS):
            suite_started = time.monotonic()
            for scenario in scenarios:
                scenario_started = time.monotonic()
                result = run(scenario, handle)
                assert result.passed, result.error
                per_scenario[scenario.name].append(time.monotonic() - scenario_started)
            suites.append(time.monotonic() - suite_started)
    finally:
        lifecycle.down(handle.name)
    suite_seconds = statistics.median(suites)
    write("scenarios", {
        "suite_seconds": round(suite_seconds, 2),
        "target_seconds": TARGET_SECONDS,
        "within_target": suite_seconds <= TARGET_SECONDS,
        "suite": summary(suites),
        "sandbox_up_seconds": round(up_seconds, 2),
        "scenario_seconds": {name: round(statistics.median(times), 2) for name, times in per_scenario.items()},
        "steps": steps,
    })


if __name__ == "__main__":
    main()
