"""``spec.policySelector``: a Kubernetes label selector (matchLabels and matchExpressions) over ImagePolicies,
validated as metav1.LabelSelectorAsSelector validates it (pure logic)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.errors import InputError

_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

Matcher = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


class SelectorError(InputError):
    """The selector cannot be parsed (Stalled, reason InvalidPolicySelector)."""


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if not name or len(name) > 63 or not _NAME.fullmatch(name) or (prefix and (
            len(prefix) > 253 or not _PREFIX.fullmatch(prefix))) or (not prefix and "/" in key):
        raise SelectorError(f"key: Invalid value: \"{key}\": name part must consist of alphanumeric characters, "
                            "'-', '_' or '.', and must start and end with an alphanumeric character")


def _check_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        raise SelectorError(f"values[0]: Invalid value: \"{value}\": a valid label must be an empty string or "
                            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                            "alphanumeric character")


def compile_selector(selector: Mapping[str, Any] | None) -> Matcher:
    """A function telling whether a label set matches ``selector``; no selector (or an empty one) matches all.
    Raises SelectorError naming what is wrong."""
    if not selector:
        return lambda labels: True
    requirements: list[Requirement] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        _check_key(str(key))
        _check_value(str(value))
        requirements.append(Requirement(str(key), "In", frozenset([str(value)])))
    for expression in selector.get("matchExpressions") or []:
        key, operator = str(expression.get("key", "")), str(expression.get("operator", ""))
        values = [str(v) for v in expression.get("values") or []]
        _check_key(key)
        if operator not in OPERATORS:
            raise SelectorError(f"\"{operator}\" is not a valid label selector operator")
        if operator in ("In", "NotIn") and not values:
            raise SelectorError("values: Invalid value: []string(nil): for 'in', 'notin' operators, values set "
                                "can't be empty")
        if operator in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"values: Invalid value: {values}: values set must be empty for exists and "
                                "does not exist")
        for value in values:
            _check_value(value)
        requirements.append(Requirement(key, operator, frozenset(values)))
    return lambda labels: all(requirement.matches(labels) for requirement in requirements)
