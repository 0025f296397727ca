"""Kustomization timeouts as kustomize-controller computes them (GetTimeout)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.reconciler.kustomize.controller import timeout_of


@pytest.mark.parametrize(("spec", "expected"), [
    ({"interval": "10m"}, 570.0), ({"interval": "10m", "timeout": "2m"}, 120.0),
    ({"interval": "10m", "timeout": "10s"}, 30.0), ({"interval": "40s"}, 30.0),
], ids=["interval-less-30s", "explicit", "floor-on-explicit", "floor-on-interval"])
def test_kustomization_timeout_as_flux_computes_it(spec: dict[str, Any], expected: float) -> None:
    assert timeout_of({"kind": "Kustomization", "metadata": {"name": "k"}, "spec": spec}) == expected

