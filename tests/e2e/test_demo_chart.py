"""The demo chart on a running sandbox: `sandbox up` published every version over HTTP and as OCI, Helm's own SDK
installs it from there and waits for it, and its ``failure`` values make a real Helm upgrade fail its wait."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import helm_python as helm
import pytest

from sandbox import demochart, helmrepo
from sandbox.handle import SandboxHandle
from sandbox.registry import oci


@pytest.fixture
def namespace(sandbox: SandboxHandle) -> Iterator[str]:
    name = f"demo-chart-{uuid.uuid4().hex[:6]}"
    sandbox.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        sandbox.kube.delete("v1", "Namespace", name)


def test_up_published_every_version_over_http_and_oci(sandbox: SandboxHandle, tmp_path: Path) -> None:
    versions = demochart.versions()
    listed = [(c["name"], c["version"]) for c in helmrepo.list_charts(sandbox.name) if c["name"] == "webapp"]
    assert sorted(listed) == [("webapp", version) for version in versions]
    assert sandbox.status["services"]["charts"]["demo"] == {"name": "webapp", "versions": versions}
    host = sandbox.status["services"]["registry"]["host"]
    assert sorted(oci.chart_versions(host, "webapp")) == versions
    for version in versions:
        archive = oci.pull_chart(host, "webapp", version, tmp_path / version)
        with helm.Chart.load(archive) as chart:
            assert chart.version == version and chart.schema is not None


def test_helm_installs_it_from_the_repository_and_a_crashing_upgrade_fails_its_wait(sandbox: SandboxHandle,
                                                                                    namespace: str) -> None:
    url = helmrepo.repository_url(sandbox.name)
    with helm.Config(kubeconfig_path=str(sandbox.kubeconfig), namespace=namespace, storage_driver="secret") as config:
        installed = config.install("webapp", "web", {"message": "installed"}, namespace=namespace,
                                   chart_repo_url=url, chart_version="0.1.0", wait="watcher", timeout=60)
        assert (installed["status"], installed["chart_version"]) == ("deployed", "0.1.0")
        deployment = sandbox.kube.get("apps/v1", "Deployment", "web-webapp", namespace)
        assert deployment["status"].get("readyReplicas") == 1

        with pytest.raises(helm.HelmError):
            config.upgrade("webapp", "web", {"failure": "crash"}, namespace=namespace, chart_repo_url=url,
                           chart_version="0.2.0", wait="watcher", timeout=5)
        history = sorted((r["revision"], r["status"], r["chart_version"]) for r in config.history("web"))
        assert history[1] == (2, "failed", "0.2.0") and history[0][:1] == (1,) and history[0][2] == "0.1.0"
        # the old pod keeps serving while the new one crash-loops
        deployment = sandbox.kube.get("apps/v1", "Deployment", "web-webapp", namespace)
        assert deployment["status"].get("readyReplicas") == 1 and deployment["status"].get("unavailableReplicas")


def test_helm_test_passes_and_fails_on_purpose(sandbox: SandboxHandle, namespace: str) -> None:
    url = helmrepo.repository_url(sandbox.name)
    with helm.Config(kubeconfig_path=str(sandbox.kubeconfig), namespace=namespace, storage_driver="secret") as config:
        config.install("webapp", "checked", {}, namespace=namespace, chart_repo_url=url, chart_version="0.2.0",
                       wait="watcher", timeout=60)
        passed = config.test("checked", timeout=60)
        assert passed["release"]["status"] == "deployed"

        config.upgrade("webapp", "checked", {"tests": {"fail": True}}, namespace=namespace, chart_repo_url=url,
                       chart_version="0.2.0", wait="watcher", timeout=60)
        with pytest.raises(helm.HelmError) as failed:
            config.test("checked", timeout=60)
        assert "checked-webapp-test" in str(failed.value)
        pod = sandbox.kube.get_or_none("v1", "Pod", "checked-webapp-test", namespace)
        assert pod is None or pod["status"]["phase"] == "Failed"
