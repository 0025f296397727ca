"""The schema vocabulary, and the rules a v1.20 apiserver holds every CRD schema to."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.errors import InputError
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.crds import DEFINITIONS, crds, definition
from sandbox.reconciler.apis.schema import KEYWORDS, array, obj, required, string, string_map
from tests.unit.reconciler.apis.schema_diff import fields


def test_obj_lists_required_properties_in_declaration_order() -> None:
    schema = obj("doc", url=required(string()), ref=obj(branch=string()), interval=required(string()))
    assert schema == {
        "type": "object", "description": "doc",
        "properties": {"url": {"type": "string"},
                       "ref": {"type": "object", "properties": {"branch": {"type": "string"}}},
                       "interval": {"type": "string"}},
        "required": ["url", "interval"],
    }


def test_unset_keywords_are_left_out() -> None:
    assert string() == {"type": "string"}
    assert array(string_map(), max_items=3) == {"type": "array", "maxItems": 3,
                                                "items": {"type": "object", "additionalProperties": {"type": "string"}}}


all_crds = pytest.mark.parametrize("crd", crds(), ids=lambda c: c["spec"]["names"]["kind"])


@all_crds
def test_only_keywords_a_1_20_apiserver_accepts(crd: dict[str, Any]) -> None:
    """No CEL (x-kubernetes-validations arrived in 1.23) and nothing outside the vocabulary's small set."""
    for version in crd["spec"]["versions"]:
        for path, node in fields(version["schema"]["openAPIV3Schema"]):
            assert set(node) <= KEYWORDS, f"{path}: {set(node) - KEYWORDS}"


@all_crds
def test_schemas_are_structural(crd: dict[str, Any]) -> None:
    """Every node has a type unless it keeps unknown fields; required names exist; metadata is left alone."""
    for version in crd["spec"]["versions"]:
        root = version["schema"]["openAPIV3Schema"]
        assert root["properties"]["metadata"] == {"type": "object"}
        for path, node in fields(root):
            assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
            assert set(node.get("required", [])) <= set(node.get("properties", {})), path
            assert not ("properties" in node and "additionalProperties" in node), path


def test_unknown_fields_survive_only_in_helm_values() -> None:
    kept = [(d.kind.kind, path) for d in DEFINITIONS for path, node in fields(d.schema())
            if node.get("x-kubernetes-preserve-unknown-fields")]
    assert kept == [("HelmRelease", ".spec.values")]


def test_every_served_kind_has_one_definition() -> None:
    assert [d.kind for d in DEFINITIONS] == list(kinds.ALL)
    assert len({d.kind.crd_name for d in DEFINITIONS}) == len(DEFINITIONS)
    assert definition(kinds.GITREPOSITORY).kind.plural == "gitrepositories"


def test_reconciled_kinds_have_a_status_subresource_and_static_ones_do_not() -> None:
    static = {d.kind.kind for d in DEFINITIONS if d.status is None}
    assert static == {"Provider", "Alert"}
    for crd in crds():
        version = crd["spec"]["versions"][0]
        has_status = "status" in version["schema"]["openAPIV3Schema"]["properties"]
        assert (version["subresources"] == {"status": {}}) == has_status
        status = version["schema"]["openAPIV3Schema"]["properties"].get("status", {})
        if "observedGeneration" in status.get("properties", {}):
            assert status["default"] == {"observedGeneration": -1}
        elif has_status:  # Flux's status of these kinds has no observedGeneration
            assert crd["spec"]["names"]["kind"] in {"ExternalArtifact", "ArtifactGenerator"}


def test_crds_are_fresh_copies() -> None:
    first = crds()
    first[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].clear()
    assert crds()[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def test_kind_names() -> None:
    kind = kinds.GITREPOSITORY
    assert (kind.api_version, kind.singular, kind.list_kind, kind.crd_name) == (
        "source.toolkit.fluxcd.io/v1", "gitrepository", "GitRepositoryList", "gitrepositories.source.toolkit.fluxcd.io")
    assert kinds.by_kind("Kustomization") is kinds.KUSTOMIZATION
    assert kinds.by_kind("Alert", "notification.toolkit.fluxcd.io/v1beta3") is kinds.ALERT


def test_an_unserved_kind_is_an_input_error_listing_what_is_served() -> None:
    with pytest.raises(InputError, match=r"does not serve source.toolkit.fluxcd.io/v1beta2 GitRepository.*"
                                         r"source.toolkit.fluxcd.io/v1 GitRepository"):
        kinds.by_kind("GitRepository", "source.toolkit.fluxcd.io/v1beta2")
