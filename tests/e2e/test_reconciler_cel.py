"""CEL in Kustomizations on the embedded cluster: a custom resource whose health a healthCheckExprs expression
decides (Ready only once its status says so, failed fast when the failed expression matches, an invalid
expression stalls), and a dependency made ready by its readyExpr instead of its Ready condition."""

from __future__ import annotations

from typing import Any

import yaml

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.runtime import conditions as cond
from sandbox.waiting import wait_until
from tests.e2e.test_reconciler import configmap, namespace


def crd(group: str) -> str:
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return yaml.safe_dump({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": open_object, "status": open_object}}}}]}})


def widget(group: str, ns: str, size: str) -> str:
    return yaml.safe_dump({"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": ns},
                           "spec": {"size": size}})


def condition(ks: dict[str, Any], kind: str) -> dict[str, Any]:
    return cond.find((ks.get("status") or {}).get("conditions"), kind) or {}


def test_health_check_exprs_decide_a_custom_resource_s_health(sandbox: SandboxHandle,
                                                             gitops_repo: GitOpsRepo) -> None:
    ns, group = f"{gitops_repo.name}-ns", f"{gitops_repo.name}.example.com"
    gitops_repo.commit({"crd.yaml": crd(group), "ns.yaml": namespace(ns), "widget.yaml": widget(group, ns, "s")},
                       "a widget")
    checks = [{"apiVersion": f"{group}/v1", "kind": "Widget",
               "failed": "status.conditions.exists(e, e.type == 'Ready' && e.status == 'False' && "
                         "e.reason == 'Broken')",
               "current": "status.conditions.exists(e, e.type == 'Ready' && e.status == 'True')"}]
    name = gitops_repo.kustomization(wait=True, timeout="3m", healthCheckExprs=checks)

    # Without a status the Widget is not healthy: the Kustomization sits in its health check (kstatus alone
    # would have called the Widget Current, and the Kustomization Ready, at once).
    checking = wait_until(lambda: (k := gitops_repo.get_kustomization(name)) and
                          condition(k, cond.HEALTHY).get("status") == "Unknown" and k,
                          timeout=60, what="the Kustomization to run its health checks")
    assert condition(checking, cond.HEALTHY)["message"].startswith("Running health checks for revision")
    assert condition(checking, cond.READY).get("status") != "True"
    # (the API's discovery may lag the new CRD by a moment)
    live = wait_until(lambda: sandbox.kube.get_or_none(f"{group}/v1", "Widget", "w", ns), timeout=30,
                      what="the Widget to be served")
    assert "status" not in live

    sandbox.kube.patch_status(live, {"conditions": [{"type": "Ready", "status": "True", "reason": "Provisioned"}]})
    applied = gitops_repo.wait_applied(name, timeout=60)
    assert condition(applied, cond.HEALTHY)["status"] == "True"
    assert condition(applied, cond.HEALTHY)["message"].startswith("Health check passed in")

    # The failed expression matches: the next revision fails its health check at once, well before the timeout.
    live = sandbox.kube.get(f"{group}/v1", "Widget", "w", ns)
    sandbox.kube.patch_status(live, {"conditions": [{"type": "Ready", "status": "False", "reason": "Broken"}]})
    sha = gitops_repo.commit({"widget.yaml": widget(group, ns, "m")}, "a bigger widget")
    failed = gitops_repo.wait_failed(name, sha, timeout=30)  # the health check's timeout is 3 minutes
    ready = condition(failed, cond.READY)
    assert ready["reason"] == "HealthCheckFailed"
    assert f"failed early due to stalled resources: [Widget/{ns}/w status: 'Failed']" in ready["message"]

    # An expression that does not parse stalls the Kustomization, naming it.
    broken = "status.conditions.exists(e, e.type == 'Ready'"
    sandbox.kube.patch(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system",
                       {"spec": {"healthCheckExprs": [{**checks[0], "current": broken}]}})
    stalled = wait_until(lambda: (k := gitops_repo.get_kustomization(name)) and
                         condition(k, cond.STALLED).get("status") == "True" and k,
                         timeout=30, what="the Kustomization to stall on the invalid expression")
    ready = condition(stalled, cond.READY)
    assert ready["reason"] == condition(stalled, cond.STALLED)["reason"] == "InvalidCELExpression"
    assert ready["message"].startswith(
        "Reconciliation failed terminally due to configuration error: failed to create custom status evaluator for "
        f"healthchecks[0]: failed to parse the expression Current: failed to parse the CEL expression '{broken}'")
    events = ops.events(sandbox.kube, "flux-system", for_object=f"Kustomization/{name}")
    assert any(e["reason"] == "InvalidCELExpression" and e["type"] == "Warning" for e in events)


def test_ready_expr_replaces_the_dependency_s_ready_check(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"apps/ns.yaml": namespace(ns), "apps/a.yaml": configmap("a", ns, v="1")}, "apps")
    infra = gitops_repo.kustomization(f"{gitops_repo.name}-infra", path="./does-not-exist")
    wait_until(lambda: condition(gitops_repo.get_kustomization(infra), cond.READY).get("status") == "False",
               timeout=30, what="infra to fail (its path does not exist)")

    apps = f"{gitops_repo.name}-apps"
    manifest = ops.kustomization_manifest(apps, "flux-system", source=f"GitRepository/{gitops_repo.source_name}",
                                          path="./apps", interval="10m", prune=True, wait=False,
                                          target_namespace=None, depends_on=[], timeout=None)
    manifest["spec"]["dependsOn"] = [{"name": infra, "readyExpr": (
        "has(dep.metadata.labels) && 'gate' in dep.metadata.labels && dep.metadata.labels.gate == 'open' && "
        f"self.metadata.name == '{apps}'")}]
    sandbox.kube.apply(manifest, field_manager="sandbox")
    waiting = wait_until(lambda: (k := gitops_repo.get_kustomization(apps)) and
                         condition(k, cond.READY).get("reason") == "DependencyNotReady" and k,
                         timeout=30, what="apps to wait for its dependency's readyExpr")
    assert condition(waiting, cond.READY)["message"] == (
        f"dependency 'flux-system/{infra}' is not ready according to readyExpr eval")
    assert sandbox.kube.get_or_none("v1", "ConfigMap", "a", ns) is None

    # The expression becomes true while infra is still not Ready: readyExpr replaces the Ready check.
    sandbox.kube.patch(ops.KUSTOMIZATION.api_version, "Kustomization", infra, "flux-system",
                       {"metadata": {"labels": {"gate": "open"}}})
    sandbox.kube.patch(ops.KUSTOMIZATION.api_version, "Kustomization", apps, "flux-system",
                       {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "gate-opened"}}})
    gitops_repo.wait_applied(apps, timeout=60)
    assert sandbox.kube.get_or_none("v1", "ConfigMap", "a", ns) is not None
    assert condition(gitops_repo.get_kustomization(infra), cond.READY)["status"] == "False"
