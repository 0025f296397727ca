"""Never a false green: a kind without a controller and a field the reconciler does not implement are reported as
NotSupported (status, Warning event), nothing of them is done, and `sandbox_apply_repo` fails at once naming them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.errors import SandboxError
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import Obj
from sandbox.reconciler import ops, support
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.kinds import Kind
from sandbox.reconciler.runtime import conditions as cond
from sandbox.waiting import wait_until

# A Provider of a type the reconciler does not implement. Like upstream's v1beta3 CRD it has no status subresource:
# the Warning event and the verdict are what say so.
UNSERVED_TYPE = "googlechat"
UNSERVED = """apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: chat
  namespace: {namespace}
spec:
  type: googlechat
  address: http://127.0.0.1:9/hook
"""

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


def unserved_kind() -> Kind:
    kind = kinds.PROVIDER
    if ("spec.type", UNSERVED_TYPE) in support.BY_KIND[kind.kind].accepted_values:
        pytest.skip(f"Provider type {UNSERVED_TYPE} is implemented now: pick another one for this test")
    return kind


def not_supported(kube_get: Callable[[], Obj]) -> Obj:
    def stalled() -> Obj | None:
        obj = kube_get()
        conditions = (obj.get("status") or {}).get("conditions")
        ready = cond.find(conditions, cond.READY) or {}
        return obj if ready.get("reason") == "NotSupported" and cond.is_true(conditions, cond.STALLED) else None

    return wait_until(stalled, timeout=30, what="the object to be reported NotSupported")


def test_a_provider_of_a_type_not_implemented_is_refused_at_once_and_deletes_without_waiting(
        sandbox: SandboxHandle, sandbox_apply_repo: Callable[..., GitOpsRepo], tmp_path: Path) -> None:
    """A Provider has no status to hold a NotSupported condition: a Warning event names its unsupported type, and
    the verdict refuses it at once — never green, never a wait for the timeout."""
    kind = unserved_kind()
    kube = sandbox.kube
    namespace = f"ns-{secrets.token_hex(3)}"
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "ns.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n")
    (tmp_path / "apps" / "provider.yaml").write_text(UNSERVED.format(namespace=namespace))
    with pytest.raises(SandboxError) as caught:
        sandbox_apply_repo(tmp_path, path="./apps", prune=True, timeout=300)
    message = str(caught.value)
    assert "(waiting cannot help: Stalled)" in message
    assert f"{kind.kind}/{namespace}/chat: NotSupported: spec.type is set but not supported" in message

    def warned() -> list[Obj]:
        return [e for e in kube.list("v1", "Event", namespace).items
                if e["involvedObject"].get("name") == "chat" and e.get("reason") == "NotSupported"]

    events = wait_until(warned, timeout=30, what="the NotSupported Warning event")
    assert events[0]["type"] == "Warning" and "spec.type is set but not supported" in events[0]["message"]
    kube.delete(kind.api_version, kind.kind, "chat", namespace)
    wait_until(lambda: kube.get_or_none(kind.api_version, kind.kind, "chat", namespace) is None,
               timeout=10, what=f"the {kind.kind} to be gone (no finalizer holds it)")


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
