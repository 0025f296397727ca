"""The session sandbox starts with monitoring from the flag, or from the ini when the packages are installed."""

from __future__ import annotations

import pytest

from sandbox.errors import InputError
from sandbox.monitoring import service
from sandbox.pytest_plugin import session_options
from tests.unit.fake_pytest_config import FakeConfig as FakeSessionConfig


def FakeConfig(flag: bool, ini: bool, lockdown: bool = False,  # noqa: N802
               requeue: tuple[str | None, str] = (None, "")) -> FakeSessionConfig:
    return FakeSessionConfig({"--sandbox-monitoring": flag, "--sandbox-tenancy-lockdown": lockdown,
                              "--sandbox-requeue-dependency": requeue[0]},
                             {"sandbox_monitoring": ini, "sandbox_requeue_dependency": requeue[1]})


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
