"""Helm repository indexes as source-controller reads them: parsing (JSON or YAML, invalid entries dropped, newest
first), the version a HelmChart's ``spec.version`` selects (exact, newest match, prerelease rules, the created-time
tie-break) with Helm's and source-controller's messages, OCI tag selection, URL rules and the event's size."""

from __future__ import annotations

import json

import pytest
import yaml

from sandbox.errors import InputError
from sandbox.reconciler.source import helmindex
from sandbox.reconciler.source.helmrepository import human_size


def index_of(*versions: str, name: str = "app", **extra: str) -> dict[str, object]:
    return {"apiVersion": "v1", "entries": {name: [
        {"name": name, "version": version, "urls": [f"{name}-{version}.tgz"], **extra} for version in versions]}}


def test_yaml_and_json_indexes_parse_alike() -> None:
    index = index_of("1.0.0", "1.2.0", "1.1.0")
    from_yaml = helmindex.parse_index(yaml.safe_dump(index).encode())
    from_json = helmindex.parse_index(json.dumps(index).encode())
    assert from_yaml == from_json
    assert [item["version"] for item in from_yaml["entries"]["app"]] == ["1.2.0", "1.1.0", "1.0.0"]
    assert from_yaml["entries"]["app"][0]["apiVersion"] == "v1"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty index.yaml file"),
    (b"entries: {}\n", "no API version specified"),
    (b"- a list\n", "the index is not a mapping"),
    (b"apiVersion: v1\nentries: [\n", "error converting YAML to JSON"),
])
def test_bad_indexes_say_what_helm_says(data: bytes, message: str) -> None:
    with pytest.raises(helmindex.IndexError_, match=message):
        helmindex.parse_index(data)


def test_entries_without_a_name_or_a_semver_version_are_dropped() -> None:
    index = {"apiVersion": "v1", "entries": {"app": [
        {"name": "app", "version": "1.0.0"}, {"name": "app", "version": "not-a-version"}, {"version": "2.0.0"},
        None]}}
    parsed = helmindex.parse_index(json.dumps(index).encode())
    assert [item["version"] for item in parsed["entries"]["app"]] == ["1.0.0"]


@pytest.mark.parametrize(("versions", "wanted", "chosen"), [
    (("1.0.0", "1.2.0", "2.0.0"), "*", "2.0.0"),
    (("1.0.0", "1.2.0", "2.0.0"), "", "2.0.0"),
    (("1.0.0", "1.2.0", "2.0.0"), "1.x", "1.2.0"),
    (("1.0.0", "1.2.0", "1.2.5", "2.0.0"), "~1.2", "1.2.5"),
    (("1.0.0", "1.9.0", "2.0.0"), "^1.2", "1.9.0"),
    (("1.0.0", "1.9.0", "2.0.0"), ">=1.0.0 <2.0.0", "1.9.0"),
    (("1.0.0", "1.9.0", "2.0.0"), ">=1, <2", "1.9.0"),
    (("1.0.0", "3.1.0", "2.0.0"), "1.x || >=3", "3.1.0"),
    (("1.0.0", "2.0.0-rc.1"), "*", "1.0.0"),  # prereleases only for a constraint that names one
    (("1.0.0", "2.0.0-rc.1"), ">=1.0.0-0", "2.0.0-rc.1"),
    (("1.0.0", "2.0.0-rc.1"), "2.0.0-rc.1", "2.0.0-rc.1"),  # an exact version, even a prerelease
    (("1.0.0", "v1.5.0"), "*", "v1.5.0"),
])
def test_the_newest_matching_version_is_chosen(versions: tuple[str, ...], wanted: str, chosen: str) -> None:
    index = helmindex.parse_index(json.dumps(index_of(*versions)).encode())
    assert helmindex.chart_version(index, "app", wanted).version == chosen


def test_equal_versions_are_told_apart_by_creation_time() -> None:
    index = {"apiVersion": "v1", "entries": {"app": [
        {"name": "app", "version": "1.0.0+a", "created": "2026-01-01T00:00:00Z", "urls": ["old.tgz"]},
        {"name": "app", "version": "1.0.0+b", "created": "2026-02-01T00:00:00Z", "urls": ["new.tgz"]}]}}
    assert helmindex.chart_version(helmindex.parse_index(json.dumps(index).encode()), "app", "1.x").urls == \
        ("new.tgz",)


@pytest.mark.parametrize(("index", "name", "version", "message"), [
    (index_of("1.0.0"), "other", "*", "no chart name found"),
    ({"apiVersion": "v1", "entries": {"app": []}}, "app", "*", "no chart version found"),
    (index_of("1.0.0"), "app", "9.9.9", "no 'app' chart with version matching '9.9.9' found"),
    (index_of("1.0.0"), "app", ">= bar", "improper constraint: '>= bar'"),
])
def test_missing_charts_and_versions_are_reference_errors(index: dict[str, object], name: str, version: str,
                                                          message: str) -> None:
    with pytest.raises(helmindex.ReferenceError_, match=message):
        helmindex.chart_version(helmindex.parse_index(json.dumps(index).encode()), name, version)


def test_oci_tags() -> None:
    tags = ["0.1.0", "1.0.0", "1.1.0", "latest", "2.0.0-rc.1"]
    assert helmindex.newest_tag(tags, "*") == "1.1.0"
    assert helmindex.newest_tag(tags, "latest") == "latest"
    assert helmindex.newest_tag(tags, "<1.0.0") == "0.1.0"
    with pytest.raises(InputError, match=r"could not locate a version matching provided version string 3\.x"):
        helmindex.newest_tag(tags, "3.x")
    assert helmindex.is_exact_version("1.2.3") and not helmindex.is_exact_version("1.x")


@pytest.mark.parametrize(("url", "normalized"), [
    ("http://charts.example/stable", "http://charts.example/stable/"),
    ("http://charts.example/stable///", "http://charts.example/stable/"),
    ("http://charts.example", "http://charts.example/"),
    ("oci://registry.example/charts/", "oci://registry.example/charts"),
])
def test_urls_are_normalized_as_source_controller_does(url: str, normalized: str) -> None:
    assert helmindex.normalize_url(url) == normalized


@pytest.mark.parametrize(("base", "reference", "resolved"), [
    ("http://h/stable/", "app-1.0.0.tgz", "http://h/stable/app-1.0.0.tgz"),
    ("http://h/stable", "charts/app-1.0.0.tgz", "http://h/stable/charts/app-1.0.0.tgz"),
    ("http://h/stable/", "https://cdn.example/app-1.0.0.tgz", "https://cdn.example/app-1.0.0.tgz"),
    ("http://h/stable/?token=x", "app-1.0.0.tgz", "http://h/stable/app-1.0.0.tgz?token=x"),
])
def test_chart_urls_resolve_against_the_repository(base: str, reference: str, resolved: str) -> None:
    assert helmindex.chart_url(base, reference) == resolved


def test_index_url() -> None:
    assert helmindex.index_url("http://h/stable/") == "http://h/stable/index.yaml"


@pytest.mark.parametrize(("size", "text"), [(500, "500B"), (1234, "1.234kB"), (1000, "1kB"), (2_500_000, "2.5MB")])
def test_sizes_read_as_go_units_writes_them(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize("name", ["", "Upper", "with space", "a_b"])
def test_invalid_chart_names(name: str) -> None:
    with pytest.raises(helmindex.ReferenceError_):
        helmindex.validate_chart_name(name)
