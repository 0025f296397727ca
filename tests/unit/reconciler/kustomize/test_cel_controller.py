"""The Kustomization controller's CEL: dependsOn[].readyExpr (replacing the built-in readiness check unless the
AdditiveCELDependencyCheck gate is on), invalid expressions stalling the object as Flux does, and a custom
resource failed by its expression ending the health check at once."""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound, SandboxError
from sandbox.kube.informer import Informer
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.kustomize import health
from sandbox.reconciler.kustomize.controller import KustomizationReconciler, ReconcileFailure
from sandbox.reconciler.runtime import cel
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.source.artifact import Sources

REVISION = "main@sha1:1234"
Obj = dict[str, Any]


class Kube:
    """Objects by (kind, namespace, name); reads only."""

    def __init__(self, *objects: Obj) -> None:
        self.objects = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        try:
            return copy.deepcopy(self.objects[(kind, namespace or "", name)])
        except KeyError as err:
            raise NotFound(f"{kind} {name} not found") from err

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        found = self.objects.get((kind, namespace or "", name))
        return copy.deepcopy(found) if found else None

    def patch_status(self, obj: Obj, status: Obj, **_: Any) -> Obj:
        return {**obj, "status": status}


class Storage:
    def unpacked(self, path: str, digest: str) -> Path:
        raise SandboxError("no artifact in this test")


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((event_type, reason, message))


def kustomization(name: str, *, generation: int = 1, spec: Obj | None = None, status: Obj | None = None) -> Obj:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system", "generation": generation, "uid": name},
            "spec": {"interval": "5m", "path": "./", "sourceRef": {"kind": "GitRepository", "name": "repo"},
                     **(spec or {})},
            "status": status or {}}


SOURCE = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
          "metadata": {"name": "repo", "namespace": "flux-system"},
          "status": {"artifact": {"revision": REVISION, "path": "x", "digest": "sha256:0"}}}
READY = {"observedGeneration": 1, "lastAppliedRevision": REVISION,
         "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}]}
NOT_READY = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False", "reason": "Failed"}]}


def git_sources() -> Sources:
    sources = Sources()
    sources.register(kinds.GITREPOSITORY, Informer(None, kinds.GITREPOSITORY.api_version, "GitRepository",  # type: ignore[arg-type]
                                                   lambda _e, _o: None))
    return sources


def reconciler(additive: bool = False) -> KustomizationReconciler:
    return KustomizationReconciler(Storage(), Path("/nonexistent"), None,  # type: ignore[arg-type]
                                   sources=git_sources(), additive_cel_dependency_check=additive)


def check(app: Obj, infra: Obj, *, additive: bool = False) -> None:
    reconciler(additive)._check_dependencies(app, Kube(app, infra, SOURCE), SOURCE)  # type: ignore[arg-type]


def depends(expression: str) -> Obj:
    return {"dependsOn": [{"name": "infra", "readyExpr": expression}]}


LABELLED = "dep.metadata.labels['tier'] == 'infra' && self.metadata.name == 'app'"

CASES: list[tuple[str, str, Obj, bool, str | None]] = [
    # id, readyExpr, dependency status, additive gate, expected failure (None: ready)
    ("expression-true-replaces-ready-check", LABELLED, NOT_READY, False, None),
    ("expression-false", "dep.metadata.labels['tier'] == 'apps'", READY, False,
     "dependency 'flux-system/infra' is not ready according to readyExpr eval"),
    ("additive-gate-keeps-ready-check", LABELLED, NOT_READY, True, "dependency 'flux-system/infra' is not ready"),
    ("additive-gate-both-true", LABELLED, READY, True, None),
    ("reads-dependency-status", "dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
     READY, False, None),
    ("evaluation-error-is-a-wait", "dep.status.missing == 1", READY, False,
     "failed to evaluate the CEL expression 'dep.status.missing == 1': no such key: missing"),
]


@pytest.mark.parametrize(("expression", "dep_status", "additive", "failure"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_ready_expr_decides_readiness(expression: str, dep_status: Obj, additive: bool, failure: str | None) -> None:
    app = kustomization("app", spec=depends(expression))
    infra = kustomization("infra", status=dep_status)
    infra["metadata"]["labels"] = {"tier": "infra"}
    if failure is None:
        check(app, infra, additive=additive)
        return
    with pytest.raises(ReconcileFailure) as caught:
        check(app, infra, additive=additive)
    assert caught.value.reason == cond.DEPENDENCY_NOT_READY
    assert str(caught.value) == failure


def test_without_ready_expr_the_built_in_check_still_applies() -> None:
    with pytest.raises(ReconcileFailure, match="dependency 'flux-system/infra' is not ready"):
        check(kustomization("app", spec={"dependsOn": [{"name": "infra"}]}), kustomization("infra", status=NOT_READY))


def test_an_invalid_ready_expr_names_the_dependency_and_the_expression() -> None:
    with pytest.raises(cel.CELParseError) as caught:
        check(kustomization("app", spec=depends("dep.status.(")), kustomization("infra", status=READY))
    assert str(caught.value).startswith(
        "failed to evaluate dependency infra: failed to parse the CEL expression 'dep.status.(': ERROR: <input>:1:")
    with pytest.raises(cel.CELParseError, match="undeclared reference to 'status'"):
        check(kustomization("app", spec=depends("status.ready")), kustomization("infra", status=READY))


def reconcile(obj: Obj, *others: Obj) -> tuple[Any, Events]:
    events = Events()
    ctx = Context(kube=Kube(obj, SOURCE, *others), events=events, metrics=Metrics(),  # type: ignore[arg-type]
                  stop=threading.Event())
    return reconciler().reconcile(obj, ctx), events


@pytest.mark.parametrize(("spec", "others", "detail"), [
    ({"wait": True, "healthCheckExprs": [{"apiVersion": "example.com/v1", "kind": "Widget",
                                          "current": "status.ready =="}]}, (),
     "failed to create custom status evaluator for healthchecks[0]: failed to parse the expression Current: "
     "failed to parse the CEL expression 'status.ready ==': ERROR: <input>:1:16: Syntax error"),
    (depends("dep.status.conditions.exists(c, c.status == 'True'"), (kustomization("infra", status=READY),),
     "failed to evaluate dependency infra: failed to parse the CEL expression "
     "'dep.status.conditions.exists(c, c.status == 'True'': ERROR: <input>:1:"),
], ids=["healthCheckExprs", "readyExpr"])
def test_an_invalid_expression_stalls_the_kustomization(spec: Obj, others: tuple[Obj, ...], detail: str) -> None:
    result, events = reconcile(kustomization("app", generation=3, spec=spec), *others)
    assert result.requeue_after is None, "terminal: retrying cannot fix the spec"
    ready = cond.find(result.status["conditions"], cond.READY)
    stalled = cond.find(result.status["conditions"], cond.STALLED)
    prefix = "Reconciliation failed terminally due to configuration error: "
    assert ready and ready["status"] == "False" and ready["reason"] == "InvalidCELExpression"
    assert ready["message"].startswith(prefix + detail), ready["message"]
    assert stalled and stalled["status"] == "True" and stalled["reason"] == "InvalidCELExpression"
    assert result.status["observedGeneration"] == 3
    assert [(kind, reason) for kind, reason, _ in events.recorded] == [("Warning", "InvalidCELExpression")]


def test_valid_expressions_are_not_refused_as_unsupported() -> None:
    spec = {"healthCheckExprs": [{"apiVersion": "example.com/v1", "kind": "Widget", "current": "true"}],
            **depends("dep.metadata.name == 'infra'")}
    result, _ = reconcile(kustomization("app", spec=spec), kustomization("infra", status=NOT_READY))
    ready = cond.find(result.status["conditions"], cond.READY)
    # It gets past the CEL checks and the dependency (readyExpr true) to the build, which this fake cannot do.
    assert ready and ready["reason"] == cond.ARTIFACT_FAILED and "no artifact in this test" in ready["message"]


class Applier:
    def parallel(self, function: Any, items: list[Any]) -> list[Any]:
        return [function(item) for item in items]


def test_a_failed_custom_resource_ends_the_health_check_at_once() -> None:
    """Fail-fast: the wait stops at the first Failed object instead of polling until the timeout."""
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w", "namespace": "apps", "generation": 1},
              "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Broken"}]}}
    app = kustomization("app", spec={"wait": True})
    checks = health.custom_health_checks([{"apiVersion": "example.com/v1", "kind": "Widget", "current": "false",
                                           "failed": "status.conditions.exists(e, e.reason == 'Broken')"}])
    ctx = Context(kube=Kube(widget), events=Events(), metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    subject = KustomizationReconciler(Storage(), Path("/nonexistent"), Applier(),  # type: ignore[arg-type]
                                      sources=git_sources())
    started = time.monotonic()
    with pytest.raises(ReconcileFailure) as caught:
        subject._check_health(app, ctx, [widget], timeout=30, source={}, custom_checks=checks)
    assert time.monotonic() - started < 10
    assert caught.value.reason == cond.HEALTH_CHECK_FAILED
    assert str(caught.value).startswith("health check failed after ")
    assert caught.value.detail == "failed early due to stalled resources: [Widget/apps/w status: 'Failed']"
