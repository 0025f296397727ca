"""What `sandbox up --cluster kind` refuses before anything starts, each saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.errors import InputError


@pytest.mark.parametrize(("change", "says"), [
    ({"clusters": ("mgmt", "staging")}, "--clusters"),
    ({"monitoring": MonitoringSettings()}, "--monitoring"),
    ({"strict_images": True}, "--strict-images"),
    ({"registry": "local"}, "--registry local"),
])
def test_kind_refuses_what_it_cannot_do(change: dict[str, object], says: str) -> None:
    options = UpOptions(name="k", cluster="kind", **change)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=says):
        lifecycle._kind_options(options)


def test_kind_without_the_kind_binary_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lifecycle.docker, "usable", lambda: (True, ""))
    monkeypatch.setenv("SANDBOX_KIND", str(tmp_path / "absent"))
    with pytest.raises(InputError, match="SANDBOX_KIND"):
        lifecycle._kind_options(UpOptions(name="k", cluster="kind"))


def test_the_registry_wiring_comes_from_the_registry_plan() -> None:
    from sandbox.services import ServicePlan

    plans = [ServicePlan(record={"git": {"url": "http://127.0.0.1:1"}}),
             ServicePlan(record={"registry": {"backend": "container", "host": "127.0.0.1:41234",
                                              "hosts": ["127.0.0.1:41234", "localhost:41234"]}})]
    wiring = lifecycle._kind_registry(UpOptions(name="demo", cluster="kind"), plans)
    assert wiring is not None
    assert (wiring.port, wiring.alias, wiring.in_network) == (41234, "sandbox-demo-registry",
                                                              "sandbox-demo-registry:5000")
    assert wiring.host_addresses == ("127.0.0.1:41234", "localhost:41234")
    assert lifecycle._kind_registry(UpOptions(name="demo"), plans) is None  # the embedded cluster needs none
