"""The ``prometheus`` check: an instant PromQL query against the sandbox's Prometheus, and what its series must be
— how many (``count``), with which labels (``labels``), with which values (``equals``, ``at_least``, ``at_most``).
Alerts are series too: ``ALERTS{alertname="…", alertstate="firing"}``."""

from __future__ import annotations

import math
from typing import Any

from sandbox.monitoring import service
from sandbox.scenario.checks import Check, Outcome
from sandbox.scenario.context import RunContext

Series = dict[str, Any]  # {"metric": {label: value}, "value": [timestamp, "text"]}
SHOWN_SERIES = 3
SHOWN_LABELS = 8
# Labels worth seeing first in a series (the rest follow by name, up to SHOWN_LABELS).
FIRST_LABELS = ("alertname", "alertstate", "customresource_kind", "kind", "exported_namespace", "namespace", "name",
                "ready", "suspended", "revision", "severity")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def show_series(series: Series, wanted: dict[str, str]) -> str:
    """``gotk_resource_info{name="apps", ready="False", …} = 1``: the labels asked about and the telling ones
    first, empty ones left out."""
    metric = dict(series.get("metric") or {})
    name = metric.pop("__name__", "")
    order = [*wanted, *FIRST_LABELS, *sorted(metric)]
    keys = [key for key in dict.fromkeys(order) if metric.get(key)]
    shown = ", ".join(f'{key}="{metric[key]}"' for key in keys[:SHOWN_LABELS])
    more = ", …" if len(keys) > SHOWN_LABELS else ""
    return f"{name}{{{shown}{more}}} = {series['value'][1]}"


def _value_problem(check: Check) -> tuple[str, Any] | None:
    """What each value must be, in words, and the test; None when the check asks nothing of values."""
    if "equals" in check:
        wanted = check["equals"]
        if isinstance(wanted, str):
            return f"equal to {wanted!r}", lambda text: text == wanted
        return f"equal to {wanted:g}", lambda text: _number(text) == float(wanted)
    bounds = []
    if "at_least" in check:
        bounds.append(f"at least {check['at_least']:g}")
    if "at_most" in check:
        bounds.append(f"at most {check['at_most']:g}")
    if not bounds:
        return None
    low, high = check.get("at_least", -math.inf), check.get("at_most", math.inf)
    return " and ".join(bounds), lambda text: low <= _number(text) <= high


def compare_series(query: str, result: list[Series], check: Check) -> Outcome:
    """The check against a query's result. The series considered are those carrying every label of ``labels``;
    ``count`` is how many there must be (default: at least one), and every one of them must have the value asked
    for (``equals`` a number, or the text Prometheus gives such as ``"NaN"``; ``at_least``/``at_most``)."""
    wanted = {key: str(value) for key, value in (check.get("labels") or {}).items()}
    matching = [s for s in result if all((s.get("metric") or {}).get(k) == v for k, v in wanted.items())]
    listed = "; ".join(show_series(s, wanted) for s in result[:SHOWN_SERIES])
    if len(result) > SHOWN_SERIES:
        listed += f"; and {len(result) - SHOWN_SERIES} more"
    seen = f"{query} returned {len(result)} series" + (f": {listed}" if listed else "")
    with_labels = " with " + ", ".join(f'{k}="{v}"' for k, v in wanted.items()) if wanted else ""
    problems = []
    if "count" in check:
        if len(matching) != check["count"]:
            problems.append(f"{check['count']} series{with_labels} (found {len(matching)})")
    elif not matching:
        problems.append(f"at least one series{with_labels}")
    value_rule = _value_problem(check)
    if value_rule is not None and matching:
        words, test = value_rule
        wrong = [s for s in matching if not test(str(s["value"][1]))]
        if wrong:
            problems.append(f"{'every value' if len(matching) > 1 else 'a value'}{with_labels} {words}")
    if problems:
        return Outcome(False, f"{seen}; expected {', '.join(problems)}")
    return Outcome(True, seen)


def evaluate(ctx: RunContext, check: Check) -> Outcome:
    rendered = ctx.render(check)
    result = service.client_of(ctx.handle.state).query(rendered["prometheus"])
    return compare_series(rendered["prometheus"], result, rendered)
