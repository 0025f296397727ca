"""The session sandbox's --sandbox-kind-load-image / sandbox_kind_load_images: images for the kind cluster's nodes;
the flag is refused without --sandbox-cluster kind, the ini's project-wide list is for kind sessions only."""

from __future__ import annotations

import pytest

from sandbox.pytest_plugin import session_options
from tests.unit.fake_pytest_config import FakeConfig as FakeSessionConfig


def FakeConfig(cluster: str, flag: list[str], ini: list[str]) -> FakeSessionConfig:  # noqa: N802
    return FakeSessionConfig({"--sandbox-cluster": cluster, "--sandbox-kind-load-image": flag},
                             {"sandbox_kind_load_images": ini})


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
