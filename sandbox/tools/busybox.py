"""busybox: the applets a static busybox provides (``busybox --list``), to link them in a stand-in image's /bin as
busybox's own image does."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.tools.run import run

_APPLET = re.compile(r"^[A-Za-z0-9_.\[\]-]+$")


def parse(output: str) -> list[str]:
    """Applet names, one a line; anything that is not a plain file name is dropped."""
    return [line.strip() for line in output.splitlines() if _APPLET.match(line.strip()) and "/" not in line]


def applets(busybox: Path) -> list[str]:
    """The applets ``busybox`` was built with (``sh``, ``wget``, ``httpd`` …)."""
    return parse(run([busybox, "--list"], timeout=30).stdout)
