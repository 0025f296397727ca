"""Multi-tenancy on the embedded cluster: the reconciler's own identity; serviceAccountName impersonation."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler import identity, ops
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli
from tests.e2e.test_helmrelease import HelmApp

RECONCILER_USER = "system:serviceaccount:flux-system:sandbox-reconciler"
HR_API = "helm.toolkit.fluxcd.io/v2"


def test_the_reconciler_authenticates_as_its_own_service_account(sandbox: SandboxHandle) -> None:
    record = sandbox.state.read_record()["reconciler"]["identity"]
    assert record["user"] == RECONCILER_USER
    path = Path(record["kubeconfig"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    own = KubeClient.from_kubeconfig(path)
    assert identity.whoami(own) == RECONCILER_USER
    assert identity.whoami(sandbox.kube) != RECONCILER_USER  # the admin's kubeconfig is another identity
    # Its applies carry its user: the API server records who made each request (the managedFields' manager is the
    # field manager, so ask the API server instead: a SubjectAccessReview of the ServiceAccount's own binding).
    review = sandbox.kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body={
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": RECONCILER_USER,
                 "resourceAttributes": {"verb": "impersonate", "resource": "serviceaccounts"}}})
    assert review["status"]["allowed"] is True  # bound to cluster-admin, as Flux's cluster-reconciler binding

    result = run_cli("status", "--name", sandbox.name, "-o", "json")
    data = json.loads(result.output)
    assert data["services"]["reconciler"]["identity"]["user"] == RECONCILER_USER
    table = run_cli("status", "--name", sandbox.name)
    assert f"the reconciler authenticates as {RECONCILER_USER}" in table.output


def _grant(kube: KubeClient, *, service_account: str, sa_namespace: str, role: str, namespace: str) -> None:
    """ServiceAccount ``sa_namespace/service_account`` with ClusterRole ``role`` in ``namespace`` only."""
    for name in (namespace, sa_namespace):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, field_manager="test")
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": service_account, "namespace": sa_namespace}}, field_manager="test")
    kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": f"{service_account}-{role}", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": sa_namespace}]},
               field_manager="test")


def _configmap(name: str, namespace: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": namespace}, "data": data})


def _cluster_admin_for(name: str, service_account: str, namespace: str) -> str:
    return yaml.safe_dump({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                           "metadata": {"name": name},
                           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                       "name": "cluster-admin"},
                           "subjects": [{"kind": "ServiceAccount", "name": service_account,
                                         "namespace": namespace}]})


def test_service_account_name_applies_prunes_and_is_refused_what_it_may_not_do(
        sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    kube = sandbox.kube
    tenant, sa = f"{gitops_repo.name}-apps", f"{gitops_repo.name}-dev"
    user = f"system:serviceaccount:{gitops_repo.namespace}:{sa}"
    _grant(kube, service_account=sa, sa_namespace=gitops_repo.namespace, role="admin", namespace=tenant)
    gitops_repo.commit({"apps/a.yaml": _configmap("a", tenant, v="1"), "apps/c.yaml": _configmap("c", tenant)},
                       "a and c")
    gitops_repo.kustomization(path="./apps", serviceAccountName=sa)
    gitops_repo.wait_applied()
    assert kube.get("v1", "ConfigMap", "a", tenant)["data"] == {"v": "1"}

    # A revision holding what the ServiceAccount may not create: refused by the API server, naming it and the
    # user; nothing of the revision applied (the change to a, the new b).
    escalate = f"{gitops_repo.name}-escalate"
    gitops_repo.commit({"apps/a.yaml": _configmap("a", tenant, v="2"), "apps/b.yaml": _configmap("b", tenant),
                        "apps/crb.yaml": _cluster_admin_for(escalate, sa, gitops_repo.namespace)}, "escalate")
    failed = gitops_repo.wait_failed()
    message = ops.ready_condition(failed)["message"]
    assert f'ClusterRoleBinding/{escalate} dry-run failed (Forbidden): ' in message
    assert f'is forbidden: User "{user}" cannot' in message
    assert ops.ready_condition(failed)["reason"] == "ReconciliationFailed"
    assert kube.get_or_none("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", escalate) is None
    assert kube.get_or_none("v1", "ConfigMap", "b", tenant) is None
    assert kube.get("v1", "ConfigMap", "a", tenant)["data"] == {"v": "1"}

    # Fixed: applied, and c pruned, as the ServiceAccount.
    gitops_repo.commit({"apps/crb.yaml": None, "apps/c.yaml": None}, "within the tenant's rights")
    gitops_repo.wait_applied()
    assert kube.get("v1", "ConfigMap", "a", tenant)["data"] == {"v": "2"}
    assert kube.get_or_none("v1", "ConfigMap", "b", tenant) is not None
    wait_until(lambda: kube.get_or_none("v1", "ConfigMap", "c", tenant) is None, timeout=10,
               what="ConfigMap c to be pruned")
    kube.delete("v1", "Namespace", tenant)


def test_a_missing_service_account_fails_the_kustomization_with_the_api_servers_message(
        sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    tenant = f"{gitops_repo.name}-apps"
    gitops_repo.commit({"apps/a.yaml": _configmap("a", tenant)}, "a")
    sandbox.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": tenant}}, field_manager="test")
    gitops_repo.kustomization(path="./apps", serviceAccountName="no-such-sa")
    failed = gitops_repo.wait_failed()
    message = ops.ready_condition(failed)["message"]
    assert f'User "system:serviceaccount:{gitops_repo.namespace}:no-such-sa" cannot' in message
    assert sandbox.kube.get_or_none("v1", "ConfigMap", "a", tenant) is None
    sandbox.kube.delete("v1", "Namespace", tenant)


@pytest.fixture
def helm_app(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[HelmApp]:
    app = HelmApp(sandbox, tmp_path)
    try:
        yield app
    finally:
        app.close()


def test_a_helmrelease_installs_as_its_service_account_and_is_refused_beyond_its_rights(helm_app: HelmApp) -> None:
    kube, namespace = helm_app.kube, helm_app.namespace
    _grant(kube, service_account="deployer", sa_namespace=namespace, role="admin", namespace=namespace)
    _grant(kube, service_account="viewer", sa_namespace=namespace, role="view", namespace=namespace)
    helm_app.source(helm_app.push())
    helm_app.release("allowed", serviceAccountName="deployer")
    helm_app.wait_ready("allowed", "Helm install succeeded")
    assert helm_app.configmap("allowed") is not None
    # The release's storage Secret was written as the ServiceAccount too (Helm's storage through its kubeconfig).
    assert kube.list("v1", "Secret", namespace, label_selector="owner=helm,name=allowed").items

    helm_app.release("refused", serviceAccountName="viewer")
    user = f"system:serviceaccount:{namespace}:viewer"
    refused = helm_app.wait(
        "refused", lambda obj: f'User "{user}" cannot' in ops.ready_condition(obj).get("message", ""),
        "to fail as its ServiceAccount")
    assert ops.ready_condition(refused)["status"] == "False"
    assert helm_app.configmap("refused") is None

    # Deleted once its ServiceAccount is gone: no one to uninstall as, so the release stays and the object goes
    # (as helm-controller).
    kube.delete("v1", "ServiceAccount", "deployer", namespace)
    kube.delete(HR_API, "HelmRelease", "allowed", namespace)
    wait_until(lambda: kube.get_or_none(HR_API, "HelmRelease", "allowed", namespace) is None, timeout=30,
               what="HelmRelease allowed to be deleted without its ServiceAccount")
    assert helm_app.configmap("allowed") is not None


def test_deleting_a_kustomization_whose_service_account_is_gone_warns_and_lets_go(
        sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    kube = sandbox.kube
    tenant, sa = f"{gitops_repo.name}-apps", f"{gitops_repo.name}-dev"
    _grant(kube, service_account=sa, sa_namespace=gitops_repo.namespace, role="admin", namespace=tenant)
    gitops_repo.commit({"apps/a.yaml": _configmap("a", tenant)}, "a")
    name = gitops_repo.kustomization(path="./apps", serviceAccountName=sa)
    gitops_repo.wait_applied()
    kube.delete("v1", "ServiceAccount", sa, gitops_repo.namespace)
    kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, gitops_repo.namespace)
    wait_until(lambda: kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", name,
                                        gitops_repo.namespace) is None,
               timeout=30, what="the Kustomization to be deleted without its ServiceAccount")
    assert kube.get_or_none("v1", "ConfigMap", "a", tenant) is not None  # nobody to prune it as: left, and said
    events = ops.events(kube, gitops_repo.namespace, for_object=f"Kustomization/{name}")
    assert any(e["type"] == "Warning" and e["message"] == f"unable to prune objects: \nConfigMap/{tenant}/a"
               for e in events)
    kube.delete("v1", "Namespace", tenant)
