"""`sandbox up --reconciler flux --monitoring`: upstream Flux's controllers do not export gotk_resource_info;
kube-state-metrics (built from its Go module) makes it from the Flux objects with the custom-resource-state
configuration of flux2-monitoring-example, Prometheus scrapes it as job kube-state-metrics, and Flux's
ReconciliationFailure rule fires for a broken Kustomization reconciled by Flux's kustomize-controller."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.fluxdev import release, statemetrics
from sandbox.kube.client import KubeClient
from sandbox.monitoring import service
from sandbox.monitoring.client import Prometheus
from sandbox.state import StateDir

BROKEN = "flux-monitoring-broken"


@pytest.fixture(scope="module")
def flux_monitored() -> Iterator[str]:
    if not release.ready():
        pytest.skip(f"needs upstream Flux {release.FLUX_RELEASE} built: `sandbox setup --flux`")
    if statemetrics.installed() is None:
        pytest.skip(f"needs kube-state-metrics {statemetrics.VERSION} built: `sandbox setup --flux`")
    if service.missing():
        pytest.skip(f"monitoring needs the Debian packages {', '.join(service.missing())}")
    name = f"flux-monitoring-{os.getpid()}"
    lifecycle.up(UpOptions(name=name, git="local", reconciler="flux",
                           monitoring=MonitoringSettings(failure_for="1s"), timeout=180))
    try:
        yield name
    finally:
        lifecycle.down(name)


@pytest.fixture(scope="module")
def prom(flux_monitored: str) -> Prometheus:
    return service.client_of(StateDir(flux_monitored))


def test_kube_state_metrics_gives_gotk_resource_info_of_flux_objects(flux_monitored: str, prom: Prometheus) -> None:
    record = StateDir(flux_monitored).read_record()["flux"]["kube_state_metrics"]
    assert "absent" not in record and record["version"] == statemetrics.VERSION
    prom.wait_for_series('up{job="kube-state-metrics"} == 1', timeout=60)
    series = prom.wait_for_series('gotk_resource_info{job="kube-state-metrics", customresource_kind="GitRepository", '
                                  'name="fleet", ready="True"}', timeout=90)
    labels = series[0]["metric"]
    assert labels["customresource_group"] == "source.toolkit.fluxcd.io"
    assert labels["customresource_version"] == "v1"
    assert labels["exported_namespace"] == "flux-system"
    assert labels["revision"].startswith("main@sha1:")
    assert labels["url"].startswith("http://127.0.0.1:")
    # Flux's own controllers give the reconcile durations, scraped as job gotk.
    prom.wait_for_series('gotk_reconcile_duration_seconds_count{job="gotk", kind="GitRepository"}', timeout=90)


def test_a_broken_kustomization_fires_reconciliation_failure_under_flux(flux_monitored: str,
                                                                        prom: Prometheus) -> None:
    kube = KubeClient.from_kubeconfig(StateDir(flux_monitored).kubeconfig)
    kube.apply({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": BROKEN, "namespace": "flux-system"},
                "spec": {"interval": "1m", "path": "./", "prune": True, "suspend": False,
                         "sourceRef": {"kind": "GitRepository", "name": "does-not-exist"}}},
               field_manager="test")
    series = prom.wait_for_series(f'gotk_resource_info{{ready="False", name="{BROKEN}"}}', timeout=90)
    labels = series[0]["metric"]
    assert labels["job"] == "kube-state-metrics"
    assert labels["customresource_kind"] == "Kustomization"
    assert labels["source_name"] == "does-not-exist"
    assert labels["suspended"] == "false"
    alert = prom.wait_for_alert("ReconciliationFailure", timeout=90)
    assert alert["labels"]["name"] == BROKEN
    assert alert["labels"]["customresource_kind"] == "Kustomization"
