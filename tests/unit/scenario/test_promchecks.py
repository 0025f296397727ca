"""The `prometheus` check on canned query results: which series count, how many, and their values."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.scenario.promchecks import compare_series, show_series


def series(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": {"__name__": "gotk_resource_info", **labels}, "value": [1700000000.0, value]}


APPS_FALSE = series("1", name="apps", ready="False", customresource_kind="Kustomization")
INFRA_TRUE = series("1", name="infra", ready="True", customresource_kind="Kustomization")
COUNTER = {"metric": {}, "value": [1700000000.0, "3"]}
NAN = {"metric": {}, "value": [1700000000.0, "NaN"]}

# (id, result, check, passes, text in the detail)
CASES = [
    ("any-series", [APPS_FALSE], {}, True, "returned 1 series"),
    ("none-but-wanted", [], {}, False, "expected at least one series"),
    ("count-zero", [], {"count": 0}, True, "returned 0 series"),
    ("count-zero-but-one", [APPS_FALSE], {"count": 0}, False, "expected 0 series (found 1)"),
    ("count-two", [APPS_FALSE, INFRA_TRUE], {"count": 2}, True, ""),
    ("labels-filter", [APPS_FALSE, INFRA_TRUE], {"labels": {"ready": "True"}, "count": 1}, True, ""),
    ("labels-missing", [APPS_FALSE], {"labels": {"ready": "True"}}, False,
     'expected at least one series with ready="True"'),
    ("equals-number", [COUNTER], {"equals": 3}, True, "= 3"),
    ("equals-number-float", [series("0.5")], {"equals": 0.5}, True, ""),
    ("equals-wrong", [COUNTER], {"equals": 2}, False, "expected a value equal to 2"),
    ("equals-text", [NAN], {"equals": "NaN"}, True, ""),
    ("nan-is-no-number", [NAN], {"at_least": 0}, False, "expected a value at least 0"),
    ("at-least", [COUNTER], {"at_least": 3}, True, ""),
    ("at-least-short", [COUNTER], {"at_least": 4}, False, "expected a value at least 4"),
    ("between", [COUNTER], {"at_least": 1, "at_most": 3}, True, ""),
    ("at-most-over", [COUNTER], {"at_most": 2}, False, "at most 2"),
    ("every-value", [series("1", name="a"), series("0", name="b")], {"equals": 1}, False,
     "expected every value equal to 1"),
    ("values-of-the-labelled-only", [series("1", name="a"), series("0", name="b")],
     {"labels": {"name": "a"}, "equals": 1}, True, ""),
    ("value-without-series", [], {"at_least": 1}, False, "expected at least one series"),
]


@pytest.mark.parametrize(("result", "check", "passes", "detail"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_compare_series(result: list[dict[str, Any]], check: dict[str, Any], passes: bool, detail: str) -> None:
    outcome = compare_series("QUERY", result, {"prometheus": "QUERY", **check})
    assert outcome.ok is passes, outcome.detail
    assert outcome.detail.startswith("QUERY returned")
    assert detail in outcome.detail


def test_a_series_is_shown_with_its_telling_labels_first() -> None:
    shown = show_series(series("1", zone="z", name="apps", ready="False", revision="", alertname="A"), {"zone": "z"})
    assert shown == 'gotk_resource_info{zone="z", alertname="A", name="apps", ready="False"} = 1'


def test_many_series_and_labels_are_cut_short() -> None:
    many = [series("1", **{f"l{i}": "v" for i in range(12)}, name=f"n{n}") for n in range(5)]
    detail = compare_series("Q", many, {"prometheus": "Q"}).detail
    assert detail.count("gotk_resource_info{") == 3 and detail.endswith("; and 2 more")
    assert ", …}" in detail
