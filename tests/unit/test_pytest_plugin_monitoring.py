"""The session sandbox starts with monitoring from the flag, or from the ini when the packages are installed."""

from __future__ import annotations

import pytest

from sandbox.monitoring import service
from sandbox.pytest_plugin import session_options


class FakeConfig:
    def __init__(self, flag: bool, ini: bool, lockdown: bool = False) -> None:
        self.flag, self.ini, self.lockdown = flag, ini, lockdown

    def getoption(self, name: str) -> object:
        return {"--sandbox-offline": None, "--sandbox-cluster": "embedded", "--sandbox-monitoring": self.flag,
                "--sandbox-tenancy-lockdown": self.lockdown, "--sandbox-kind-load-image": []}[name]

    def getini(self, name: str) -> object:
        return {"sandbox_offline": False, "sandbox_monitoring": self.ini, "sandbox_kind_load_images": []}[name]


@pytest.mark.parametrize(("flag", "ini", "missing", "monitoring"), [
    (False, False, [], False),
    (True, False, [], True),
    (False, True, [], True),
    (False, True, ["prometheus-alertmanager"], False),  # the scenario skips, naming the package
    (True, False, ["prometheus-alertmanager"], True),  # asked for outright: `up` fails naming it
], ids=["neither", "flag", "ini", "ini-without-packages", "flag-without-packages"])
def test_session_monitoring(monkeypatch: pytest.MonkeyPatch, flag: bool, ini: bool, missing: list[str],
                            monitoring: bool) -> None:
    monkeypatch.setattr(service, "missing", lambda: missing)
    options = session_options(FakeConfig(flag, ini))  # type: ignore[arg-type]
    assert (options.monitoring is not None) is monitoring


@pytest.mark.parametrize("lockdown", [False, True])
def test_session_tenancy_lockdown(lockdown: bool) -> None:
    options = session_options(FakeConfig(False, False, lockdown))  # type: ignore[arg-type]
    assert (options.default_service_account, options.no_cross_namespace_refs, options.no_remote_bases) == (
        ("default", True, True) if lockdown else ("", False, False))
