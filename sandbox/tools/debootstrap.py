"""debootstrap: a Debian root filesystem in a directory, from a Debian mirror."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sandbox.tools.run import run


def bootstrap(target: Path, suite: str, mirror: str, include: Sequence[str], *, variant: str = "minbase") -> None:
    run(["debootstrap", f"--variant={variant}", f"--include={','.join(include)}", suite, target, mirror],
        timeout=3600)
