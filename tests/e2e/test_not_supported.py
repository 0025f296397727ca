"""Never a false green: a kind without a controller and a field the reconciler does not implement are reported as
NotSupported (status, Warning event), nothing of them is done, and `sandbox_apply_repo` fails at once naming them."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from sandbox.errors import SandboxError
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import Obj
from sandbox.reconciler import ops
from sandbox.reconciler.runtime import conditions as cond
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

# A Flux kind no controller of the sandbox reconciles yet (ImageRepository was one until the image reflector came;
# Provider and Alert have no status subresource, as upstream's v1beta3 CRDs: there is no status to report on).
UNSERVED = """apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: podinfo
  namespace: {namespace}
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: fleet
  git:
    commit:
      author:
        email: bot@example.com
"""

def not_supported(kube_get: Callable[[], Obj]) -> Obj:
    def stalled() -> Obj | None:
        obj = kube_get()
        conditions = (obj.get("status") or {}).get("conditions")
        ready = cond.find(conditions, cond.READY) or {}
        return obj if ready.get("reason") == "NotSupported" and cond.is_true(conditions, cond.STALLED) else None

    return wait_until(stalled, timeout=30, what="the object to be reported NotSupported")


def test_a_kind_without_a_controller_is_reported_and_deletes_without_waiting(sandbox: SandboxHandle) -> None:
    kube = sandbox.kube
    namespace = f"ns-{secrets.token_hex(3)}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, field_manager="test")
    try:
        kube.apply(yaml.safe_load(UNSERVED.format(namespace=namespace)), field_manager="test")
        release = not_supported(lambda: kube.get("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation",
                                                 "podinfo", namespace))
        ready = ops.ready_condition(release)
        assert ready["status"] == "False"
        assert "ImageUpdateAutomation (image.toolkit.fluxcd.io/v1) is not supported" in ready["message"]
        listed = json.loads(run_cli("get", "all", "-A", "-o", "json", "--name", sandbox.name).stdout)
        assert {"kind": "ImageUpdateAutomation", "name": "podinfo", "reason": "NotSupported"}.items() <= next(
            row for row in listed if row["kind"] == "ImageUpdateAutomation" and row["namespace"] == namespace).items()
        events = [e for e in kube.list("v1", "Event", namespace).items
                  if e["involvedObject"].get("name") == "podinfo" and e.get("reason") == "NotSupported"]
        assert events and events[0]["type"] == "Warning"
        kube.delete("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation", "podinfo", namespace)
        wait_until(lambda: kube.get_or_none("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation", "podinfo",
                                            namespace) is None,
                   timeout=10, what="the ImageUpdateAutomation to be gone (no finalizer holds it)")
    finally:
        kube.delete("v1", "Namespace", namespace)


def test_an_unsupported_field_stops_the_kustomization_before_anything_is_applied(
        sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    namespace = f"ns-{secrets.token_hex(3)}"
    gitops_repo.commit({"app/cm.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: secret-looking\n"
                                        f"  namespace: {namespace}\ndata:\n  a: b\n"),
                        "app/ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"}, "app")
    name = gitops_repo.kustomization(f"dec-{secrets.token_hex(2)}", path="./app",
                                     decryption={"provider": "sops", "serviceAccountName": "kms"})
    ks = not_supported(lambda: gitops_repo.get_kustomization(name))
    assert "spec.decryption.serviceAccountName is set but not supported" in ops.ready_condition(ks)["message"]
    assert sandbox.kube.get_or_none("v1", "Namespace", namespace) is None, "nothing of the revision was applied"


def test_sandbox_apply_repo_fails_at_once_naming_the_unsupported_object(
        sandbox_apply_repo: Callable[..., GitOpsRepo], tmp_path: Path) -> None:
    namespace = f"ns-{secrets.token_hex(3)}"
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "ns.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n")
    (tmp_path / "apps" / "release.yaml").write_text(UNSERVED.format(namespace=namespace))
    with pytest.raises(SandboxError) as caught:
        sandbox_apply_repo(tmp_path, path="./apps", prune=True, timeout=300)
    message = str(caught.value)
    assert "(waiting cannot help: Stalled)" in message, "a final error does not wait for the timeout"
    assert f"ImageUpdateAutomation/{namespace}/podinfo: Ready=False NotSupported" in message


def test_a_health_check_over_an_object_no_controller_reconciles_fails_at_once(sandbox: SandboxHandle,
                                                                                gitops_repo: GitOpsRepo) -> None:
    """`wait: true` over an ImageUpdateAutomation (no controller here): it is Stalled, so the health
    check fails early naming it, as Flux's fail-fast does — not after the 10 min timeout, "Reconciliation in
    progress" all along (the early failure used to be swallowed by the wait)."""
    namespace = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n",
                        "release.yaml": UNSERVED.format(namespace=namespace)}, "an ImageUpdateAutomation")
    name = gitops_repo.kustomization(wait=True, timeout="10m")
    failed = gitops_repo.wait_failed(name, timeout=60)
    ready = ops.ready_condition(failed)
    assert ready["reason"] == "HealthCheckFailed"
    assert ready["message"].startswith("health check failed after ")
    assert ready["message"].endswith(": failed early due to stalled resources: "
                                     f"[ImageUpdateAutomation/{namespace}/podinfo status: 'Failed']")
