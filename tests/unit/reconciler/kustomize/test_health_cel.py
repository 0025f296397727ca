"""healthCheckExprs: custom resources whose health CEL expressions decide (fluxcd/pkg runtime/cel StatusEvaluator),
their parse errors worded as Flux's, and built-in kinds left to kstatus."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.reconciler.kustomize.health import Health, Status, custom_health_checks, status_of, wait_error
from sandbox.reconciler.runtime.cel import CELParseError
from tests.unit.reconciler.kustomize.objects import obj

READY = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
WIDGET_CHECKS = [{
    "apiVersion": "example.com/v1", "kind": "Widget",
    "inProgress": "has(status.phase) && status.phase == 'Provisioning'",
    "failed": "status.conditions.exists(e, e.type == 'Ready' && e.status == 'False' && e.reason == 'Broken')",
    "current": "status.conditions.exists(e, e.type == 'Ready' && e.status == 'True')",
}]


def widget(status: dict[str, Any] | None = None, generation: int = 1, api_version: str = "example.com/v1",
           **fields: Any) -> dict[str, Any]:
    return obj(api_version, "Widget", "w", "apps", generation=generation, status=status or {}, **fields)


def ready(status: str, reason: str = "Ok") -> list[dict[str, str]]:
    return [{"type": "Ready", "status": status, "reason": reason}]


CASES: list[tuple[str, dict[str, Any], Status]] = [
    ("current", widget({"conditions": ready("True")}), Status.CURRENT),
    ("no-expression-true-is-in-progress", widget({"conditions": ready("False", "Waiting")}), Status.IN_PROGRESS),
    ("failed", widget({"conditions": ready("False", "Broken")}), Status.FAILED),
    ("in-progress-wins-over-failed-and-current",
     widget({"phase": "Provisioning", "conditions": ready("True")}), Status.IN_PROGRESS),
    ("failed-wins-over-current", widget({"conditions": ready("False", "Broken") + ready("True")}), Status.FAILED),
    ("generation-not-observed", widget({"observedGeneration": 1, "conditions": ready("True")}, generation=2),
     Status.IN_PROGRESS),
    ("other-version-same-group", widget({"conditions": ready("True")}, api_version="example.com/v2"),
     Status.CURRENT),
    # The expressions replace kstatus's generic rules for the kind: a Stalled condition is not read.
    ("replaces-generic-rules", widget({"conditions": [*ready("True"), {"type": "Stalled", "status": "True"}]}),
     Status.CURRENT),
    ("missing-field-is-unknown", widget({}), Status.UNKNOWN),
]


@pytest.mark.parametrize(("live", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_custom_resource_health_is_decided_by_its_expressions(live: dict[str, Any], expected: Status) -> None:
    assert status_of(live, custom=custom_health_checks(WIDGET_CHECKS)).status is expected


def test_without_expressions_a_custom_resource_is_current_as_before() -> None:
    assert status_of(widget({"conditions": ready("False", "Broken")})).status is Status.CURRENT


def test_an_evaluation_error_is_unknown_and_reported_at_the_timeout() -> None:
    health = status_of(widget({}), custom=custom_health_checks(WIDGET_CHECKS))
    assert health.status is Status.UNKNOWN and "no such key: conditions" in health.error
    assert wait_error({"Widget/apps/w": health}, timed_out=False) is None, "not a failure: no fail-fast"
    message = wait_error({"Widget/apps/w": health}, timed_out=True)
    # inProgress guards with has() and is false; failed, tried next, reads the missing conditions.
    assert message == ("timeout waiting for: [Widget/apps/w status: 'Unknown': failed to evaluate the CEL expression "
                       f"'{WIDGET_CHECKS[0]['failed']}': no such key: conditions]")


def test_failed_by_expression_fails_fast() -> None:
    health = status_of(widget({"conditions": ready("False", "Broken")}), custom=custom_health_checks(WIDGET_CHECKS))
    assert wait_error({"Widget/apps/w": health}, timed_out=False) == (
        "failed early due to stalled resources: [Widget/apps/w status: 'Failed']")


def test_built_in_kinds_keep_their_rules_and_can_be_overridden() -> None:
    deployment = obj("apps/v1", "Deployment", "web", "apps", spec={"replicas": 1}, status={})
    assert status_of(deployment, custom=custom_health_checks(WIDGET_CHECKS)).status is Status.IN_PROGRESS
    override = custom_health_checks([{"apiVersion": "apps/v1", "kind": "Deployment", "current": "true"}])
    assert status_of(deployment, custom=override).status is Status.CURRENT
    core = custom_health_checks([{"apiVersion": "v1", "kind": "ConfigMap", "current": "data.ready == 'yes'"}])
    assert status_of(obj("v1", "ConfigMap", "c", "apps", data={"ready": "no"}), custom=core).status \
        is Status.IN_PROGRESS
    assert status_of(obj("v1", "ConfigMap", "c", "apps", data={"ready": "yes"}), custom=core) == \
        Health(Status.CURRENT, "healthCheckExprs: current is true")


def test_jobs_keep_flux_s_own_reader() -> None:
    job = obj("batch/v1", "Job", "j", "apps", status={})
    checks = custom_health_checks([{"apiVersion": "batch/v1", "kind": "Job", "current": "true"}])
    assert status_of(job, custom=checks).status is Status.IN_PROGRESS  # "Job not started", as without the check


@pytest.mark.parametrize(("entries", "message"), [
    ([{"apiVersion": "example.com/v1", "kind": "Widget", "current": "status.phase =="}],
     "failed to create custom status evaluator for healthchecks[0]: failed to parse the expression Current: "
     "failed to parse the CEL expression 'status.phase =='"),
    ([{"apiVersion": "example.com/v1", "kind": "Widget", "current": READY},
      {"apiVersion": "example.com/v1", "kind": "Gadget", "current": READY, "failed": "status.(x"}],
     "failed to create custom status evaluator for healthchecks[1]: failed to parse the expression Failed: "
     "failed to parse the CEL expression 'status.(x'"),
    ([{"apiVersion": "example.com/v1", "kind": "Widget", "current": READY, "inProgress": "a b"}],
     "failed to create custom status evaluator for healthchecks[0]: failed to parse the expression InProgress: "
     "failed to parse the CEL expression 'a b': ERROR: <input>:1:3: Syntax error"),
    ([{"apiVersion": "example.com/v1", "kind": "Widget", "current": ""}],
     "failed to create custom status evaluator for healthchecks[0]: expression Current not specified"),
    ([{"apiVersion": "example.com/v1", "kind": "Widget", "current": READY},
      {"apiVersion": "example.com/v2", "kind": "Widget", "current": READY}],
     "duplicate custom health check for GroupKind Widget.example.com at healthchecks[1]"),
], ids=["current-syntax", "failed-syntax-second-entry", "in-progress-syntax", "current-missing", "duplicate"])
def test_invalid_health_check_expressions_are_worded_as_flux(entries: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(CELParseError) as caught:
        custom_health_checks(entries)
    assert str(caught.value).startswith(message)
