"""The tenancy-lockdown feature: offered by a sandbox whose reconciler runs with the lockdown flags, else skipped
naming how to start one."""

from __future__ import annotations

from sandbox.reconciler.lockdown import Lockdown
from sandbox.scenario import features


def _status(lockdown: Lockdown | None) -> dict[str, object]:
    reconciler: dict[str, object] = {"receiver": "http://127.0.0.1:1"}
    if lockdown is not None:
        reconciler["lockdown"] = lockdown.record()
    return {"name": "s", "services": {"reconciler": reconciler}}


def test_a_locked_down_reconciler_offers_it() -> None:
    assert features.missing(["tenancy-lockdown"], _status(Lockdown.full())) == []
    assert features.missing(["tenancy-lockdown"], _status(Lockdown(no_cross_namespace_refs=True))) == []


def test_without_the_flags_the_reason_says_how_to_start_one() -> None:
    for status in (_status(None), _status(Lockdown()), _status(Lockdown(no_remote_bases=True))):
        [reason] = features.missing(["tenancy-lockdown"], status)
        assert "`sandbox up --tenancy-lockdown`" in reason and "--sandbox-tenancy-lockdown" in reason
    [reason] = features.missing(["tenancy-lockdown"], {"name": "s", "services": {}})
    assert "runs no reconciler" in reason
    assert features.not_available("tenancy-lockdown") is None
