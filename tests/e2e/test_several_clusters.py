"""Several clusters in one sandbox (`sandbox up --clusters mgmt,staging,production`): each workload cluster runs
Deployments to running pods, its kubeconfig Secret in mgmt reaches it, `status`/`env` list them, `down` stops all."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.kube.kubeconfig import loads
from sandbox.state import StateDir
from sandbox.waiting import wait_until
from tests.e2e.helpers import processes_mentioning, run_cli

WORKLOADS = ("staging", "production")


@pytest.fixture(scope="module")
def fleet() -> Iterator[SandboxHandle]:
    handle = SandboxHandle.start(UpOptions(name=f"e2e-fleet-{os.getpid()}", git="local", registry="local",
                                           clusters=("mgmt", *WORKLOADS), timeout=120,
                                           requeue_dependency="5s"))  # fleet's dependsOn: as the session's
    try:
        yield handle
    finally:
        handle.stop()


def remote(fleet: SandboxHandle, cluster: str) -> KubeClient:
    """A client for ``cluster`` built from the Secret in mgmt, as the reconciler builds it."""
    secret = fleet.kube.get("v1", "Secret", f"{cluster}-kubeconfig", "flux-system")
    return KubeClient(loads(base64.b64decode(secret["data"]["value"]).decode(), f"Secret {cluster}-kubeconfig"))


def test_status_lists_every_cluster(fleet: SandboxHandle) -> None:
    result = run_cli("status", "--name", fleet.name, "-o", "json")
    assert result.exit_code == 0, result.output
    clusters = {c["name"]: c for c in json.loads(result.output)["clusters"]}
    assert set(clusters) == {"mgmt", *WORKLOADS}
    assert clusters["mgmt"]["management"] and not clusters["staging"]["management"]
    assert all(c["healthy"] for c in clusters.values())
    assert clusters["staging"]["secret"] == "flux-system/staging-kubeconfig"
    assert clusters["staging"]["server"] != clusters["production"]["server"] != clusters["mgmt"]["server"]


def test_env_names_the_cluster_kubeconfig(fleet: SandboxHandle) -> None:
    result = run_cli("env", "--name", fleet.name, "--cluster", "staging")
    assert result.exit_code == 0, result.output
    path = result.output.split("KUBECONFIG=", 1)[1].split()[0]
    server = yaml.safe_load(Path(path).read_text())["clusters"][0]["cluster"]["server"]
    assert server == {c["name"]: c["server"] for c in fleet.status["clusters"]}["staging"]
    unknown = run_cli("env", "--name", fleet.name, "--cluster", "qa")
    assert unknown.exit_code != 0 and "no cluster 'qa'" in unknown.output


@pytest.mark.parametrize("cluster", WORKLOADS)
def test_workload_cluster_runs_a_deployment(fleet: SandboxHandle, cluster: str) -> None:
    kube = remote(fleet, cluster)
    kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "hello", "namespace": "default"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello"}},
                         "template": {"metadata": {"labels": {"app": "hello"}},
                                      "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}},
               field_manager="e2e")

    def available() -> bool:
        obj = kube.get("apps/v1", "Deployment", "hello", "default")
        return bool(obj.get("status", {}).get("availableReplicas") == 1)

    wait_until(available, timeout=60, what=f"the Deployment in {cluster} to have a running pod")
    assert fleet.kube.get_or_none("apps/v1", "Deployment", "hello", "default") is None


def test_down_stops_every_cluster() -> None:
    name = f"e2e-fleet-down-{os.getpid()}"
    handle = SandboxHandle.start(UpOptions(name=name, git="none", registry="local", reconciler="none",
                                           clusters=("mgmt", "staging"), timeout=120))
    path = str(StateDir(name).path)
    assert any("clusters/staging" in " ".join(p.cmdline()) for p in processes_mentioning(path))
    handle.stop()
    assert processes_mentioning(path) == []
    assert not StateDir(name).exists()



def test_killed_supervisor_takes_every_cluster_with_it() -> None:
    name = f"e2e-fleet-crash-{os.getpid()}"
    SandboxHandle.start(UpOptions(name=name, git="none", registry="local", reconciler="none",
                                  clusters=("mgmt", "staging"), timeout=120))
    state = StateDir(name)
    status = state.read_status()
    assert status is not None
    pids = {c["name"]: c["pid"] for c in status["components"]}
    assert "staging-kube-apiserver" in pids
    psutil.Process(status["supervisor_pid"]).kill()

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def survivors() -> list[str]:
        return [n for n, pid in pids.items() if alive(pid)]

    wait_until(lambda: not survivors(), timeout=30, what="every cluster's components to exit after the supervisor",
               describe=lambda: f"still running: {', '.join(survivors())}")
    assert run_cli("down", "--name", name).exit_code == 0
    assert not state.exists()


APP = {
    "kustomization.yaml": "resources: [app.yaml, extra.yaml]\n",
    "app.yaml": """apiVersion: v1
kind: Namespace
metadata: {name: fleet-app}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: fleet-app}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.25"}]}
""",
    "extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: fleet-app}\ndata: {a: b}\n",
}


def test_kustomization_with_kubeconfig_applies_prunes_and_checks_health_remotely(fleet: SandboxHandle) -> None:
    staging = remote(fleet, "staging")
    repo = fleet.new_repo("remote", files=APP)
    name = repo.kustomization(wait=True, prune=True, timeout="90s",
                              kubeConfig={"secretRef": {"name": "staging-kubeconfig"}})
    ks = repo.wait_applied(name, sha=repo.head, timeout=120)
    assert staging.get("apps/v1", "Deployment", "web", "fleet-app")["status"]["availableReplicas"] == 1
    assert fleet.kube.get_or_none("v1", "Namespace", "fleet-app") is None
    assert remote(fleet, "production").get_or_none("v1", "Namespace", "fleet-app") is None
    ids = {e["id"] for e in ks["status"]["inventory"]["entries"]}
    assert {"_fleet-app__Namespace", "fleet-app_web_apps_Deployment", "fleet-app_extra__ConfigMap"} <= ids
    healthy = next(c for c in ks["status"]["conditions"] if c["type"] == "Healthy")
    assert healthy["status"] == "True"
    # `sandbox diff kustomization` compares with the remote cluster: in sync there (all of it absent in mgmt)
    from sandbox.reconciler import diffs

    report = diffs.diff_kustomization(fleet.kube, name, "flux-system")
    assert not report.changed, report.to_data()

    sha = repo.commit({"kustomization.yaml": "resources: [app.yaml]\n", "extra.yaml": None}, "Drop extra")
    repo.wait_applied(name, sha=sha, timeout=120)
    wait_until(lambda: staging.get_or_none("v1", "ConfigMap", "extra", "fleet-app") is None, timeout=30,
               what="the ConfigMap to be pruned in staging")
    repo.delete()
    wait_until(lambda: staging.get_or_none("apps/v1", "Deployment", "web", "fleet-app") is None, timeout=60,
               what="the Deployment to be pruned in staging when the Kustomization is deleted")


@pytest.mark.parametrize(("secret_ref", "message"), [
    ({"name": "no-such-kubeconfig"},
     "unable to read KubeConfig secret 'flux-system/no-such-kubeconfig' error: secrets \"no-such-kubeconfig\" "
     "not found"),
    ({"name": "staging-kubeconfig", "key": "config"},
     "KubeConfig secret 'flux-system/staging-kubeconfig' does not contain a 'config' key with a kubeconfig"),
])
def test_unreadable_kubeconfig_fails_with_fluxs_message(fleet: SandboxHandle, secret_ref: dict[str, str],
                                                        message: str) -> None:
    repo = fleet.new_repo("badkc", files={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, "
                                                     "namespace: default}\n"})
    name = repo.kustomization(kubeConfig={"secretRef": secret_ref})
    ks = repo.wait_failed(name, timeout=60)
    ready = next(c for c in ks["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == ("ReconciliationFailed", message)
    assert fleet.kube.get_or_none("v1", "ConfigMap", "x", "default") is None
    repo.delete()


def test_helmrelease_with_kubeconfig_installs_and_uninstalls_remotely(fleet: SandboxHandle, tmp_path: Path) -> None:
    from tests.e2e.test_helmrelease import HelmApp

    app = HelmApp(fleet, tmp_path)
    staging = remote(fleet, "staging")
    try:
        kubeconfig = fleet.kube.get("v1", "Secret", "staging-kubeconfig", "flux-system")["data"]["value"]
        fleet.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "staging", "namespace":
                                                                             app.namespace},
                          "data": {"value.yaml": kubeconfig}}, field_manager="e2e")
        staging.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app.namespace}},
                      field_manager="e2e")  # the release's (and its storage's) namespace in the remote cluster
        app.source(app.push())
        app.release("web", timeout="90s", kubeConfig={"secretRef": {"name": "staging"}})
        ready = app.wait_ready("web", "Helm install succeeded", timeout=120)
        assert staging.get("v1", "ConfigMap", "web-settings", app.namespace)["data"]["message"] == "hello"
        assert app.configmap("web") is None  # not in the management cluster
        assert staging.list("v1", "Secret", app.namespace, label_selector="owner=helm").items  # the release
        ids = {e["id"] for e in ready["status"]["inventory"]["entries"]}
        assert f"{app.namespace}_web-settings__ConfigMap" in ids
    finally:
        app.close()
    wait_until(lambda: staging.get_or_none("v1", "ConfigMap", "web-settings", app.namespace) is None, timeout=60,
               what="the release to be uninstalled from staging")


def test_helmrelease_with_a_missing_kubeconfig_secret(fleet: SandboxHandle, tmp_path: Path) -> None:
    from tests.e2e.test_helmrelease import HelmApp

    app = HelmApp(fleet, tmp_path)
    try:
        app.source(app.push())
        app.release("web", kubeConfig={"secretRef": {"name": "absent"}})
        failed = app.wait(
            "web", lambda obj: (next((c for c in (obj.get("status") or {}).get("conditions", [])
                                      if c["type"] == "Ready"), {}).get("reason") == "RESTClientError"),
            "to fail with RESTClientError")
        ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
        assert ready["message"] == f"could not get KubeConfig secret '{app.namespace}/absent': secrets \"absent\" " \
                                   "not found"
        assert app.configmap("web") is None
    finally:
        app.close()


def admin_role_aggregated(kube: KubeClient) -> None:
    """Wait for the built-in ``admin`` ClusterRole to get its rules (the clusterrole-aggregation controller)."""
    wait_until(lambda: kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", "admin").get("rules"), timeout=60,
               what="the admin ClusterRole to be aggregated in the workload cluster")


def test_kubeconfig_and_service_account_impersonate_it_in_the_remote_cluster(fleet: SandboxHandle) -> None:
    """As fluxcd/pkg's impersonator: the remote cluster's client, then the ServiceAccount impersonated there (it
    exists only in staging, in a namespace named as the Kustomization's)."""
    from sandbox.reconciler import ops
    from tests.e2e.test_tenancy import _cluster_admin_for, _configmap, _grant

    staging = remote(fleet, "staging")
    admin_role_aggregated(staging)
    tenant = "fleet-tenant"
    _grant(staging, service_account="deployer", sa_namespace="flux-system", role="admin", namespace=tenant)
    user = "system:serviceaccount:flux-system:deployer"
    repo = fleet.new_repo("remote-sa", files={"a.yaml": _configmap("a", tenant),
                                              "crb.yaml": _cluster_admin_for("fleet-escalate", "deployer",
                                                                             "flux-system")})
    name = repo.kustomization(prune=True, serviceAccountName="deployer",
                              kubeConfig={"secretRef": {"name": "staging-kubeconfig"}})
    failed = repo.wait_failed(name, timeout=90)
    ready = ops.ready_condition(failed)
    assert ready["reason"] == "ReconciliationFailed"
    assert "ClusterRoleBinding/fleet-escalate dry-run failed (Forbidden): " in ready["message"]
    assert f'User "{user}" cannot' in ready["message"]
    assert staging.get_or_none("v1", "ConfigMap", "a", tenant) is None  # nothing of the revision applied

    sha = repo.commit({"crb.yaml": None}, "within the tenant's rights")
    repo.wait_applied(name, sha=sha, timeout=90)
    assert staging.get("v1", "ConfigMap", "a", tenant) is not None
    assert fleet.kube.get_or_none("v1", "Namespace", tenant) is None  # not in the management cluster

    # As kustomize-controller, whether the account exists is asked of the management cluster, where it is not:
    # nothing is pruned, a Warning lists what stays, and the Kustomization goes.
    fleet.kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
    wait_until(lambda: fleet.kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", name,
                                              "flux-system") is None,
               timeout=30, what="the Kustomization to be deleted")
    assert staging.get_or_none("v1", "ConfigMap", "a", tenant) is not None
    events = ops.events(fleet.kube, "flux-system", for_object=f"Kustomization/{name}")
    assert any(e["type"] == "Warning" and e["message"] == f"unable to prune objects: \nConfigMap/{tenant}/a"
               for e in events)
    repo.delete()
    staging.delete("v1", "Namespace", tenant)


def test_helmrelease_with_kubeconfig_installs_as_its_service_account_in_the_remote_cluster(
        fleet: SandboxHandle, tmp_path: Path) -> None:
    from sandbox.reconciler import ops
    from tests.e2e.test_helmrelease import HelmApp
    from tests.e2e.test_tenancy import _grant

    app = HelmApp(fleet, tmp_path)
    staging = remote(fleet, "staging")
    try:
        kubeconfig = fleet.kube.get("v1", "Secret", "staging-kubeconfig", "flux-system")["data"]["value"]
        fleet.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "staging", "namespace":
                                                                             app.namespace},
                          "data": {"value": kubeconfig}}, field_manager="e2e")
        # In staging only: "deployer" may manage the release's namespace, "viewer" may only read it.
        admin_role_aggregated(staging)
        _grant(staging, service_account="deployer", sa_namespace=app.namespace, role="admin",
               namespace=app.namespace)
        _grant(staging, service_account="viewer", sa_namespace=app.namespace, role="view", namespace=app.namespace)
        app.source(app.push())
        app.release("allowed", timeout="90s", serviceAccountName="deployer",
                    kubeConfig={"secretRef": {"name": "staging"}})
        app.wait_ready("allowed", "Helm install succeeded", timeout=120)
        assert staging.get("v1", "ConfigMap", "allowed-settings", app.namespace) is not None
        assert staging.list("v1", "Secret", app.namespace, label_selector="owner=helm,name=allowed").items
        assert app.configmap("allowed") is None  # not in the management cluster

        app.release("refused", serviceAccountName="viewer", kubeConfig={"secretRef": {"name": "staging"}})
        user = f"system:serviceaccount:{app.namespace}:viewer"
        app.wait("refused", lambda obj: f'User "{user}" cannot' in ops.ready_condition(obj).get("message", ""),
                 "to fail as its ServiceAccount in staging", timeout=90)
        assert staging.get_or_none("v1", "ConfigMap", "refused-settings", app.namespace) is None
    finally:
        app.close()
    # helm-controller checks the ServiceAccount only without kubeConfig: uninstalled from staging as "deployer".
    wait_until(lambda: staging.get_or_none("v1", "ConfigMap", "allowed-settings", app.namespace) is None,
               timeout=60, what="the release to be uninstalled from staging")
    staging.delete("v1", "Namespace", app.namespace)


def test_the_fleet_scenario_passes_on_a_sandbox_with_its_clusters(fleet: SandboxHandle) -> None:
    from sandbox.scenario import loader, runner

    scenario = loader.load(Path(__file__).parents[2] / "scenarios" / "fleet")
    assert "cluster/staging" in scenario.needs
    result = runner.run(scenario, fleet)
    assert result.passed
    staging = remote(fleet, "staging")
    wait_until(lambda: not staging.list("apps/v1", "Deployment", label_selector="env=staging").items,
               timeout=60, what="the scenario's Deployment to be pruned from staging after the run")


def test_kustomization_with_configmapref_generic_applies_with_the_management_clusters_token(
        fleet: SandboxHandle) -> None:
    """Flux's generic workload identity: the ConfigMap flux-system/staging-kubeconfig (provider generic, address,
    ca.crt), a token of the reconciler's own ServiceAccount from mgmt, trusted by staging's JWT authenticator."""
    staging = remote(fleet, "staging")
    data = fleet.kube.get("v1", "ConfigMap", "staging-kubeconfig", "flux-system")["data"]
    assert data["provider"] == "generic" and data["address"] == {c["name"]: c["server"] for c in
                                                                  fleet.status["clusters"]}["staging"]
    repo = fleet.new_repo("wi", files={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: via-identity, "
                                                  "namespace: default}\ndata: {how: generic}\n"})
    name = repo.kustomization(prune=True, retryInterval="3s",
                              kubeConfig={"configMapRef": {"name": "staging-kubeconfig"}})
    repo.wait_applied(name, sha=repo.head, timeout=120)
    assert staging.get("v1", "ConfigMap", "via-identity", "default")["data"] == {"how": "generic"}
    assert fleet.kube.get_or_none("v1", "ConfigMap", "via-identity", "default") is None
    repo.delete()
    wait_until(lambda: staging.get_or_none("v1", "ConfigMap", "via-identity", "default") is None, timeout=60,
               what="the ConfigMap to be pruned from staging")


def test_configmapref_of_a_cloud_provider_is_not_supported(fleet: SandboxHandle) -> None:
    from sandbox.reconciler import ops

    fleet.kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "eks", "namespace": "flux-system"},
                      "data": {"provider": "aws", "cluster": "arn:aws:eks:eu-west-1:1:cluster/x",
                               "address": "https://127.0.0.1:9"}}, field_manager="e2e")
    repo = fleet.new_repo("wi-aws", files={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, "
                                                      "namespace: default}\n"})
    name = repo.kustomization(kubeConfig={"configMapRef": {"name": "eks"}})
    failed = repo.wait_failed(name, timeout=60)
    ready = ops.ready_condition(failed)
    assert ready["reason"] == "NotSupported" and "provider 'aws'" in ready["message"]
    repo.delete()
    fleet.kube.delete("v1", "ConfigMap", "eks", "flux-system")


def test_helmrelease_with_configmapref_generic_installs_and_uninstalls_remotely(fleet: SandboxHandle,
                                                                                tmp_path: Path) -> None:
    from tests.e2e.test_helmrelease import HelmApp

    app = HelmApp(fleet, tmp_path)
    staging = remote(fleet, "staging")
    try:
        data = fleet.kube.get("v1", "ConfigMap", "staging-kubeconfig", "flux-system")["data"]
        fleet.kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "staging", "namespace": app.namespace}, "data": data},
                         field_manager="e2e")
        staging.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app.namespace}},
                      field_manager="e2e")
        app.source(app.push())
        app.release("wi", timeout="90s", kubeConfig={"configMapRef": {"name": "staging"}})
        app.wait_ready("wi", "Helm install succeeded", timeout=120)
        assert staging.get("v1", "ConfigMap", "wi-settings", app.namespace)["data"]["message"] == "hello"
        assert app.configmap("wi") is None  # not in the management cluster
    finally:
        app.close()
    wait_until(lambda: staging.get_or_none("v1", "ConfigMap", "wi-settings", app.namespace) is None, timeout=60,
               what="the release to be uninstalled from staging")
    staging.delete("v1", "Namespace", app.namespace)
