"""A sandbox started for `sandbox play` runs Prometheus and Alertmanager when the scenario needs monitoring."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.config import UpOptions
from sandbox.monitoring import service
from sandbox.scenario import player


@pytest.mark.parametrize(("needs", "missing", "monitoring"), [
    ((), [], False),
    (("monitoring",), [], True),
    (("monitoring",), ["prometheus"], False),  # then the scenario is skipped, naming the package
], ids=["not-needed", "needed", "not-installed"])
def test_sandbox_started_for_a_play(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, needs: tuple[str, ...],
                                    missing: list[str], monitoring: bool) -> None:
    started: list[UpOptions] = []

    class FakeHandle:
        def stop(self) -> None:
            pass

    monkeypatch.setenv("SANDBOX_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(service, "missing", lambda: missing)
    monkeypatch.setattr(player.SandboxHandle, "start", lambda options: started.append(options) or FakeHandle())
    with player.sandbox_for("fresh", needs=needs):
        pass
    assert (started[0].monitoring is not None) is monitoring
