"""As kustomize-controller: the events of a failed reconcile, and of one waiting for its dependencies, carry the
source artifact's origin revision (kustomize.toolkit.fluxcd.io/originRevision) beside its revision."""

from __future__ import annotations

import copy
import threading
from typing import Any

from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics
from tests.unit.reconciler.kustomize.test_cel_controller import (
    NOT_READY,
    REVISION,
    SOURCE,
    Kube,
    kustomization,
    reconciler,
)

ORIGIN = "kustomize.toolkit.fluxcd.io/originRevision"


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, dict[str, str]]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, *, metadata: Any = None,
               **_: Any) -> None:
        self.recorded.append((event_type, reason, dict(metadata or {})))


def run(obj: dict[str, Any], *others: dict[str, Any]) -> Events:
    source = copy.deepcopy(SOURCE)
    source["status"]["artifact"]["metadata"] = {"org.opencontainers.image.revision": "v1.2.3"}
    events = Events()
    ctx = Context(kube=Kube(obj, source, *others), events=events, metrics=Metrics(),  # type: ignore[arg-type]
                  stop=threading.Event())
    reconciler().reconcile(obj, ctx)
    return events


def test_a_failed_reconcile_names_the_origin_revision() -> None:
    events = run(kustomization("app"))  # the artifact cannot be read: the revision fails
    failed = [e for e in events.recorded if e[0] == "Warning"]
    assert failed, events.recorded
    assert failed[-1][2][ORIGIN] == "v1.2.3"
    assert failed[-1][2]["kustomize.toolkit.fluxcd.io/revision"] == REVISION


def test_waiting_for_a_dependency_names_the_origin_revision() -> None:
    events = run(kustomization("app", spec={"dependsOn": [{"name": "infra"}]}),
                 kustomization("infra", status=NOT_READY))
    assert [(kind, reason) for kind, reason, _ in events.recorded] == [("Normal", "DependencyNotReady")]
    assert events.recorded[0][2][ORIGIN] == "v1.2.3"
