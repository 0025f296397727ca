"""`sandbox up --reconciler flux`: upstream Flux's controllers as supervised processes follow the fleet repository;
a push reaches them through the sandbox's Receiver; `sandbox env` puts the real flux CLI on PATH; `down` leaves
nothing behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sandbox import reconciler_service
from sandbox.fluxdev import release
from sandbox.fluxdev.service import component_name
from sandbox.git.repo import commit_files
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler import identity, ops
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.notification import alertlog
from sandbox.sink import Sink
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

NAME = "e2e-flux"


@pytest.fixture(scope="module")
def flux_sandbox() -> Iterator[SandboxHandle]:
    if not release.ready():
        pytest.skip(f"needs upstream Flux {release.FLUX_RELEASE} built: `sandbox setup --flux`")
    result = run_cli("up", "--name", NAME, "--reconciler", "flux")
    assert result.exit_code == 0, result.output
    handle = SandboxHandle.attach(NAME)
    try:
        yield handle
    finally:
        run_cli("down", "--name", NAME)


def _can(kubeconfig: str, verb: str, resource: str) -> bool:
    """A SelfSubjectAccessReview, as the ServiceAccount of ``kubeconfig``, in flux-system."""
    name, _, sub = resource.partition("/")
    group = {"deployments": "apps", "gitrepositories": "source.toolkit.fluxcd.io"}[name]
    answer = KubeClient.from_kubeconfig(Path(kubeconfig)).request(
        "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", what="an access review",
        body={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"namespace": "flux-system", "verb": verb, "group": group,
                                              "resource": name, "subresource": sub}}})
    return bool(answer["status"]["allowed"])


def test_flux_controllers_run_and_are_reported(flux_sandbox: SandboxHandle) -> None:
    status = json.loads(run_cli("status", "--name", NAME, "-o", "json").stdout)
    names = {c["name"]: c for c in status["components"]}
    for controller in ("source-controller", "kustomize-controller", "helm-controller"):
        assert names[component_name(controller)]["state"] == "ready"
        assert names[component_name(controller)]["healthy"] is True
    flux = status["services"]["flux"]
    assert flux["release"] == release.FLUX_RELEASE
    assert "notification-controller" in flux["unavailable"]
    # Each authenticates as its own ServiceAccount with Flux's own RBAC (as `flux install` makes them), never as
    # the admin: source-controller may not create a Deployment, kustomize-controller (cluster-reconciler) may.
    for controller in ("source-controller", "kustomize-controller", "helm-controller"):
        each = flux["identities"][controller]
        assert each["user"] == f"system:serviceaccount:flux-system:{controller}"
        assert each["kubeconfig"] != status["kubeconfig"]
        assert identity.whoami(KubeClient.from_kubeconfig(Path(each["kubeconfig"]))) == each["user"]
    assert not _can(flux["identities"]["source-controller"]["kubeconfig"], "create", "deployments")
    assert _can(flux["identities"]["source-controller"]["kubeconfig"], "update", "gitrepositories/status")
    assert _can(flux["identities"]["kustomize-controller"]["kubeconfig"], "create", "deployments")
    env = run_cli("env", "--name", NAME).stdout
    assert f"export PATH={flux['bin_dir']}:" in env


def test_the_fleet_repository_is_applied_by_flux_s_kustomize_controller(flux_sandbox: SandboxHandle) -> None:
    kube = flux_sandbox.kube
    def fetched() -> str | None:
        source = kube.get(ops.GIT_REPOSITORY.api_version, "GitRepository", "fleet", "flux-system")
        return (source.get("status", {}).get("artifact") or {}).get("revision")

    assert wait_until(fetched, timeout=60, what="Flux's source-controller to fetch the fleet repository").startswith(
        "main@sha1:")
    sha = commit_files(flux_sandbox.git, "fleet", {"apps/hello.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n  namespace: default\ndata:\n  greeting: hi\n")},
        "hello")

    def applied() -> dict[str, object] | None:
        ks = kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", "fleet", "flux-system")
        return ks if ks.get("status", {}).get("lastAppliedRevision") == f"main@sha1:{sha}" else None

    wait_until(applied, timeout=60, what="Flux's kustomize-controller to apply the pushed commit")
    hello = kube.get("v1", "ConfigMap", "hello", "default")
    assert hello["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "fleet"
    managers = {m["manager"] for m in hello["metadata"]["managedFields"] if m["operation"] == "Apply"}
    assert managers == {"kustomize-controller"}


def test_upstream_controllers_events_reach_the_alerts(flux_sandbox: SandboxHandle) -> None:
    """Flux's kustomize-controller posts its events to the sandbox reconciler's event server (--events-addr):
    an Alert sends them to a Provider, with the revision."""
    kube = flux_sandbox.kube
    with Sink() as sink:
        provider = {"apiVersion": kinds.PROVIDER.api_version, "kind": "Provider",
                    "metadata": {"name": "upstream-sink", "namespace": "flux-system"},
                    "spec": {"type": "generic", "address": f"{sink.url}/upstream"}}
        alert = {"apiVersion": kinds.ALERT.api_version, "kind": "Alert",
                 "metadata": {"name": "upstream-sink", "namespace": "flux-system"},
                 "spec": {"providerRef": {"name": "upstream-sink"},
                          "eventSources": [{"kind": "Kustomization", "name": "fleet"}]}}
        try:
            kube.apply(provider, field_manager="e2e")
            kube.apply(alert, field_manager="e2e")
            sha = commit_files(flux_sandbox.git, "fleet", {"apps/alerted.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: alerted\n  namespace: default\n")}, "alerted")
            got = sink.wait_for(lambda r: str((r.body.get("metadata") or {}).get("revision", "")).endswith(sha),
                                timeout=90, what="upstream kustomize-controller's event at the sink")
        finally:
            kube.delete(kinds.ALERT.api_version, "Alert", "upstream-sink", "flux-system")
            kube.delete(kinds.PROVIDER.api_version, "Provider", "upstream-sink", "flux-system")
    assert got.body["reportingController"] == "kustomize-controller"
    assert got.body["involvedObject"]["name"] == "fleet" and got.body["severity"] == "info"
    # … and the delivery is in the alert log the recorder tails (`alert` entries), as with our reconciler
    log = reconciler_service.alert_log(flux_sandbox.state)
    wait_until(lambda: [line for line in alertlog.read(log) if line["outcome"] == "sent"
                        and line["message"] == got.body["message"]], timeout=10, what=f"the sent delivery in {log}")


def test_down_stops_every_flux_controller() -> None:
    if not release.ready():
        pytest.skip(f"needs upstream Flux {release.FLUX_RELEASE} built: `sandbox setup --flux`")
    name = "e2e-flux-down"
    assert run_cli("up", "--name", name, "--reconciler", "flux", "--git", "none").exit_code == 0
    status = json.loads(run_cli("status", "--name", name, "-o", "json").stdout)
    pids = [c["pid"] for c in status["components"] if c["name"].startswith("flux-")]
    assert len(pids) == 3
    run_cli("down", "--name", name)
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
