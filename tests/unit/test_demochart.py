"""The demo chart: every version lints clean with the Helm SDK, its schema rejects bad values with Helm's message
naming the value, and its ``failure`` values turn into the node agent's annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from sandbox import demochart
from sandbox.errors import InputError
from sandbox.helmrepo import ChartError

VERSIONS = demochart.versions()


def render(version: str, values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The rendered objects by kind (hooks included), as Helm's engine renders them."""
    with helm.Chart.load(demochart.chart_dir(version)) as chart:
        files = chart.render(values, name="demo", namespace="apps")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for path, text in files.items():
        if path.endswith(".yaml"):
            for document in yaml.safe_load_all(text):
                if document:
                    by_kind.setdefault(document["kind"], []).append(document)
    return by_kind


def test_there_are_at_least_two_versions_oldest_first() -> None:
    assert len(VERSIONS) >= 2
    assert VERSIONS[:2] == ["0.1.0", "0.2.0"]
    for version in VERSIONS:
        with helm.Chart.load(demochart.chart_dir(version)) as chart:
            assert (chart.name, chart.version) == (demochart.DEMO_CHART, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_lints_clean_with_the_helm_sdk(version: str) -> None:
    report = helm.lint(demochart.chart_dir(version), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report["messages"]
    for failure in ("unready", "crash"):
        assert helm.lint(demochart.chart_dir(version), {"failure": failure}, strict=True)["errors"] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_renders_a_web_app_with_probes_and_a_test_hook(version: str) -> None:
    objects = render(version, {"replicaCount": 2, "message": "hi"})
    (deployment,) = objects["Deployment"]
    assert deployment["metadata"]["name"] == "demo-webapp" and deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"readinessProbe", "livenessProbe", "resources"} <= set(container)
    assert set(deployment["spec"]["template"]["metadata"]["annotations"]) == {"checksum/config"}
    assert objects["ConfigMap"][0]["data"]["message"] == "hi"
    assert objects["Service"][0]["spec"]["ports"][0]["port"] == 80
    (test_pod,) = objects["Pod"]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert test_pod["spec"]["restartPolicy"] == "Never"


def test_fullname_override_names_every_object() -> None:
    objects = render("0.2.0", {"fullnameOverride": "web"})
    names = {obj["kind"]: obj["metadata"]["name"] for kind in objects.values() for obj in kind}
    assert names == {"ConfigMap": "web", "Service": "web", "Deployment": "web", "Pod": "web-test"}


def test_versions_differ_visibly() -> None:
    old, new = render("0.1.0", {}), render("0.2.0", {})
    image = [obj["spec"]["template"]["spec"]["containers"][0]["image"] for obj in (*old["Deployment"],
                                                                                   *new["Deployment"])]
    assert image == ["nginx:1.25.5", "nginx:1.27.3"]
    assert "title" not in old["ConfigMap"][0]["data"] and new["ConfigMap"][0]["data"]["title"] == "webapp"


@pytest.mark.parametrize(("failure", "annotations", "probe_path"), [
    ("none", {}, "/"),
    ("unready", {"probe.gitops-sandbox.io/readiness": "fail"}, "/unready"),
    ("crash", {"probe.gitops-sandbox.io/crash": "true"}, "/"),
])
def test_failure_on_purpose_sets_the_node_agents_annotations(failure: str, annotations: dict[str, str],
                                                             probe_path: str) -> None:
    for version in VERSIONS:
        (deployment,) = render(version, {"failure": failure})["Deployment"]
        template = deployment["spec"]["template"]
        assert {k: v for k, v in template["metadata"]["annotations"].items() if k != "checksum/config"} == annotations
        (container,) = template["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == probe_path
        assert ("command" in container) == (failure == "crash")


def test_a_failing_helm_test_crashes_its_pod() -> None:
    (test_pod,) = render("0.2.0", {"tests": {"fail": True}})["Pod"]
    assert test_pod["metadata"]["annotations"]["probe.gitops-sandbox.io/crash"] == "true"


def test_a_message_change_rolls_the_pods() -> None:
    def checksum(message: str) -> str:
        (deployment,) = render("0.2.0", {"message": message})["Deployment"]
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum("one") != checksum("two")


@pytest.mark.parametrize(("values", "message"), [
    ({"replicaCount": "two"}, "at '/replicaCount': got string, want integer"),
    ({"replicaCount": 11}, "/replicaCount"),
    ({"failure": "sometimes"}, "at '/failure': value must be one of 'none', 'unready', 'crash'"),
    ({"replicas": 2}, "additional properties 'replicas' not allowed"),
    ({"message": ""}, "at '/message'"),
    ({"fullnameOverride": "Web_App"}, "at '/fullnameOverride'"),
], ids=["type", "maximum", "enum", "misspelt-key", "empty-message", "bad-name"])
def test_schema_rejects_bad_values_naming_them(values: dict[str, Any], message: str) -> None:
    for version in VERSIONS:
        with helm.Chart.load(demochart.chart_dir(version)) as chart, pytest.raises(helm.HelmError) as caught:
            chart.validate_schema(values)
        assert message in str(caught.value) and "webapp" in str(caught.value)


def test_unknown_version_names_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"no version '9.9.9' \(versions: 0.1.0, 0.2.0"):
        demochart.chart_dir("9.9.9")


def test_renamed_copy_says_the_new_name_and_version(tmp_path: Path) -> None:
    source = demochart.chart_dir("0.1.0")
    with demochart.renamed(source, name="webapp-abc123", version="0.3.0") as staged:
        assert staged.name == "webapp-abc123"
        with helm.Chart.load(staged) as chart:
            assert (chart.name, chart.version) == ("webapp-abc123", "0.3.0")
        assert (staged / "values.schema.json").is_file()
    assert not staged.exists()
    with demochart.renamed(source) as same:
        assert same == source


def test_a_folder_not_named_after_a_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "webapp" / "latest").mkdir(parents=True)
    (tmp_path / "webapp" / "latest" / "Chart.yaml").write_text("name: webapp\n")
    with pytest.raises(ChartError, match="latest is not named after a semantic version"):
        demochart.versions(tmp_path)
    assert demochart.versions(tmp_path / "elsewhere") == []
