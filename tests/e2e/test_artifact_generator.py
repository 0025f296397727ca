"""ArtifactGenerator end to end: a git monorepo split into two ExternalArtifacts, applied by two Kustomizations with
dependsOn; a change under one path gives only that artifact a new revision; a copy matching nothing fails the
generator while the last artifacts keep serving; an artifact taken out of the list is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.runtime import conditions as cond
from sandbox.waiting import wait_until

AG, EA = kinds.ARTIFACTGENERATOR, kinds.EXTERNALARTIFACT


def manifest(kind: str, name: str, namespace: str | None = None, **fields: Any) -> str:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return yaml.safe_dump({"apiVersion": "v1", "kind": kind, "metadata": metadata, **fields})


def generator(name: str, source: str, artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": AG.api_version, "kind": AG.kind, "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"sources": [{"alias": "repo", "kind": "GitRepository", "name": source}],
                     "artifacts": artifacts}}


def external(sandbox: SandboxHandle, name: str) -> dict[str, Any] | None:
    return sandbox.kube.get_or_none(EA.api_version, EA.kind, name, "flux-system")


def revision(sandbox: SandboxHandle, name: str) -> str:
    return str((((external(sandbox, name) or {}).get("status") or {}).get("artifact") or {}).get("revision", ""))


@pytest.fixture
def split(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> Iterator[tuple[GitOpsRepo, str]]:
    """The repository and the name of its generator; the Kustomizations following the ExternalArtifacts and the
    generator are deleted afterwards (the repository's own cleanup only knows those following the GitRepository)."""
    name = f"{gitops_repo.name}-split"
    yield gitops_repo, name
    kube = sandbox.kube
    following = [f"{gitops_repo.name}-apps", f"{gitops_repo.name}-infra"]
    for ks in following:
        kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", ks, "flux-system")
    wait_until(lambda: all(kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", ks, "flux-system") is None
                           for ks in following), timeout=60, what="the Kustomizations to be deleted")
    kube.delete(AG.api_version, AG.kind, name, "flux-system")


def wait_generator(sandbox: SandboxHandle, name: str, status: str, timeout: float = 30) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        obj = sandbox.kube.get(AG.api_version, AG.kind, name, "flux-system")
        ready = cond.find((obj.get("status") or {}).get("conditions"), cond.READY) or {}
        generation = obj["metadata"]["generation"]
        return obj if ready.get("status") == status and ready.get("observedGeneration") == generation else None

    return wait_until(reached, timeout=timeout, what=f"ArtifactGenerator flux-system/{name} to be Ready={status}",
                      describe=lambda: str(sandbox.kube.get(AG.api_version, AG.kind, name, "flux-system")
                                           .get("status")))


def test_a_monorepo_split_into_two_artifacts_applied_in_order(sandbox: SandboxHandle,
                                                             split: tuple[GitOpsRepo, str]) -> None:
    repo, name = split
    ns = f"{repo.name}-ns"
    repo.commit({"infrastructure/ns.yaml": manifest("Namespace", ns),
                 "infrastructure/config.yaml": manifest("ConfigMap", "infra", ns, data={"v": "1"}),
                 "infrastructure/README.md": "not a manifest\n",
                 "apps/app.yaml": manifest("ConfigMap", "app", ns, data={"v": "1"})}, "monorepo")
    infra, apps = f"{repo.name}-infra", f"{repo.name}-apps"
    artifacts = [
        {"name": infra, "originRevision": "@repo",
         "copy": [{"from": "@repo/infrastructure/**", "to": "@artifact/", "exclude": ["*.md"]}]},
        {"name": apps, "copy": [{"from": "@repo/apps/**", "to": "@artifact/"}]},
    ]
    sandbox.kube.apply(generator(name, repo.source_name, artifacts), field_manager="test")
    for ks, depends in ((apps, [infra]), (infra, [])):
        repo.kustomization(ks, path="./", dependsOn=depends, sourceRef={"kind": "ExternalArtifact", "name": ks})

    ag = wait_generator(sandbox, name, "True")
    assert cond.find(ag["status"]["conditions"], cond.READY)["message"] == \
        "reconciliation succeeded, generated 2 artifact(s)"
    assert [entry["name"] for entry in ag["status"]["inventory"]] == [infra, apps]
    infra_ea = external(sandbox, infra)
    assert infra_ea is not None
    assert infra_ea["spec"]["sourceRef"] == {"apiVersion": AG.api_version, "kind": AG.kind, "name": name,
                                             "namespace": "flux-system"}
    assert infra_ea["metadata"]["ownerReferences"][0]["uid"] == ag["metadata"]["uid"]
    artifact = infra_ea["status"]["artifact"]
    assert artifact["revision"] == f"latest@{artifact['digest']}"
    assert artifact["metadata"] == {"org.opencontainers.image.revision": f"main@sha1:{repo.head}"}
    assert cond.is_true(infra_ea["status"]["conditions"], cond.READY)

    first_infra, first_apps = revision(sandbox, infra), revision(sandbox, apps)
    applied_infra = repo.wait_applied(infra, sha=first_infra)
    applied_apps = repo.wait_applied(apps, sha=first_apps, timeout=60)  # dependsOn: after infra
    assert ops.ready_condition(applied_apps)["lastTransitionTime"] >= \
        ops.ready_condition(applied_infra)["lastTransitionTime"]
    assert sandbox.kube.get("v1", "ConfigMap", "app", ns)["data"] == {"v": "1"}
    # The repository's verdict follows the generated artifacts: both Kustomizations are judged.
    assert set(repo.assert_all_ready(timeout=30)) == {f"Kustomization/flux-system/{infra}",
                                                      f"Kustomization/flux-system/{apps}"}
    assert {e["id"] for e in applied_infra["status"]["inventory"]["entries"]} == \
        {f"_{ns}__Namespace", f"{ns}_infra__ConfigMap"}

    # A change under apps/ only: a new apps revision; infra's content, hence its revision, stays.
    repo.commit({"apps/app.yaml": manifest("ConfigMap", "app", ns, data={"v": "2"})}, "change the app")
    wait_until(lambda: revision(sandbox, apps) != first_apps, timeout=30, what="a new apps artifact revision")
    repo.wait_applied(apps, sha=revision(sandbox, apps))
    assert sandbox.kube.get("v1", "ConfigMap", "app", ns)["data"] == {"v": "2"}
    repo.assert_all_ready(timeout=30)
    assert revision(sandbox, infra) == first_infra
    assert repo.get_kustomization(infra)["status"]["lastAppliedRevision"] == first_infra
    assert (external(sandbox, infra) or {})["status"]["artifact"]["metadata"][
        "org.opencontainers.image.revision"] == f"main@sha1:{repo.head}"

    # A copy that matches nothing: Ready=False naming it; the last artifacts keep serving.
    serving = revision(sandbox, apps)
    broken = [artifacts[0], {**artifacts[1], "copy": [*artifacts[1]["copy"],
                                                      {"from": "@repo/missing/**", "to": "@artifact/"}]}]
    sandbox.kube.apply(generator(name, repo.source_name, broken), field_manager="test")
    ag = wait_generator(sandbox, name, "False")
    ready = cond.find(ag["status"]["conditions"], cond.READY)
    assert ready["reason"] == "BuildFailed"
    assert f"{apps} build failed" in ready["message"]
    assert "no files match pattern 'missing/**' in source 'repo'" in ready["message"]
    assert revision(sandbox, apps) == serving

    # Taken out of the list: the ExternalArtifact goes.
    sandbox.kube.apply(generator(name, repo.source_name, [artifacts[1]]), field_manager="test")
    wait_generator(sandbox, name, "True")
    wait_until(lambda: external(sandbox, infra) is None, timeout=30, what=f"ExternalArtifact {infra} to go")
