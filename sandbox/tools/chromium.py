"""Headless Chromium: screenshots and the rendered DOM of a local HTML file (to check that generated pages
render). Offline by construction: no sync, no component updates, no background networking, a throw-away
profile."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sandbox import binaries
from sandbox.errors import CommandError, InputError
from sandbox.tools.run import run

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOW_TO_GET = "`apt-get install chromium`"
_QUIET_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
                "--hide-scrollbars")


def program() -> Path | None:
    """The Chromium (or Chrome) binary, or None when there is none."""
    for name in NAMES:
        found = binaries.find(name)
        if found is not None:
            return found.path
    return None


def require() -> Path:
    path = program()
    if path is None:
        raise InputError(f"chromium not found (looked for {', '.join(NAMES)}); install it with {HOW_TO_GET}")
    return path


def _url(page: Path) -> str:
    if not page.is_file():
        raise InputError(f"{page} does not exist; nothing to render")
    return page.resolve().as_uri()


def _run(args: list[str], page: Path, *, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="sandbox-chromium-") as profile:
        result = run([require(), *_QUIET_FLAGS, f"--user-data-dir={profile}", *args, _url(page)], timeout=timeout)
    return result.stdout


def screenshot(page: Path, png: Path, *, width: int = 1400, height: int = 900, timeout: float = 120) -> Path:
    """Render ``page`` in a ``width``×``height`` window and write a PNG of the viewport to ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _run([f"--screenshot={png}", f"--window-size={width},{height}"], page, timeout=timeout)
    if not png.is_file() or png.stat().st_size == 0:
        raise CommandError(f"chromium wrote no screenshot of {page} to {png}", argv=[str(require())])
    return png


def dump_dom(page: Path, *, timeout: float = 120) -> str:
    """The DOM of ``page`` after Chromium parsed and laid it out, serialised as HTML."""
    return _run(["--dump-dom"], page, timeout=timeout)
