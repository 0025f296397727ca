"""A stand-in for ``pytest.Config`` holding the plugin's session options, each at pytest's default unless given:
what ``sandbox.pytest_plugin.session_options`` reads, one place to add an option to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OPTIONS: dict[str, Any] = {"--sandbox-offline": None, "--sandbox-cluster": "embedded", "--sandbox-monitoring": False,
                           "--sandbox-tenancy-lockdown": False, "--sandbox-requeue-dependency": None,
                           "--sandbox-kind-load-image": []}
INI: dict[str, Any] = {"sandbox_offline": False, "sandbox_monitoring": False, "sandbox_requeue_dependency": "",
                       "sandbox_kind_load_images": []}


class FakeConfig:
    def __init__(self, options: Mapping[str, Any] | None = None, ini: Mapping[str, Any] | None = None) -> None:
        unknown = set(options or {}) - set(OPTIONS) | set(ini or {}) - set(INI)
        assert not unknown, f"not a session option: {unknown}"
        self.options = {**OPTIONS, **(options or {})}
        self.ini = {**INI, **(ini or {})}

    def getoption(self, name: str) -> object:
        return self.options[name]

    def getini(self, name: str) -> object:
        return self.ini[name]
