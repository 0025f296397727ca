"""setup_seconds: `sandbox setup` with the cache complete (median of 5), and the cold builds as recorded when they
ran (BUILD-INFO.json of the control plane, RELEASE.json of upstream Flux: wall-clock seconds of the build from Go
modules on this machine; a bare machine also downloads the modules, which the records include)."""

from __future__ import annotations

import os
import sys
import time

from benchmarks.common import summary, write
from sandbox import binaries
from sandbox.config import DEFAULT_K8S_VERSION
from sandbox.fluxdev import release
from sandbox.tools.run import run

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def main() -> None:
    cached = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run([sys.executable, "-m", "sandbox.cli", "setup"], timeout=120)
        cached.append(time.perf_counter() - started)
    flux = release.installed()
    write("setup", {
        "cached_setup_seconds": summary(cached),
        "control_plane": {"version": DEFAULT_K8S_VERSION, **binaries.build_info(DEFAULT_K8S_VERSION)},
        "flux": None if flux is None else {"release": flux.release, "built": flux.built,
                                           "substitutions": flux.substitutions,
                                           "seconds": release.build_seconds(flux.release)},
    })


if __name__ == "__main__":
    main()
