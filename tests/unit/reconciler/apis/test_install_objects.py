"""The dev install's objects and `sandbox install --export`, without a cluster."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sandbox.cli.main import cli
from sandbox.errors import InputError
from sandbox.reconciler.apis import install, kinds
from sandbox.reconciler.apis.sealedsecrets import SEALEDSECRET


def test_export_round_trips_and_holds_every_crd_then_namespace_and_rbac() -> None:
    documents = list(yaml.safe_load_all(install.export()))
    assert documents == install.objects()
    crd_names = [d["metadata"]["name"] for d in documents if d["kind"] == "CustomResourceDefinition"]
    assert crd_names == [kind.crd_name for kind in kinds.ALL] + [SEALEDSECRET.crd_name]  # Sealed Secrets' beside
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


def crd_named(name: str, labels: dict[str, str] | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta}


def test_crds_of_another_installer_stop_the_install_before_anything_is_applied() -> None:
    wanted = install.crd_objects()
    flux_own = crd_named(kinds.GITREPOSITORY.crd_name, {"app.kubernetes.io/part-of": "flux"})
    with pytest.raises(InputError, match=r"not installed by gitops-sandbox: gitrepositories\.source"):
        install._check_ours({kinds.GITREPOSITORY.crd_name: flux_own}, wanted)
    going = crd_named(kinds.KUSTOMIZATION.crd_name, install.LABELS, deleting=True)
    with pytest.raises(InputError, match=r"being deleted: kustomizations\.kustomize"):
        install._check_ours({kinds.KUSTOMIZATION.crd_name: going}, wanted)
    ours = crd_named(kinds.KUSTOMIZATION.crd_name, install.LABELS)
    install._check_ours({kinds.KUSTOMIZATION.crd_name: ours}, wanted)


def test_a_crd_that_is_not_established_is_described_by_its_conditions() -> None:
    stuck = crd_named("receivers.notification.toolkit.fluxcd.io")
    stuck["status"] = {"conditions": [
        {"type": "NamesAccepted", "status": "False", "message": "\"receivers\" is already in use"},
        {"type": "Established", "status": "False"}]}
    fine = crd_named("alerts.notification.toolkit.fluxcd.io")
    fine["status"] = {"conditions": [{"type": "NamesAccepted", "status": "True"},
                                     {"type": "Established", "status": "True"}]}
    assert install._describe_crds([stuck, fine, crd_named("x.y")]) == (
        "receivers.notification.toolkit.fluxcd.io: NamesAccepted=False (\"receivers\" is already in use), "
        "Established=False; x.y: no conditions yet")


def upstream_crd(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "labels": labels or {"app.kubernetes.io/component": "source-controller"}},
            "spec": {"group": name.split(".", 1)[1], "names": {"kind": "Upstream"}}}


def test_upstream_crds_take_the_place_of_ours_keeping_their_labels_and_ours() -> None:
    """Beside upstream Flux, its own CRDs are installed for its kinds; ours stay for the other kinds."""
    git = upstream_crd("gitrepositories.source.toolkit.fluxcd.io")
    buckets = upstream_crd("buckets.source.toolkit.fluxcd.io")
    wanted = install.crd_objects([git, buckets])
    by_name = {crd["metadata"]["name"]: crd for crd in wanted}
    assert by_name["gitrepositories.source.toolkit.fluxcd.io"]["spec"] == git["spec"]
    labels = by_name["gitrepositories.source.toolkit.fluxcd.io"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "source-controller"
    assert labels["app.kubernetes.io/part-of"] == "gitops-sandbox", "the install recognises it as its own"
    assert "buckets.source.toolkit.fluxcd.io" in by_name, "a kind only upstream has is installed too"
    ours = {crd["metadata"]["name"]: crd for crd in install.crd_objects()}
    kustomizations = "kustomizations.kustomize.toolkit.fluxcd.io"
    assert by_name[kustomizations] == ours[kustomizations]
    assert git["metadata"]["labels"] == {"app.kubernetes.io/component": "source-controller"}, "input untouched"


def test_a_crd_folder_without_crds_is_an_input_error(tmp_path: Any) -> None:
    (tmp_path / "notes.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(InputError, match="no CustomResourceDefinition"):
        install.read_crd_dir(tmp_path)
    (tmp_path / "crd.yaml").write_text(yaml.safe_dump(upstream_crd("helmcharts.source.toolkit.fluxcd.io")))
    assert [c["metadata"]["name"] for c in install.read_crd_dir(tmp_path)] == ["helmcharts.source.toolkit.fluxcd.io"]
