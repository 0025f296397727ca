"""`sandbox diff kustomization` against the embedded cluster: no difference right after a reconcile (exit 0); a
change made by hand in the cluster, a new commit not yet applied, a local folder with an added and a removed file
(exit 1, with created/configured/deleted and a unified diff); Secret values never printed; errors exit 2."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from tests.e2e.helpers import run_cli


def diff(sandbox: SandboxHandle, *args: str) -> Result:
    return run_cli("diff", *args, "--name", sandbox.name)


def _config(namespace: str, name: str, message: str) -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"data:\n  message: {message}\n")


def _secret(namespace: str, password: str) -> str:
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {namespace}\n"
            f"stringData:\n  password: {password}\n")


@pytest.fixture
def applied(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> Iterator[tuple[GitOpsRepo, str, str]]:
    """A pruning Kustomization "diff-…" that applied ConfigMaps "greeting" and "farewell" and Secret "creds"
    into a fresh namespace."""
    namespace = f"diff-{secrets.token_hex(3)}"
    sandbox.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                       field_manager="test")
    sha = gitops_repo.commit({"diffs/greeting.yaml": _config(namespace, "greeting", "hello"),
                              "diffs/farewell.yaml": _config(namespace, "farewell", "bye"),
                              "diffs/creds.yaml": _secret(namespace, "first-password")}, "diff base")
    name = gitops_repo.kustomization(f"diff-{secrets.token_hex(2)}", path="./diffs", prune=True)
    gitops_repo.wait_applied(name, sha)
    try:
        yield gitops_repo, name, namespace
    finally:
        gitops_repo.sandbox.kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
        sandbox.kube.delete("v1", "Namespace", namespace)


def test_no_difference_after_a_reconcile(sandbox: SandboxHandle, applied: tuple[GitOpsRepo, str, str]) -> None:
    _, name, _ = applied
    result = diff(sandbox, "kustomization", name, "-n", "flux-system")
    assert result.exit_code == 0, result.output
    data = json.loads(diff(sandbox, "ks", name, "-n", "flux-system", "-o", "json").stdout)
    assert data["changed"] is False and data["errors"] == []
    assert {item["action"] for item in data["objects"]} == {"unchanged"}


def test_a_change_by_hand_shows_as_drift_with_a_unified_diff(sandbox: SandboxHandle,
                                                             applied: tuple[GitOpsRepo, str, str]) -> None:
    _, name, namespace = applied
    sandbox.kube.patch("v1", "ConfigMap", "greeting", namespace, {"data": {"message": "edited"}},
                       field_manager="kubectl-edit")
    result = diff(sandbox, "kustomization", name, "-n", "flux-system")
    assert result.exit_code == 1, result.output
    assert f"► ConfigMap/{namespace}/greeting drifted" in result.stdout
    assert "-  message: edited\n" in result.stdout and "+  message: hello\n" in result.stdout
    assert "managedFields" not in result.stdout
    assert "farewell" not in result.stdout  # unchanged objects are not listed


def test_a_local_folder_shows_created_configured_and_deleted(sandbox: SandboxHandle, tmp_path: Path,
                                                             applied: tuple[GitOpsRepo, str, str]) -> None:
    _, name, namespace = applied
    folder = tmp_path / "diffs"
    folder.mkdir()
    (folder / "greeting.yaml").write_text(_config(namespace, "greeting", "hello"))
    (folder / "welcome.yaml").write_text(_config(namespace, "welcome", "hi"))
    (folder / "creds.yaml").write_text(_secret(namespace, "second-password"))
    result = diff(sandbox, "kustomization", name, "-n", "flux-system", "--path", str(folder), "-o", "json")
    assert result.exit_code == 1, result.output
    actions = {item["subject"]: item["action"] for item in json.loads(result.stdout)["objects"]}
    assert actions == {f"ConfigMap/{namespace}/greeting": "unchanged", f"ConfigMap/{namespace}/welcome": "created",
                       f"ConfigMap/{namespace}/farewell": "deleted", f"Secret/{namespace}/creds": "configured"}
    # What the cluster holds is untouched by a diff.
    assert sandbox.kube.get_or_none("v1", "ConfigMap", "welcome", namespace) is None
    assert sandbox.kube.get_or_none("v1", "ConfigMap", "farewell", namespace) is not None
    text = diff(sandbox, "kustomization", name, "-n", "flux-system", "--path", str(folder)).stdout
    assert "*** (before)" in text and "*** (after)" in text
    for value in ("first-password", "second-password", "Zmlyc3QtcGFzc3dvcmQ=", "c2Vjb25kLXBhc3N3b3Jk"):
        assert value not in text + result.stdout


def test_a_new_commit_not_yet_applied_is_a_difference(sandbox: SandboxHandle,
                                                      applied: tuple[GitOpsRepo, str, str]) -> None:
    repo, name, namespace = applied
    sandbox.kube.patch(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system",
                       {"spec": {"suspend": True}})
    repo.commit({"diffs/farewell.yaml": _config(namespace, "farewell", "see you")}, "change farewell")

    def source_has_new_revision() -> bool:
        source = sandbox.kube.get(ops.GIT_REPOSITORY.api_version, "GitRepository", repo.source_name, "flux-system")
        return str(source.get("status", {}).get("artifact", {}).get("revision", "")).endswith(repo.head)

    from sandbox.waiting import wait_until

    wait_until(source_has_new_revision, timeout=60, what="the GitRepository to fetch the new commit")
    result = diff(sandbox, "kustomization", name, "-n", "flux-system")
    assert result.exit_code == 1, result.output
    assert f"► ConfigMap/{namespace}/farewell drifted" in result.stdout
    assert "+  message: see you\n" in result.stdout


def test_errors_exit_2(sandbox: SandboxHandle, applied: tuple[GitOpsRepo, str, str], tmp_path: Path) -> None:
    _, name, _ = applied
    missing = diff(sandbox, "kustomization", "no-such-kustomization", "-n", "flux-system")
    assert missing.exit_code == 2
    assert "Kustomization/flux-system/no-such-kustomization not found" in missing.output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    failed = diff(sandbox, "kustomization", name, "-n", "flux-system", "--path", str(broken))
    assert failed.exit_code == 2
    assert "missing.yaml" in failed.output
