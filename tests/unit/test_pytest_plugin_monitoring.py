"""The session sandbox starts with monitoring from the flag, or from the ini when the packages are installed."""

from __future__ import annotations

import pytest

from sandbox.errors import InputError
from sandbox.monitoring import service
from sandbox.pytest_plugin import session_options


class FakeConfig:
    def __init__(self, flag: bool, ini: bool, lockdown: bool = False, requeue: tuple[str | None, str] = (None, ""),
                 ) -> None:
        self.flag, self.ini, self.lockdown, self.requeue = flag, ini, lockdown, requeue

    def getoption(self, name: str) -> object:
        return {"--sandbox-offline": None, "--sandbox-cluster": "embedded", "--sandbox-monitoring": self.flag,
                "--sandbox-tenancy-lockdown": self.lockdown, "--sandbox-requeue-dependency": self.requeue[0]}[name]

    def getini(self, name: str) -> object:
        return {"sandbox_offline": False, "sandbox_monitoring": self.ini,
                "sandbox_requeue_dependency": self.requeue[1]}[name]


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


@pytest.mark.parametrize(("flag", "ini", "expected"), [
    (None, "", ""),  # the controllers' default (30s)
    (None, "5s", "5s"),
    ("90s", "5s", "1m30s"),  # the flag wins; written as Go prints it, as Flux's messages quote it
])
def test_session_requeue_dependency(flag: str | None, ini: str, expected: str) -> None:
    options = session_options(FakeConfig(False, False, requeue=(flag, ini)))  # type: ignore[arg-type]
    assert options.requeue_dependency == expected


@pytest.mark.parametrize("bad", ["soon", "0s", "-5s"])
def test_a_bad_requeue_dependency_names_the_ini_option(bad: str) -> None:
    with pytest.raises(InputError, match="sandbox_requeue_dependency"):
        session_options(FakeConfig(False, False, requeue=(None, bad)))  # type: ignore[arg-type]
