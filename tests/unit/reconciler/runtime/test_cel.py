"""The CEL wrapper: the expressions Flux users write evaluate as cel-go does, and failures are typed errors quoting
the expression in Flux's words."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sandbox.errors import InputError
from sandbox.reconciler.runtime import cel

WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1", "kind": "Widget",
    "metadata": {"name": "w", "namespace": "apps", "generation": 2, "labels": {"app": "web"}},
    "spec": {"replicas": 3},
    "status": {"observedGeneration": 2, "phase": "Running", "replicas": 3, "ratio": 0.5,
               "conditions": [{"type": "Ready", "status": "True", "reason": "Ok", "message": "all good"},
                              {"type": "Synced", "status": "False", "reason": "Err", "message": "sync failed"}]},
}
SELF: dict[str, Any] = {"metadata": {"name": "app", "generation": 4}, "status": {"observedGeneration": 4}}

CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("filter-all", "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')", WIDGET, True),
    ("all-false", "status.conditions.all(e, e.status == 'True')", WIDGET, False),
    ("exists", "status.conditions.exists(e, e.type == 'Synced' && e.status == 'False')", WIDGET, True),
    ("exists-none", "status.conditions.exists(e, e.type == 'Stalled')", WIDGET, False),
    ("exists-one", "status.conditions.exists_one(e, e.status == 'True')", WIDGET, True),
    ("all-on-empty-is-true", "status.conditions.filter(e, e.type == 'Nope').all(e, e.status == 'True')", WIDGET,
     True),
    ("has-missing", "has(status.missing)", WIDGET, False),
    ("has-present", "has(status.phase) && status.phase == 'Running'", WIDGET, True),
    ("generation", "metadata.generation == status.observedGeneration", WIDGET, True),
    ("int-compare", "status.replicas >= spec.replicas", WIDGET, True),
    ("int-double-equal", "status.replicas == 3.0", WIDGET, True),
    ("double-int-less", "status.ratio < 1", WIDGET, True),
    ("size", "size(status.conditions) == 2", WIDGET, True),
    ("map", "status.conditions.map(c, c.type) == ['Ready', 'Synced']", WIDGET, True),
    ("string-predicates", "status.phase.startsWith('Run') && status.phase.endsWith('ing') && "
                          "status.conditions[1].message.contains('failed')", WIDGET, True),
    ("matches", "status.phase.matches('^R.*g$')", WIDGET, True),
    ("ext-strings", "status.phase.lowerAscii() == 'running' && 'a,b'.split(',') == ['a', 'b']", WIDGET, True),
    ("in-map", "'app' in metadata.labels && metadata.labels['app'] == 'web'", WIDGET, True),
    ("ternary", "status.phase == 'Running' ? true : false", WIDGET, True),
    ("self-dep", "self.status.observedGeneration == self.metadata.generation && "
                 "dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
     {"self": SELF, "dep": WIDGET}, True),
]


@pytest.mark.parametrize(("source", "variables", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_expressions_evaluate_as_cel_go_does(source: str, variables: dict[str, Any], expected: bool) -> None:
    assert cel.parse(source).evaluate_bool(variables) is expected


@pytest.mark.parametrize(("source", "detail"), [
    ("status.conditions.filter(e, e.type == 'Ready'", "Syntax error: missing ')' at '<EOF>'"),
    ("status..phase", "Syntax error"),
    ("status.phase ==", "Syntax error"),
    ("status.?conditions.orValue([]).exists(e, e.type == 'Ready')", "guard the field with has()"),
], ids=["unclosed-call", "double-dot", "dangling-operator", "optional-syntax"])
def test_syntax_errors_quote_the_expression_and_the_position(source: str, detail: str) -> None:
    with pytest.raises(cel.CELParseError) as caught:
        cel.parse(source)
    message = str(caught.value)
    assert message.startswith(f"failed to parse the CEL expression '{source}': ")
    assert detail in message
    assert "<input>:1:" in message or "has()" in message
    assert caught.value.expression == source
    assert isinstance(caught.value, InputError), "a configuration error the user fixes"


@pytest.mark.parametrize(("source", "detail"), [
    ("status.missing == 'x'", "no such key: missing"),
    ("has(status.missing.deeper)", "no such key: missing"),
    ("status.phase + 1 == 2", "string + int"),
    ("unknownFunction(status.phase)", "unknownFunction"),
], ids=["missing-key", "has-through-missing", "type-mismatch", "undefined-function"])
def test_evaluation_errors_name_the_expression(source: str, detail: str) -> None:
    expression = cel.parse(source)
    with pytest.raises(cel.CELEvaluationError) as caught:
        expression.evaluate(WIDGET)
    assert str(caught.value).startswith(f"failed to evaluate the CEL expression '{source}': ")
    assert detail in str(caught.value)


def test_a_result_that_is_not_a_bool_is_an_evaluation_error() -> None:
    with pytest.raises(cel.CELEvaluationError, match=r"failed to evaluate CEL expression as boolean: 'status\.phase'"):
        cel.parse("status.phase").evaluate_bool(WIDGET)
    assert cel.parse("status.phase").evaluate(WIDGET) == "Running"


def test_compile_with_rejects_undeclared_variables_but_not_macro_variables() -> None:
    compiled = cel.compile_with("dep.status.conditions.exists(c, c.status == 'True') && self.metadata.name == 'app'",
                                ("self", "dep"))
    assert compiled.evaluate_bool({"self": SELF, "dep": WIDGET}) is True
    with pytest.raises(cel.CELParseError, match="undeclared reference to 'status'"):
        cel.compile_with("status.phase == 'Running'", ("self", "dep"))


def test_one_expression_is_evaluated_from_several_threads() -> None:
    expression = cel.parse("status.replicas == spec.replicas")
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(expression.evaluate_bool(WIDGET))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4
