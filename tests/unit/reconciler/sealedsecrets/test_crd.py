"""Our SealedSecret CRD against upstream's (its Helm chart's CRD, v0.40.0), field for field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.reconciler.apis.sealedsecrets import crd
from tests.unit.reconciler.apis.schema_diff import compare

UPSTREAM = Path(__file__).parent / "upstream_crd.yaml"  # copied from upstream v0.40.0's Helm chart


@pytest.fixture(scope="module")
def upstream() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(UPSTREAM.read_text())
    return loaded


def test_names_scope_columns_and_subresources_match(upstream: dict[str, Any]) -> None:
    ours = crd()
    assert ours["metadata"]["name"] == upstream["metadata"]["name"]
    for key in ("group", "scope"):
        assert ours["spec"][key] == upstream["spec"][key]
    for key in ("kind", "listKind", "plural", "singular"):
        assert ours["spec"]["names"][key] == upstream["spec"]["names"][key]
    [mine], [theirs] = ours["spec"]["versions"], upstream["spec"]["versions"]
    assert mine["name"] == theirs["name"] and mine["subresources"] == theirs["subresources"]
    assert mine["additionalPrinterColumns"] == theirs["additionalPrinterColumns"]


def test_schema_matches_field_for_field(upstream: dict[str, Any]) -> None:
    ours = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    theirs = upstream["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    report = compare(ours, theirs)
    assert report.not_in_reference == []
    assert report.missing_from_ours == []
    assert report.type_mismatches == []
    assert report.validation_mismatches == []
