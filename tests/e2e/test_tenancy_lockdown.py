"""`sandbox up --tenancy-lockdown` (one sandbox for the module): the default ServiceAccount is impersonated, a
cross-namespace source reference is refused with Flux's AccessDenied, a remote base fails the build — each as the
reconciler's own flags make them, shown by `sandbox status`."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator

import pytest
import yaml

from sandbox import lifecycle
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.runtime import conditions as cond
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

HR_API = "helm.toolkit.fluxcd.io/v2"


@pytest.fixture(scope="module")
def locked() -> Iterator[SandboxHandle]:
    name = f"e2e-lockdown-{os.getpid()}"
    result = run_cli("up", "--name", name, "--tenancy-lockdown", "--git", "local", "--registry", "local",
                     "--repo", "")
    try:
        assert result.exit_code == 0, result.output
        yield SandboxHandle.attach(name)
    finally:
        lifecycle.down(name)


@pytest.fixture
def tenant(locked: SandboxHandle) -> Iterator[GitOpsRepo]:
    """A tenant namespace whose `default` ServiceAccount is admin there, with its own repository and source."""
    namespace = f"tenant-{secrets.token_hex(3)}"
    kube = locked.kube
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, field_manager="test")
    kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "default-admin", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]},
               field_manager="test")
    repository = locked.new_repo(namespace, namespace=namespace)
    try:
        yield repository
    finally:
        repository.delete()
        kube.delete("v1", "Namespace", namespace)


def _configmap(name: str, namespace: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                           "data": {"k": "v"}})


def test_status_shows_the_lockdown_flags(locked: SandboxHandle) -> None:
    data = json.loads(run_cli("status", "--name", locked.name, "-o", "json").output)
    assert data["services"]["reconciler"]["lockdown"] == {
        "default_service_account": "default", "no_cross_namespace_refs": True, "no_remote_bases": True}
    table = run_cli("status", "--name", locked.name).output
    assert ("multi-tenancy lockdown: --default-service-account=default --no-cross-namespace-refs "
            "--no-remote-bases") in table


def test_the_default_service_account_is_impersonated(locked: SandboxHandle, tenant: GitOpsRepo) -> None:
    namespace = tenant.namespace
    tenant.commit({"apps/mine.yaml": _configmap("mine", namespace),
                   "apps/theirs.yaml": _configmap("theirs", "kube-public")}, "one of them elsewhere")
    tenant.kustomization(path="./apps")  # no serviceAccountName: the default one applies
    failed = tenant.wait_failed()
    message = ops.ready_condition(failed)["message"]
    assert f'User "system:serviceaccount:{namespace}:default" cannot' in message
    assert "ConfigMap/kube-public/theirs dry-run failed (Forbidden): " in message
    assert locked.kube.get_or_none("v1", "ConfigMap", "mine", namespace) is None  # nothing of it applied

    tenant.commit({"apps/theirs.yaml": None}, "only the tenant's own")
    tenant.wait_applied()
    assert locked.kube.get_or_none("v1", "ConfigMap", "mine", namespace) is not None


def test_a_cross_namespace_source_reference_is_refused(locked: SandboxHandle, tenant: GitOpsRepo) -> None:
    kube, namespace = locked.kube, tenant.namespace
    manifest = ops.kustomization_manifest("elsewhere", namespace, source="GitRepository/platform", path="./",
                                          interval="10m", prune=True, wait=False, target_namespace=None,
                                          depends_on=[], timeout=None)
    manifest["spec"]["sourceRef"]["namespace"] = "flux-system"
    kube.apply(manifest, field_manager="test")

    def refused() -> dict[str, object] | None:
        ks = kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", "elsewhere", namespace)
        return ks if ops.ready_condition(ks).get("reason") == "AccessDenied" else None

    ks = wait_until(refused, timeout=30, what="the cross-namespace Kustomization to be refused")
    assert ops.ready_condition(ks)["message"] == ("can't access 'GitRepository/flux-system/platform', "
                                                  "cross-namespace references have been blocked")
    assert cond.is_true(ks["status"]["conditions"], cond.STALLED)

    kube.apply({"apiVersion": HR_API, "kind": "HelmRelease", "metadata": {"name": "elsewhere", "namespace": namespace},
                "spec": {"interval": "10m", "chartRef": {"kind": "OCIRepository", "name": "charts",
                                                         "namespace": "flux-system"}}}, field_manager="test")

    def helm_refused() -> dict[str, object] | None:
        hr = kube.get(HR_API, "HelmRelease", "elsewhere", namespace)
        return hr if ops.ready_condition(hr).get("reason") == "AccessDenied" else None

    hr = wait_until(helm_refused, timeout=30, what="the cross-namespace HelmRelease to be refused")
    assert ops.ready_condition(hr)["message"] == ("cross-namespace references are not allowed: cannot access "
                                                  "OCIRepository flux-system/charts")
    kube.delete(HR_API, "HelmRelease", "elsewhere", namespace)
    kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", "elsewhere", namespace)


def test_a_remote_base_fails_the_build(locked: SandboxHandle, tenant: GitOpsRepo) -> None:
    remote = "https://github.com/stefanprodan/podinfo//kustomize?ref=6.7.0"
    tenant.commit({"apps/kustomization.yaml": yaml.safe_dump({"resources": ["local", remote]}),
                   "apps/local/kustomization.yaml": yaml.safe_dump({"resources": ["cm.yaml"]}),
                   "apps/local/cm.yaml": _configmap("local", tenant.namespace)}, "a remote base")
    tenant.kustomization(path="./apps")
    failed = tenant.wait_failed()
    ready = ops.ready_condition(failed)
    assert ready["reason"] == "BuildFailed"
    assert f"accumulating resources from '{remote}' (apps/kustomization.yaml)" in ready["message"]
    assert "--no-remote-bases" in ready["message"]
    assert locked.kube.get_or_none("v1", "ConfigMap", "local", tenant.namespace) is None


def test_the_built_in_multi_tenancy_scenario_plays_green_on_a_locked_down_sandbox(locked: SandboxHandle) -> None:
    """The session sandbox of `pytest scenarios/` is not locked down (every other scenario would then run as its
    namespace's default ServiceAccount), so the collected scenario skips there; it plays here."""
    from sandbox.scenario import catalog, runner
    from sandbox.scenario.loader import load

    result = runner.run(load(catalog.find("multi-tenancy")), locked)
    assert result.passed, result.error
