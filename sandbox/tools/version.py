"""Ask any binary for its version (``--version`` / ``version``) and pick the version number out."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.tools.run import run

_VERSION_RE = re.compile(r"v?(\d+\.\d+\.\d+)")


def version_of(binary: Path, args: tuple[str, ...] = ("--version",)) -> str | None:
    try:
        result = run([binary, *args], timeout=20, ok_codes=(0, 1, 2))
    except SandboxError:
        return None
    match = _VERSION_RE.search(result.stdout + result.stderr)
    return match.group(1) if match else None
