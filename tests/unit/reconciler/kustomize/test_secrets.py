"""Secret values read by postBuild.substituteFrom are kept out of every message the reconciler writes."""

from __future__ import annotations

import base64
from typing import Any

from sandbox.reconciler.kustomize.controller import secret_values
from sandbox.tools.run import mask


def encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def test_secret_values_are_decoded_and_scrubbed_longest_first() -> None:
    fetched: dict[tuple[str, str], Any] = {
        ("Secret", "vars"): {"data": {"a": encoded("hunter2"), "b": encoded("ab")},
                             "stringData": {"c": "hunter2-extended"}},
        ("ConfigMap", "plain"): {"data": {"d": "not-a-secret"}},
        ("Secret", "missing"): None,
    }
    values = secret_values(fetched)
    assert values == ["hunter2-extended", "hunter2"], "too short to tell from words: 'ab' is left alone"
    assert mask('Invalid value: "hunter2-extended" and "hunter2"', values) == 'Invalid value: "***" and "***"'
