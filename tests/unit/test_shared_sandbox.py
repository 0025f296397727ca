"""The session's shared sandbox: a failed start is reported to every test, not retried for each."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.config import UpOptions
from sandbox.errors import NotRunning, SandboxError
from sandbox.handle import SharedSandbox


def test_a_failed_start_is_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_STATE_HOME", str(tmp_path))
    shared = SharedSandbox(UpOptions(name="unused"), reuse="not-running")
    with pytest.raises(NotRunning, match="'not-running' is not up"):
        shared.get()
    with pytest.raises(SandboxError, match="could not be started: sandbox 'not-running' is not up"):
        shared.get()
    assert not shared.started
    shared.close()  # nothing to stop
