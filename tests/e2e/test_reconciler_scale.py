"""A Kustomization large enough to be built in chunks and drift-checked from what the reconciler knows is in sync:
the inventory is in kustomize's order, edits are still reverted, and the stale objects are pruned."""

from __future__ import annotations

import yaml

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.kustomize import chunks

COUNT = chunks.MIN_DOCUMENTS + 100


def configmaps(namespace: str, count: int) -> str:
    # Written out of order on purpose: kustomize's legacy order sorts them by name.
    return yaml.safe_dump_all([{"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": f"cm-{index:04d}", "namespace": namespace},
                                "data": {"index": str(index)}} for index in reversed(range(count))])


def test_a_large_kustomization_is_applied_drift_checked_and_pruned(sandbox: SandboxHandle,
                                                                   gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-big"
    gitops_repo.commit({"big/ns.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": ns}}),
                        "big/configmaps.yaml": configmaps(ns, COUNT)}, "many ConfigMaps")
    gitops_repo.kustomization(path="./big")
    ks = gitops_repo.wait_applied(timeout=120)
    ids = [entry["id"] for entry in ks["status"]["inventory"]["entries"]]
    assert ids == [f"_{ns}__Namespace"] + [f"{ns}_cm-{index:04d}__ConfigMap" for index in range(COUNT)]

    sandbox.kube.patch("v1", "ConfigMap", "cm-0042", ns, {"data": {"index": "edited"}},
                       field_manager="kubectl-edit")
    for _ in range(2):  # the first drift check reverts the edit, the second finds everything in sync
        ops.request_reconcile(sandbox.kube, ops.KUSTOMIZATION, gitops_repo.name, "flux-system", timeout=120)
        assert sandbox.kube.get("v1", "ConfigMap", "cm-0042", ns)["data"] == {"index": "42"}
    sandbox.kube.patch("v1", "ConfigMap", "cm-0007", ns, {"data": {"index": "edited again"}},
                       field_manager="kubectl-edit")
    ops.request_reconcile(sandbox.kube, ops.KUSTOMIZATION, gitops_repo.name, "flux-system", timeout=120)
    assert sandbox.kube.get("v1", "ConfigMap", "cm-0007", ns)["data"] == {"index": "7"}

    gitops_repo.commit({"big/configmaps.yaml": configmaps(ns, 10)}, "fewer ConfigMaps")
    ks = gitops_repo.wait_applied(timeout=120)
    assert len(ks["status"]["inventory"]["entries"]) == 11
    assert sandbox.kube.get_or_none("v1", "ConfigMap", "cm-0100", ns) is None
    assert sandbox.kube.get_or_none("v1", "ConfigMap", "cm-0009", ns) is not None
