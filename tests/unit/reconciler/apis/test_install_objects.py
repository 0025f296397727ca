"""The dev install's objects and `sandbox install --export`, without a cluster."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from sandbox.cli.main import cli
from sandbox.reconciler.apis import install, kinds


def test_export_round_trips_and_holds_every_crd_then_namespace_and_rbac() -> None:
    documents = list(yaml.safe_load_all(install.export()))
    assert documents == install.objects()
    crd_names = [d["metadata"]["name"] for d in documents if d["kind"] == "CustomResourceDefinition"]
    assert crd_names == [kind.crd_name for kind in kinds.ALL]
    assert [d["kind"] for d in documents[:len(crd_names)]] == ["CustomResourceDefinition"] * len(crd_names)
    rest = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in documents[len(crd_names):]}
    assert {("Namespace", None, "flux-system"), ("ServiceAccount", "flux-system", "sandbox-reconciler"),
            ("ClusterRole", None, "sandbox-reconciler"), ("ClusterRoleBinding", None, "sandbox-reconciler"),
            ("ClusterRoleBinding", None, "sandbox-cluster-reconciler")} <= rest
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gitops-sandbox" for d in documents)


def test_the_reconciler_is_bound_to_its_role_and_to_cluster_admin() -> None:
    bindings = {o["metadata"]["name"]: o for o in install.rbac() if o["kind"] == "ClusterRoleBinding"}
    assert bindings["sandbox-cluster-reconciler"]["roleRef"]["name"] == "cluster-admin"
    assert bindings["sandbox-reconciler"]["roleRef"]["name"] == "sandbox-reconciler"
    for binding in bindings.values():
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "sandbox-reconciler",
                                        "namespace": "flux-system"}]
    role = next(o for o in install.rbac()
                if o["metadata"]["name"] == "sandbox-reconciler" and o["kind"] == "ClusterRole")
    assert set(role["rules"][0]["apiGroups"]) == {kind.group for kind in kinds.ALL}


def test_cli_export_prints_the_yaml_and_touches_no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_NAME", "no-such-sandbox")
    result = CliRunner().invoke(cli, ["install", "--export"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == install.export()


def test_cli_install_into_a_sandbox_that_is_not_up_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_NAME", "no-such-sandbox")
    result = CliRunner().invoke(cli, ["install"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "sandbox up --name no-such-sandbox" in result.output
