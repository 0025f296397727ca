"""Our CRDs against Flux's published ones: same names, versions, columns, and for every field the same type."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.reconciler.apis.crds import DEFINITIONS
from sandbox.reconciler.apis.definition import Definition
from tests.unit.reconciler.apis.schema_diff import compare

REPO_ROOT = Path(__file__).resolve().parents[4]
CANDIDATES = (REPO_ROOT.parent / "shared" / "reference" / "flux-crds", Path("/work/shared/reference/flux-crds"))


def reference_dir() -> Path | None:
    return next((path for path in CANDIDATES if path.is_dir()), None)


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, Any]]:
    directory = reference_dir()
    if directory is None:
        pytest.skip(f"Flux reference CRDs not found (looked in {', '.join(map(str, CANDIDATES))})")
    crds = {}
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        crds[document["metadata"]["name"]] = document
    return crds


# source-watcher's CRDs are not among the reference files (Flux's core controllers' CRDs); ours follows its Go types
# (source-watcher api v2.2.4) instead.
WITHOUT_REFERENCE = {"artifactgenerators.source.extensions.fluxcd.io"}


def reference_crd(reference: dict[str, dict[str, Any]], definition: Definition) -> dict[str, Any]:
    name = definition.kind.crd_name
    if name in WITHOUT_REFERENCE and name not in reference:
        pytest.skip(f"no reference CRD for {name}")
    assert name in reference, f"no reference CRD named {name}"
    return reference[name]


def versions(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {version["name"]: version for version in crd["spec"]["versions"]}


def schema_pairs(reference: dict[str, dict[str, Any]], definition: Definition) -> list[tuple[str, Any, Any]]:
    ours = versions(definition.crd())
    theirs = versions(reference_crd(reference, definition))
    return [(name, ours[name]["schema"]["openAPIV3Schema"], theirs[name]["schema"]["openAPIV3Schema"])
            for name in ours if name in theirs]


by_kind = pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.kind.kind)


@by_kind
def test_group_names_and_scope_match(reference: dict[str, dict[str, Any]], definition: Definition) -> None:
    ours, theirs = definition.crd()["spec"], reference_crd(reference, definition)["spec"]
    assert ours["group"] == theirs["group"]
    assert ours["scope"] == theirs["scope"]
    for key in ("kind", "listKind", "plural", "singular"):
        assert ours["names"][key] == theirs["names"][key], key
    assert ours["names"].get("shortNames", []) == theirs["names"].get("shortNames", [])
    assert ours["names"].get("categories", []) == theirs["names"].get("categories", [])


@by_kind
def test_served_versions_subresources_and_columns_match(reference: dict[str, dict[str, Any]],
                                                         definition: Definition) -> None:
    ours, theirs = versions(definition.crd()), versions(reference_crd(reference, definition))
    assert {n for n, v in ours.items() if v["served"]} == {n for n, v in theirs.items() if v["served"]}
    assert {n for n, v in ours.items() if v["storage"]} == {n for n, v in theirs.items() if v["storage"]}
    for name, version in ours.items():
        assert version.get("subresources", {}) == theirs[name].get("subresources", {}), name
        columns = [(c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
                   for c in version.get("additionalPrinterColumns", [])]
        expected = [(c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
                    for c in theirs[name].get("additionalPrinterColumns", [])]
        assert columns == expected, name


@by_kind
def test_every_declared_field_exists_in_the_reference_with_the_same_type(
        reference: dict[str, dict[str, Any]], definition: Definition) -> None:
    for version, ours, theirs in schema_pairs(reference, definition):
        report = compare(ours, theirs)
        assert report.not_in_reference == [], f"{version}: fields Flux does not have"
        assert report.type_mismatches == [], version
        assert report.enum_mismatches == [], version


@by_kind
def test_validation_and_defaults_match_the_reference(reference: dict[str, dict[str, Any]],
                                                     definition: Definition) -> None:
    """Same required fields, patterns, bounds and defaults: YAML valid under Flux is valid here and stored alike."""
    for version, ours, theirs in schema_pairs(reference, definition):
        assert compare(ours, theirs).validation_mismatches == [], version


@by_kind
def test_every_reference_field_is_declared(reference: dict[str, dict[str, Any]], definition: Definition) -> None:
    """A field Flux accepts but we did not declare would be pruned silently by the apiserver."""
    for version, ours, theirs in schema_pairs(reference, definition):
        assert compare(ours, theirs).missing_from_ours == [], version


def test_every_served_kind_has_a_reference_crd(reference: dict[str, dict[str, Any]]) -> None:
    assert {d.kind.crd_name for d in DEFINITIONS} - WITHOUT_REFERENCE <= set(reference)


# The comparison itself must catch mistakes; prove it on deliberately broken copies of GitRepository.

def git_repository_schemas(reference: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    definition = next(d for d in DEFINITIONS if d.kind.kind == "GitRepository")
    [(_, ours, theirs)] = schema_pairs(reference, definition)
    return copy.deepcopy(ours), theirs


def test_a_misspelt_field_is_caught(reference: dict[str, dict[str, Any]]) -> None:
    ours, theirs = git_repository_schemas(reference)
    spec = ours["properties"]["spec"]["properties"]
    spec["intervall"] = spec.pop("interval")
    report = compare(ours, theirs)
    assert ".spec.intervall" in report.not_in_reference
    assert ".spec.interval" in report.missing_from_ours


def test_a_wrong_type_is_caught(reference: dict[str, dict[str, Any]]) -> None:
    ours, theirs = git_repository_schemas(reference)
    ours["properties"]["spec"]["properties"]["suspend"] = {"type": "string"}
    ours["properties"]["status"]["properties"]["artifact"]["properties"]["size"]["format"] = "int32"
    report = compare(ours, theirs)
    assert any(m.startswith(".spec.suspend: type 'string'") for m in report.type_mismatches)
    assert any(m.startswith(".status.artifact.size: format 'int32'") for m in report.type_mismatches)


def test_an_invented_enum_value_is_caught(reference: dict[str, dict[str, Any]]) -> None:
    ours, theirs = git_repository_schemas(reference)
    ours["properties"]["spec"]["properties"]["provider"]["enum"].append("gitea")
    assert compare(ours, theirs).enum_mismatches == [".spec.provider: enum values ['gitea'] not in the reference"]


def test_a_changed_default_or_requirement_is_caught(reference: dict[str, dict[str, Any]]) -> None:
    ours, theirs = git_repository_schemas(reference)
    ours["properties"]["spec"]["properties"]["timeout"]["default"] = "30s"
    ours["properties"]["spec"]["required"].remove("interval")
    mismatches = compare(ours, theirs).validation_mismatches
    assert ".spec.timeout: default '30s', reference '60s'" in mismatches
    assert any(m.startswith(".spec: required ['url']") for m in mismatches)
