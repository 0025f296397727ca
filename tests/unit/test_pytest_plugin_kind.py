"""The session sandbox's --sandbox-kind-load-image / sandbox_kind_load_images: images for the kind cluster's nodes;
the flag is refused without --sandbox-cluster kind, the ini's project-wide list is for kind sessions only."""

from __future__ import annotations

import pytest

from sandbox.pytest_plugin import session_options


class FakeConfig:
    def __init__(self, cluster: str, flag: list[str], ini: list[str]) -> None:
        self.cluster, self.flag, self.ini = cluster, flag, ini

    def getoption(self, name: str) -> object:
        return {"--sandbox-offline": None, "--sandbox-cluster": self.cluster, "--sandbox-monitoring": False,
                "--sandbox-tenancy-lockdown": False, "--sandbox-kind-load-image": self.flag}[name]

    def getini(self, name: str) -> object:
        return {"sandbox_offline": False, "sandbox_monitoring": False,
                "sandbox_kind_load_images": self.ini}[name]


def test_kind_session_loads_the_ini_and_flag_images_once_each() -> None:
    options = session_options(FakeConfig("kind", ["my/app:dev", "nginx:1.25"], ["nginx:1.25", "postgres:16"]))  # type: ignore[arg-type]
    assert options.cluster == "kind"
    assert options.kind_load_images == ("nginx:1.25", "postgres:16", "my/app:dev")


def test_the_flag_without_kind_is_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match="needs --sandbox-cluster kind"):
        session_options(FakeConfig("embedded", ["my/app:dev"], []))  # type: ignore[arg-type]


def test_the_ini_list_does_not_apply_to_an_embedded_session() -> None:
    options = session_options(FakeConfig("embedded", [], ["nginx:1.25"]))  # type: ignore[arg-type]
    assert options.kind_load_images == ()
