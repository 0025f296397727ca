"""`sandbox build helmrelease` fully offline (a local chart, no sandbox), and the `diff` commands' help and usage
errors — the exit codes scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import helm_python as helm
import yaml
from click.testing import CliRunner

from sandbox.cli.main import cli

RELEASE = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": "web", "namespace": "apps"},
           "spec": {"chart": {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
                    "targetNamespace": "prod", "values": {"replicaCount": 3},
                    "valuesFrom": [{"kind": "ConfigMap", "name": "web-values"}]}}


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_build_offline_with_a_local_chart_and_a_values_file(tmp_path: Path) -> None:
    helm.Chart.create("web", tmp_path)
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "release.yaml").write_text(yaml.safe_dump(RELEASE))
    (tmp_path / "values.yaml").write_text("service:\n  port: 9090\n")
    code, out, err = _run("build", "helmrelease", "web", "-n", "apps", "--path", str(folder), "--chart",
                          str(tmp_path / "web"), "--values-from-file", f"ConfigMap/web-values={tmp_path}/values.yaml",
                          "-o", "json")
    assert code == 0, err
    objects = {(o["kind"], o["metadata"]["name"]): o for o in json.loads(out)}
    deployment = objects[("Deployment", "prod-web")]  # release "<targetNamespace>-<name>"
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"
    assert deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"] == "apps"
    assert objects[("Service", "prod-web")]["spec"]["ports"][0]["port"] == 9090


def test_build_without_the_values_reference_says_which(tmp_path: Path) -> None:
    helm.Chart.create("web", tmp_path)
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "release.yaml").write_text(yaml.safe_dump(RELEASE))
    code, _, err = _run("build", "helmrelease", "web", "-n", "apps", "--path", str(folder), "--chart",
                        str(tmp_path / "web"))
    assert code == 2
    assert "could not resolve ConfigMap chart values reference 'apps/web-values'" in err


def test_help_states_the_exit_codes() -> None:
    for command in (["diff", "kustomization"], ["diff", "helmrelease"]):
        code, out, _ = _run(*command, "--help")
        assert code == 0 and "Exit status: 0 no differences, 1 differences found, 2 or more" in out


def test_a_malformed_values_from_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _run("build", "helmrelease", "web", "--path", str(tmp_path), "--chart", str(tmp_path),
                        "--values-from-file", "ConfigMap/web-values")
    assert code == 2 and "expected KIND/NAME=FILE" in err
