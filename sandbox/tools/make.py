"""GNU make, used to build the Kubernetes control-plane binaries from source."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from sandbox.tools.run import stream


def build(tree: Path, what: list[str], env: Mapping[str, str], on_line: Callable[[str], None]) -> None:
    stream(["make", f"WHAT={' '.join(what)}"], cwd=tree, env=env, on_line=on_line)
