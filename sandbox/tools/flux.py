"""The upstream flux CLI of the cached Flux release (``sandbox setup --flux``): the one wrapper that runs it."""

from __future__ import annotations

from pathlib import Path

from sandbox.tools.run import Completed, run


def flux(binary: Path, args: list[str], *, timeout: float = 120) -> Completed:
    """``flux ARGS`` with telemetry-free defaults; CommandError with its output when it fails."""
    return run([binary, *args], timeout=timeout)
