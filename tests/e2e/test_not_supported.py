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
from sandbox.reconciler import ops, support
from sandbox.reconciler.apis.kinds import Kind
from sandbox.reconciler.runtime import conditions as cond
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

# Flux kinds that may still lack a controller here, with a minimal object of each. Provider and Alert are not
# candidates: like upstream's v1beta3 CRDs they have no status subresource, so there is no status to report on.
UNSERVED_SAMPLES = {
    "ImageUpdateAutomation": """apiVersion: image.toolkit.fluxcd.io/v1
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
""",
}

# A field the reconciler does not implement: the object is Stalled (NotSupported) whatever kinds have controllers.
UNSUPPORTED_FIELD = """apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: podinfo
  namespace: {namespace}
spec:
  interval: 5m
  image: ghcr.io/stefanprodan/podinfo
  provider: aws
"""


def unserved_kind() -> tuple[Kind, str]:
    """A kind with a status subresource and no controller here, with its sample; skips when there is none left."""
    for entry in support.TABLE:
        if not entry.ours and entry.kind.kind in UNSERVED_SAMPLES:
            return entry.kind, UNSERVED_SAMPLES[entry.kind.kind]
    pytest.skip("every Flux kind with a status has a controller here: the NotSupported controller of a whole kind "
                "is covered by tests/unit/reconciler/test_support.py")


def not_supported(kube_get: Callable[[], Obj]) -> Obj:
    def stalled() -> Obj | None:
        obj = kube_get()
        conditions = (obj.get("status") or {}).get("conditions")
        ready = cond.find(conditions, cond.READY) or {}
        return obj if ready.get("reason") == "NotSupported" and cond.is_true(conditions, cond.STALLED) else None

    return wait_until(stalled, timeout=30, what="the object to be reported NotSupported")


def test_a_kind_without_a_controller_is_reported_and_deletes_without_waiting(sandbox: SandboxHandle) -> None:
    kind, sample = unserved_kind()
    kube = sandbox.kube
    namespace = f"ns-{secrets.token_hex(3)}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, field_manager="test")
    try:
        kube.apply(yaml.safe_load(sample.format(namespace=namespace)), field_manager="test")
        release = not_supported(lambda: kube.get(kind.api_version, kind.kind, "podinfo", namespace))
        ready = ops.ready_condition(release)
        assert ready["status"] == "False"
        assert f"{kind.kind} ({kind.api_version}) is not supported" in ready["message"]
        listed = json.loads(run_cli("get", "all", "-A", "-o", "json", "--name", sandbox.name).stdout)
        assert {"kind": kind.kind, "name": "podinfo", "reason": "NotSupported"}.items() <= next(
            row for row in listed if row["kind"] == kind.kind and row["namespace"] == namespace).items()
        events = [e for e in kube.list("v1", "Event", namespace).items
                  if e["involvedObject"].get("name") == "podinfo" and e.get("reason") == "NotSupported"]
        assert events and events[0]["type"] == "Warning"
        kube.delete(kind.api_version, kind.kind, "podinfo", namespace)
        wait_until(lambda: kube.get_or_none(kind.api_version, kind.kind, "podinfo", namespace) is None,
                   timeout=10, what=f"the {kind.kind} to be gone (no finalizer holds it)")
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
    (tmp_path / "apps" / "release.yaml").write_text(UNSUPPORTED_FIELD.format(namespace=namespace))
    with pytest.raises(SandboxError) as caught:
        sandbox_apply_repo(tmp_path, path="./apps", prune=True, timeout=300)
    message = str(caught.value)
    assert "(waiting cannot help: Stalled)" in message, "a final error does not wait for the timeout"
    assert f"ImageRepository/{namespace}/podinfo: Ready=False NotSupported" in message


def test_a_health_check_over_an_object_the_reconciler_refuses_fails_at_once(sandbox: SandboxHandle,
                                                                              gitops_repo: GitOpsRepo) -> None:
    """`wait: true` over an object the reconciler refuses (a field not supported): it is Stalled, so the health
    check fails early naming it, as Flux's fail-fast does — not after the 10 min timeout, "Reconciliation in
    progress" all along (the early failure used to be swallowed by the wait)."""
    namespace = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n",
                        "release.yaml": UNSUPPORTED_FIELD.format(namespace=namespace)},
                       "an ImageRepository with a field not supported")
    name = gitops_repo.kustomization(wait=True, timeout="10m")
    failed = gitops_repo.wait_failed(name, timeout=60)
    ready = ops.ready_condition(failed)
    assert ready["reason"] == "HealthCheckFailed"
    assert ready["message"].startswith("health check failed after ")
    assert ready["message"].endswith(": failed early due to stalled resources: "
                                     f"[ImageRepository/{namespace}/podinfo status: 'Failed']")
