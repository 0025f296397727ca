"""The real flux CLI (built from Flux's modules) against objects our reconciler manages: get, tree, trace,
reconcile --with-source, suspend and resume work as they do against Flux's own controllers."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator

import pytest

from sandbox.fluxdev import release
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.tools.run import Completed, run


@pytest.fixture(scope="module")
def flux_cli() -> str:
    built = release.installed()
    if built is None:
        pytest.skip(f"needs the flux CLI of upstream Flux {release.FLUX_RELEASE}: `sandbox setup --flux` builds it")
    return str(built.binary("flux"))


@pytest.fixture
def applied(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> Iterator[tuple[GitOpsRepo, str, str]]:
    """A Kustomization "apps-…" of our reconciler that applied ConfigMap "greeting" into a fresh namespace."""
    namespace = f"flux-cli-{secrets.token_hex(3)}"
    sandbox.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                       field_manager="test")
    sha = gitops_repo.commit({"apps/greeting.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n"
        f"  namespace: {namespace}\ndata:\n  message: hello\n")}, "greeting")
    name = gitops_repo.kustomization(f"apps-{secrets.token_hex(2)}", path="./apps", prune=True)
    gitops_repo.wait_applied(name, sha)
    try:
        yield gitops_repo, name, namespace
    finally:
        sandbox.kube.delete("v1", "Namespace", namespace)


def flux(cli: str, sandbox: SandboxHandle, *args: str) -> Completed:
    return run([cli, *args], env={"KUBECONFIG": str(sandbox.kubeconfig), "HOME": os.environ.get("HOME", "/root")},
               timeout=120)


def test_get_tree_and_trace_read_our_objects(flux_cli: str, sandbox: SandboxHandle,
                                              applied: tuple[GitOpsRepo, str, str]) -> None:
    repo, name, namespace = applied
    listing = flux(flux_cli, sandbox, "get", "all", "-A").stdout
    assert f"gitrepository/{repo.source_name}" in listing
    assert f"kustomization/{name}" in listing
    assert "Applied revision: main@sha1:" in listing
    tree = flux(flux_cli, sandbox, "tree", "kustomization", name, "-n", "flux-system").stdout
    assert f"ConfigMap/{namespace}/greeting" in tree
    trace = flux(flux_cli, sandbox, "trace", "configmap", "greeting", "-n", namespace).stdout
    assert re.search(rf"Kustomization:\s+{name}\n", trace), trace
    assert re.search(rf"GitRepository:\s+{repo.source_name}\n", trace), trace
    assert "Status:          Managed by Flux" in trace


def test_reconcile_with_source_suspend_and_resume_drive_our_reconciler(flux_cli: str, sandbox: SandboxHandle,
                                                                      applied: tuple[GitOpsRepo, str, str]) -> None:
    _, name, _ = applied
    reconciled = flux(flux_cli, sandbox, "reconcile", "kustomization", name, "-n", "flux-system", "--with-source")
    assert "applied revision main@sha1:" in reconciled.stderr + reconciled.stdout
    flux(flux_cli, sandbox, "suspend", "kustomization", name, "-n", "flux-system")
    assert sandbox.kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")["spec"]["suspend"]
    resumed = flux(flux_cli, sandbox, "resume", "kustomization", name, "-n", "flux-system")
    assert "Kustomization reconciliation completed" in resumed.stderr + resumed.stdout or \
        "applied revision" in resumed.stderr + resumed.stdout
    resumed_object = sandbox.kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
    assert not resumed_object["spec"].get("suspend")
