"""spec.timeout bounds the apply, its stage waits included, and a timeout ends the reconcile as Ready=False (never
as an exception out of the controller)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound, WaitTimeout
from sandbox.kube.client import ObjectList, ResourceInfo
from sandbox.reconciler.kustomize.apply import Applier, ApplyError
from sandbox.reconciler.kustomize.controller import KustomizationReconciler
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context

SERVED = {("apiextensions.k8s.io/v1", "CustomResourceDefinition"): False, ("v1", "ConfigMap"): True}


class NeverEstablished:
    """A cluster where CRDs are accepted but never become Established."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def resource(self, api_version: str, kind: str) -> ResourceInfo:
        if (api_version, kind) not in SERVED:
            raise NotFound(f"no {api_version} {kind}")
        return ResourceInfo(api_version, kind, kind.lower() + "s", SERVED[(api_version, kind)])

    def list(self, api_version: str, kind: str, namespace: str | None = None, **_: Any) -> ObjectList:
        return ObjectList([], "1")

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        if kind == "CustomResourceDefinition" and name in self.applied:
            return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name},
                    "status": {"conditions": [{"type": "Established", "status": "False", "reason": "Installing"}]}}
        return None

    def apply(self, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.applied.append(obj["metadata"]["name"])
        return obj


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"}}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}}


def test_a_stage_not_ready_within_the_deadline_fails_the_apply_with_flux_s_words() -> None:
    kube = NeverEstablished()
    started = time.monotonic()
    with pytest.raises(ApplyError) as caught:
        Applier(kube, stage_timeout=60).apply_all(  # type: ignore[arg-type]
            [CRD, CONFIGMAP], owner=("k", "ns"), deadline=started + 0.3)
    assert time.monotonic() - started < 5  # the Kustomization's deadline, not the 60 s default
    assert str(caught.value) == ("timeout waiting for: [CustomResourceDefinition/widgets.example.com status: "
                                 "'InProgress']\nCustomResourceDefinition/widgets.example.com created\n")
    assert kube.applied == ["widgets.example.com"]  # the next stage was not applied


def test_nothing_is_applied_once_the_deadline_has_passed() -> None:
    kube = NeverEstablished()
    with pytest.raises(ApplyError) as caught:
        Applier(kube).apply_all([CONFIGMAP], owner=("k", "ns"),  # type: ignore[arg-type]
                                deadline=time.monotonic() - 1)
    assert "context deadline exceeded" in str(caught.value)
    assert kube.applied == []


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: Any, severity: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((severity, reason, message))


def test_a_wait_timeout_never_escapes_the_reconcile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    reconciler = KustomizationReconciler(storage=None, workdir=tmp_path, applier=None)  # type: ignore[arg-type]

    def stuck(obj: Any, ctx: Any) -> Any:
        raise WaitTimeout("timed out after 30s waiting for CRDs to be established; last state: widgets.example.com")

    monkeypatch.setattr(reconciler, "_reconcile", stuck)
    events = Events()
    ctx = Context(kube=None, events=events, metrics=None, stop=threading.Event())  # type: ignore[arg-type]
    kustomization = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                     "metadata": {"name": "k", "namespace": "flux-system", "generation": 1},
                     "spec": {"interval": "10m", "retryInterval": "1m"}}
    result = reconciler.reconcile(kustomization, ctx)
    ready = cond.find(result.status["conditions"], cond.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", cond.RECONCILIATION_FAILED)
    assert "timed out after 30s waiting for CRDs" in ready["message"]
    assert result.requeue_after == 60.0
    assert events.recorded and events.recorded[0][1] == cond.RECONCILIATION_FAILED
