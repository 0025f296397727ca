"""The one table of kinds and fields (support.py): the NotSupported controller, unsupported fields, which kinds
get it with and without upstream Flux, and the docs page kept in step with the table."""

from __future__ import annotations

import copy
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.reconciler import support
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.process import unsupported_kinds
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import FINALIZER, Context, Controller
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.unsupported import NotSupportedReconciler, refuse_unsupported_fields
from tests.unit.reconciler.runtime.test_controller import FakeKube

DOCS = Path(__file__).resolve().parents[3] / "docs" / "reconciler-apis.md"


class RecordingEvents:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((event_type, reason, message))


def helm_release(generation: int = 1) -> dict[str, Any]:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps", "uid": "u1", "generation": generation,
                         "resourceVersion": "1"}, "spec": {"interval": "5m", "chart": {"spec": {"chart": "x"}}}}


def test_every_served_kind_is_in_the_table_once() -> None:
    assert [s.kind for s in support.TABLE if s.kind in kinds.ALL] == [s.kind for s in support.TABLE]
    assert sorted(k.kind for k in kinds.ALL) == sorted(s.kind.kind for s in support.TABLE)


def test_a_kind_without_controller_is_stalled_not_supported_with_one_warning_per_generation() -> None:
    obj = helm_release()
    kube, events = FakeKube(obj), RecordingEvents()
    ctx = Context(kube=kube, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    controller = Controller(NotSupportedReconciler(kinds.HELMRELEASE), ctx)
    controller.informer.cache["apps/podinfo"] = obj
    controller.process("apps/podinfo")
    conditions = kube.obj["status"]["conditions"]
    ready, stalled = cond.find(conditions, cond.READY), cond.find(conditions, cond.STALLED)
    assert ready and ready["status"] == "False" and ready["reason"] == support.NOT_SUPPORTED
    assert stalled and stalled["status"] == "True" and stalled["reason"] == support.NOT_SUPPORTED
    assert "HelmRelease (helm.toolkit.fluxcd.io/v2) is not supported" in ready["message"]
    assert "sandbox up --reconciler flux" in ready["message"]
    assert FINALIZER not in (kube.obj["metadata"].get("finalizers") or []), "deleting it must not wait for us"
    controller.process("apps/podinfo")
    assert [e[:2] for e in events.recorded] == [("Warning", "NotSupported")], "told once per generation"
    kube.obj["metadata"]["generation"] = 2
    controller.process("apps/podinfo")
    assert len(events.recorded) == 2


@pytest.mark.parametrize(("kind", "spec", "expected"), [
    ("Kustomization", {"decryption": {"provider": "sops"}}, []),
    ("Kustomization", {"decryption": {"provider": "sops", "serviceAccountName": "kms"}},
     ["spec.decryption.serviceAccountName"]),
    ("Kustomization", {"dependsOn": [{"name": "a"}, {"name": "b", "readyExpr": "true"}],
                       "healthCheckExprs": [{"apiVersion": "v1", "kind": "ConfigMap", "current": "true"}]}, []),
    ("Kustomization", {"kubeConfig": {"secretRef": {"name": "k"}}, "dependsOn": [{"name": "a"}]},
     ["spec.kubeConfig"]),
    ("Kustomization", {"dependsOn": [{"name": "a"}], "serviceAccountName": ""}, []),
    ("GitRepository", {"verify": {"mode": "HEAD"}, "recurseSubmodules": True, "sparseCheckout": ["apps"],
                       "include": [{"repository": {"name": "a"}}]}, []),
    ("GitRepository", {"provider": "azure", "proxySecretRef": {"name": "proxy"}},
     ["spec.provider", "spec.proxySecretRef"]),
    ("GitRepository", {"provider": "generic"}, []),
    ("Receiver", {"type": "github"}, []),
    ("ArtifactGenerator", {"artifacts": [{"copy": [{"strategy": "Merge"}, {"strategy": "Overwrite"}, {}]}]}, []),
    ("ArtifactGenerator", {"pathPattern": "@repo/apps/{app}",
                           "artifacts": [{"copy": [{"strategy": "Merge"}]}, {"copy": [{"strategy": "Extract"}]}]},
     ["spec.pathPattern", "spec.artifacts[].copy[].strategy"]),
], ids=["decryption", "decryption-identity", "cel-is-supported", "kubeconfig", "empty-values", "git-features",
        "provider-and-proxy", "generic-provider", "receiver", "generator-strategies", "generator-pattern-and-extract"])
def test_unsupported_fields_are_found_when_set(kind: str, spec: dict[str, Any], expected: list[str]) -> None:
    assert support.unsupported_fields_set({"kind": kind, "spec": spec}) == expected


def test_an_unsupported_field_stalls_the_object_before_anything_is_done() -> None:
    obj = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "apps", "namespace": "flux-system", "generation": 3},
           "spec": {"decryption": {"provider": "sops", "serviceAccountName": "kms"}}}
    events = RecordingEvents()
    ctx = Context(kube=FakeKube(copy.deepcopy(obj)), events=events, metrics=Metrics(),  # type: ignore[arg-type]
                  stop=threading.Event())
    result = refuse_unsupported_fields(obj, ctx, "kustomize-controller")
    assert result is not None and result.requeue_after is None and result.status is not None
    ready = cond.find(result.status["conditions"], cond.READY)
    assert ready and ready["reason"] == "NotSupported"
    assert "spec.decryption.serviceAccountName is set but not supported" in ready["message"]
    assert events.recorded and events.recorded[0][1] == "NotSupported"
    assert refuse_unsupported_fields({**obj, "spec": {}}, ctx, "kustomize-controller") is None


def test_which_kinds_get_the_not_supported_controller() -> None:
    alone = {kind.kind for kind, _ in unsupported_kinds(False, set())}
    assert alone == {s.kind.kind for s in support.TABLE if not s.ours}
    upstream = {"GitRepository", "HelmRepository", "HelmChart", "OCIRepository", "Bucket", "Kustomization",
                "HelmRelease", "ExternalArtifact"}
    beside_flux = dict((kind.kind, note) for kind, note in unsupported_kinds(True, upstream))
    assert set(beside_flux) == {"ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "Provider", "Alert",
                                "ArtifactGenerator"}
    assert "notification-controller is not available" in beside_flux["Alert"]


def test_docs_page_matches_the_table() -> None:
    text = DOCS.read_text()
    for entry in support.TABLE:
        row = re.search(rf"^\| {entry.kind.kind} \| `{re.escape(entry.kind.api_version)}` \|[^\n]*$", text, re.M)
        assert row, f"docs/reconciler-apis.md has no row for {entry.kind.kind}"
        cells = [c.strip() for c in row.group(0).strip("|").split("|")]
        assert cells[3] == ("yes" if entry.ours else "no: NotSupported"), entry.kind.kind
        assert cells[4] == entry.upstream, entry.kind.kind
        for field in entry.unsupported_fields:
            assert f"`{field}`" in text, f"docs/reconciler-apis.md does not list {field} as not supported"

