"""The kubectl JSONPath subset that expectations use."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.errors import InputError
from sandbox.scenario import jsonpath

DOC: dict[str, Any] = {
    "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "web", "tier": "front"}},
    "spec": {"replicas": 2, "containers": [{"name": "web", "image": "nginx:1.25"},
                                           {"name": "side", "image": "busybox"}]},
    "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Healthy", "status": "False"}],
               "ready": True},
}

CASES = [
    ("field", ".metadata.name", ["a"]),
    ("braces", "{.metadata.name}", ["a"]),
    ("dollar", "$.spec.replicas", [2]),
    ("no-leading-dot", "spec.replicas", [2]),
    ("quoted-key", ".metadata.labels['app.kubernetes.io/name']", ["web"]),
    ("double-quoted-key", '.metadata.labels["tier"]', ["front"]),
    ("escaped-dots", r".metadata.labels.app\.kubernetes\.io/name", ["web"]),
    ("index", ".spec.containers[1].image", ["busybox"]),
    ("negative-index", ".spec.containers[-1].name", ["side"]),
    ("wildcard", ".spec.containers[*].image", ["nginx:1.25", "busybox"]),
    ("dot-wildcard", ".metadata.labels.*", ["web", "front"]),
    ("filter", '{.status.conditions[?(@.type=="Ready")].status}', ["True"]),
    ("filter-single-quotes", ".status.conditions[?(@.type == 'Healthy')].status", ["False"]),
    ("filter-not-equal", '.status.conditions[?(@.type!="Ready")].type', ["Healthy"]),
    ("missing", ".status.nothing.here", []),
    ("index-out-of-range", ".spec.containers[5]", []),
    ("root", "{}", [DOC]),
]


@pytest.mark.parametrize(("expression", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_find(expression: str, expected: list[Any]) -> None:
    assert jsonpath.find(DOC, jsonpath.parse(expression)) == expected


@pytest.mark.parametrize(("expression", "message"), [
    (".spec.containers[0", "is never closed"),
    (".spec[?(@.a ~ 1)]", "is not an index"),
    (".spec[?(@.a==bare)]", "filter value 'bare'"),
    (".a..b", "expected a field name"),
])
def test_bad_expressions(expression: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        jsonpath.parse(expression)


@pytest.mark.parametrize(("actual", "expected", "same"), [
    (2, 2, True), (2, "2", True), ("2", 2, True), (True, "true", True), (True, True, True), (2, 3, False),
    ("blue", "red", False), ([1, 2], [1, 2], True), ({"a": 1}, "a", False), (None, "null", True),
])
def test_same_compares_like_kubectl_prints(actual: Any, expected: Any, same: bool) -> None:
    assert jsonpath.same(actual, expected) is same
