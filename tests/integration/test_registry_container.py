"""The container backend's cleanup: every container is labelled with its sandbox and removed on `down`, even when
the process that kept it was killed outright."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.registry import container, oci
from sandbox.registry.base import endpoint_of
from sandbox.registry.service import RegistryService, choose_backend
from sandbox.state import StateDir
from sandbox.tools import docker
from tests.integration.helpers import running_services


@pytest.fixture(autouse=True)
def needs_container_backend() -> None:
    ok, why = container.availability(container.image_name())
    if not ok:
        pytest.skip(f"container registry backend unavailable: {why}")


def test_killed_keeper_and_supervisor_leave_a_container_that_down_removes() -> None:
    name = f"it-registry-crash-{os.getpid()}"
    with running_services(name, [RegistryService()], UpOptions(name=name, registry="container")):
        state = StateDir(name)
        labels = {docker.LABEL_STATE_DIR: str(state.path)}
        (container_id,) = docker.labelled_containers(labels)
        oci.push_synthetic_image(endpoint_of(name).host, "crash/app", "v1")
        status = state.read_status() or {}
        keeper = next(c["pid"] for c in status["components"] if c["name"] == "registry")
        supervisor = psutil.Process(status["supervisor_pid"])
        supervisor.send_signal(signal.SIGSTOP)  # so that it cannot restart the keeper before it dies too
        psutil.Process(keeper).kill()
        supervisor.kill()
        assert docker.labelled_containers(labels) == [container_id], "the container outlived its keeper"
        assert lifecycle.down(name)
        assert docker.labelled_containers(labels) == []


def test_auto_prefers_the_container_when_the_image_is_there() -> None:
    assert choose_backend("auto") == "container"
    assert choose_backend("local") == "local"


def test_missing_image_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(container.IMAGE_ENV, "local/no-such-registry:0")
    with pytest.raises(Exception, match="'local/no-such-registry:0' is not present locally"):
        choose_backend("container")
    assert choose_backend("auto") == "local"
