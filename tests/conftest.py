"""Test-suite wiring: every sandbox the tests start lives under a private state directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
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


# Never stored and ignored: after each test, every Flux object of the session sandbox older than one reconcile
# (10 s) has a Ready condition — a controller's, or NotSupported's.
UNREPORTED_GRACE = 10.0


@pytest.fixture(autouse=True)
def _no_flux_object_without_status(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    from sandbox.errors import WaitTimeout
    from sandbox.pytest_plugin import shared_sandbox
    from sandbox.reconciler import verdict
    from sandbox.waiting import wait_until

    shared = shared_sandbox(request.config)
    if not shared.started:
        return
    kube = shared.get().kube
    try:
        wait_until(lambda: not verdict.unreported(kube, older_than=UNREPORTED_GRACE), timeout=UNREPORTED_GRACE,
                   what="every Flux object to have status", interval=0.5, max_interval=2.0)
    except WaitTimeout:
        pytest.fail("Flux objects without status (stored and ignored): "
                    f"{', '.join(verdict.unreported(kube, older_than=UNREPORTED_GRACE))}")
