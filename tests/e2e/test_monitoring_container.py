"""`sandbox up --monitoring --monitoring-backend container`: Prometheus and Alertmanager as containers (the upstream
images or the stand-ins built from the Debian binaries) on the host network, reaching the reconciler's /metrics and
the kube-apiserver on 127.0.0.1, loading Flux's rules, delivering an alert to a webhook on the host's loopback; a
killed keeper's container is replaced, and `down` removes every container."""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.kube.client import KubeClient
from sandbox.monitoring import container, service
from sandbox.monitoring.client import Prometheus
from sandbox.sink import Sink
from sandbox.state import StateDir
from sandbox.tools import docker
from sandbox.waiting import wait_until


def _unavailable() -> str:
    ok, why = container.availability()
    return "" if ok else f"the monitoring container backend is unavailable: {why}"


pytestmark = pytest.mark.skipif(bool(_unavailable()), reason=_unavailable() or "available")
BROKEN = "monitoring-ctr-broken"


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with Sink() as started:
        yield started


@pytest.fixture(scope="module")
def monitored(sink: Sink) -> Iterator[str]:
    name = f"monitoring-ctr-{os.getpid()}"
    settings = MonitoringSettings(backend="container", failure_for="1s", webhook=f"{sink.url}/alerts")
    lifecycle.up(UpOptions(name=name, git="local", monitoring=settings, timeout=120))
    try:
        yield name
    finally:
        lifecycle.down(name)


@pytest.fixture(scope="module")
def prom(monitored: str) -> Prometheus:
    return service.client_of(StateDir(monitored))


def _containers(name: str, program: str) -> list[str]:
    return docker.labelled_containers({docker.LABEL_STATE_DIR: str(StateDir(name).path),
                                       docker.LABEL_COMPONENT: program})


def _component(name: str, program: str) -> dict[str, Any]:
    status = lifecycle.status(name, probe=False)
    return next(c for c in status["components"] if c["name"] == program)


def test_both_run_as_containers_of_the_configured_images(monitored: str) -> None:
    state = StateDir(monitored)
    assert state.read_record()[service.RECORD_KEY]["backend"] == "container"
    for program in (service.PROMETHEUS, service.ALERTMANAGER):
        (found,) = _containers(monitored, program)
        with docker.engine() as client:
            attrs = client.containers.get(found).attrs
        assert attrs["State"]["Running"] is True
        assert attrs["Config"]["Image"] == container.image_name(program)
        assert attrs["HostConfig"]["NetworkMode"] == "host"
    for path in service.root(state).glob("*.yml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_prometheus_scrapes_the_host_and_loads_the_rules(monitored: str, prom: Prometheus) -> None:
    prom.wait_for_series('up{job="gotk", component="reconciler"} == 1', timeout=60)
    prom.wait_for_series('up{job="apiserver"} == 1', timeout=60)
    groups = prom.rule_groups()
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert rules["ReconciliationFailure"]["health"] == "ok"
    prom.wait_for_series("gotk:resource_ready:bool", timeout=60)  # a recording rule, evaluated


def test_an_alert_reaches_a_webhook_on_the_host_s_loopback(monitored: str, prom: Prometheus, sink: Sink) -> None:
    kube = KubeClient.from_kubeconfig(StateDir(monitored).kubeconfig)
    kube.apply({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": BROKEN, "namespace": "flux-system"},
                "spec": {"interval": "1m", "path": "./", "prune": True,
                         "sourceRef": {"kind": "GitRepository", "name": "does-not-exist"}}},
               field_manager="test")
    prom.wait_for_alert("ReconciliationFailure", timeout=90)
    arrived = sink.wait_for(lambda r: isinstance(r.body, dict) and any(
        a["labels"].get("alertname") == "ReconciliationFailure" and a["labels"].get("name") == BROKEN
        for a in r.body.get("alerts", [])), timeout=60, what="ReconciliationFailure from Alertmanager's container")
    assert arrived.path == "/alerts"


def test_listens_on_loopback_only(monitored: str, prom: Prometheus) -> None:
    port = int(prom.url.rsplit(":", 1)[1])
    addresses = [c.laddr for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr]
    listening = {ip for ip, listen_port in addresses if listen_port == port}
    assert listening == {"127.0.0.1"}


def test_a_killed_keeper_is_restarted_and_its_container_replaced(monitored: str, prom: Prometheus) -> None:
    before = _component(monitored, service.PROMETHEUS)
    (old,) = _containers(monitored, service.PROMETHEUS)
    psutil.Process(before["pid"]).kill()  # the keeper dies outright: its container outlives it
    wait_until(lambda: (c := _component(monitored, service.PROMETHEUS))["restarts"] > before["restarts"]
               and c["state"] == "ready", timeout=90, what="the supervisor to restart the Prometheus keeper")
    # The new keeper removes the orphan before it starts its own container: one container, a new one.
    wait_until(lambda: (ids := _containers(monitored, service.PROMETHEUS)) and old not in ids and len(ids) == 1,
               timeout=60, what="the orphaned Prometheus container to be replaced")
    prom.wait_for_series('up{job="gotk"} == 1', timeout=60)


def test_down_removes_the_containers_of_killed_keepers_and_supervisor(monitored: str) -> None:
    state = StateDir(monitored)
    status = state.read_status() or {}
    supervisor = psutil.Process(status["supervisor_pid"])
    supervisor.send_signal(signal.SIGSTOP)  # so that it cannot restart the keepers before it dies too
    for program in (service.PROMETHEUS, service.ALERTMANAGER):
        psutil.Process(_component(monitored, program)["pid"]).kill()
    supervisor.kill()
    for program in (service.PROMETHEUS, service.ALERTMANAGER):
        assert len(_containers(monitored, program)) == 1, f"the {program} container outlived its keeper"
    lifecycle.down(monitored)
    assert docker.labelled_containers({docker.LABEL_STATE_DIR: str(state.path)}) == []
    assert not state.exists()
