"""JSON patches as github.com/wI2L/jsondiff computes them (its own test cases, read from the Go module cache when
present), JSON pointer removal, label selectors and ignore rules as fluxcd/pkg/ssa/jsondiff reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import InputError
from sandbox.reconciler.runtime import jsondiff

UPSTREAM = Path.home() / ".cache/gitops-sandbox/go/mod/github.com/w!i2!l/jsondiff@v0.6.1/testdata/tests"


def _upstream_cases() -> list[Any]:
    cases = []
    for name, rationalize in (("array.json", False), ("object.json", False), ("root.json", False),
                              ("options/rationalization.json", True)):
        path = UPSTREAM / name
        if path.exists():
            cases += [pytest.param(case, rationalize, id=f"{name}:{case['name']}")
                      for case in json.loads(path.read_text())]
    return cases or [pytest.param(None, False, marks=pytest.mark.skip(
        reason=f"needs github.com/wI2L/jsondiff v0.6.1 in the Go module cache ({UPSTREAM})"))]


@pytest.mark.parametrize(("case", "rationalize"), _upstream_cases())
def test_compare_matches_upstream_cases(case: dict[str, Any], rationalize: bool) -> None:
    patch = [op.to_patch() for op in jsondiff.compare(case["before"], case["after"], rationalize=rationalize)]
    assert patch == (case.get("patch") or [])


@pytest.mark.parametrize(("before", "after", "expected"), [
    pytest.param({"a": 1}, {"a": 1.0}, [], id="int-equals-float"),
    pytest.param({"a": True}, {"a": 1}, [{"op": "replace", "path": "/a", "value": 1}], id="bool-is-not-number"),
    pytest.param({"a/b": 1}, {"a/b": 2}, [{"op": "replace", "path": "/a~1b", "value": 2}], id="escaped-key"),
    pytest.param({"spec": {"replicas": 1, "x": 1}}, {"spec": {"replicas": 3}},
                 [{"op": "remove", "path": "/spec/x"}, {"op": "replace", "path": "/spec/replicas", "value": 3}],
                 id="keys-in-order"),
])
def test_compare_cases(before: Any, after: Any, expected: list[dict[str, Any]]) -> None:
    assert sorted((op.to_patch() for op in jsondiff.compare(before, after)), key=json.dumps) == \
        sorted(expected, key=json.dumps)


def test_remove_paths_skips_missing_and_counts_negative_indices() -> None:
    doc = {"spec": {"replicas": 3, "containers": [{"name": "a"}, {"name": "b"}]}, "metadata": {"a~b": 1}}
    jsondiff.remove_paths(doc, ["/spec/replicas", "/spec/nothing/here", "/spec/containers/-1", "/metadata/a~0b"])
    assert doc == {"spec": {"containers": [{"name": "a"}]}, "metadata": {}}


def test_remove_paths_rejects_a_pointer_without_slash() -> None:
    with pytest.raises(InputError, match="must start with '/'"):
        jsondiff.remove_paths({}, ["spec"])


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "api"}, False),
    ("app!=web", {}, True),
    ("tier in (a, b),app", {"tier": "b", "app": "x"}, True),
    ("tier notin (a,b)", {"tier": "a"}, False),
    ("!canary", {"canary": "yes"}, False),
    ("!canary", {}, True),
])
def test_label_selectors(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert all(r.matches(labels) for r in jsondiff.parse_selector(selector)) is matches


def test_a_malformed_selector_names_the_rule() -> None:
    with pytest.raises(InputError, match=r"driftDetection.ignore\[0\].*label selector"):
        jsondiff.IgnoreRules.parse([{"paths": ["/spec"], "target": {"labelSelector": "a in (b"}}],
                                   where="driftDetection.ignore")


def test_ignore_rules_select_by_anchored_regex_and_selectors() -> None:
    rules = jsondiff.IgnoreRules.parse([
        {"paths": ["/spec/replicas"], "target": {"kind": "Deploy.*", "name": "web"}},
        {"paths": ["/data"], "target": {"kind": "Config", "annotationSelector": "ignore=yes"}},
        {"paths": ["/metadata/labels/x"]},
    ])
    web = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a"}}
    webapp = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "webapp"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"ignore": "yes"}}}
    assert rules.paths_for(web) == ["/spec/replicas", "/metadata/labels/x"]
    assert rules.paths_for(webapp) == ["/metadata/labels/x"]  # the name regex is anchored
    assert rules.paths_for(config) == ["/metadata/labels/x"]  # so is the kind: "Config" is not "ConfigMap"


def test_secret_patches_are_masked() -> None:
    patch = jsondiff.compare({"data": {"a": "MQ==", "b": "Mg=="}}, {"data": {"a": "Mw==", "c": "NA=="}})
    masked = [op.to_patch() for op in jsondiff.mask_secret_patch(patch)]
    text = json.dumps(masked)
    assert "Mw==" not in text and "NA==" not in text
    assert {"op": "replace", "path": "/data/a", "value": "*** (after)"} in masked
