"""Test-suite wiring: every sandbox the tests start lives under a private state directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_STATE_HOME: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _STATE_HOME
    if "SANDBOX_STATE_HOME" not in os.environ:
        _STATE_HOME = Path(tempfile.mkdtemp(prefix="sandbox-tests-"))
        os.environ["SANDBOX_STATE_HOME"] = str(_STATE_HOME)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _STATE_HOME is not None:
        from sandbox import lifecycle

        for name in lifecycle.all_sandboxes():
            lifecycle.down(name)
        shutil.rmtree(_STATE_HOME, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)
        elif "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
