"""Flux's `giteapullrequestcomment` Provider for real, against the local git server's Gitea API: a Kustomization
annotated with `event.toolkit.fluxcd.io/change_request` fails to build → a "Flux Status" comment appears on that
pull request; the pull request (the fix) is merged → the same comment is edited to the recovery, never a second
one. A Kustomization without the annotation gets no comment."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from sandbox.git import repo as repos
from sandbox.git.base import Comment
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.apis import kinds
from sandbox.waiting import wait_until

BROKEN = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- missing.yaml\n"
FIXED = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ns.yaml\n- cm.yaml\n"


def annotated_kustomization(repo: GitOpsRepo, name: str, path: str, annotations: dict[str, str]) -> None:
    manifest = ops.kustomization_manifest(name, repo.namespace, source=f"GitRepository/{repo.source_name}",
                                          path=path, interval="10m", prune=True, wait=False, target_namespace=None,
                                          depends_on=[], timeout=None)
    manifest["metadata"]["annotations"] = annotations
    repo.sandbox.kube.apply(manifest, field_manager="sandbox")


def test_a_pull_request_gets_one_flux_status_comment_edited_on_recovery(sandbox: SandboxHandle,
                                                                         gitops_repo: GitOpsRepo) -> None:
    kube, ns, git = sandbox.kube, gitops_repo.namespace, sandbox.git
    suffix = secrets.token_hex(3)
    ks_name, quiet_name, app_ns = f"prc-{suffix}", f"prc-quiet-{suffix}", f"prc-ns-{suffix}"
    gitops_repo.commit({"pr/kustomization.yaml": BROKEN,
                        "pr/ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app_ns}\n",
                        "pr/cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
                                      f"  namespace: {app_ns}\ndata:\n  a: b\n"}, "broken")
    gitops_repo.wait_for_source(gitops_repo.head)
    fix_branch = f"fix-{suffix}"
    repos.commit_files(git, gitops_repo.name, {"pr/kustomization.yaml": FIXED}, "Fix the build", branch=fix_branch)
    pull = git.open_pull_request(gitops_repo.name, head=fix_branch, base=gitops_repo.branch, title="Fix the build")
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"prc-{suffix}", "namespace": ns},
         "data": {"token": base64.b64encode(git.token().encode()).decode()}},
        {"apiVersion": kinds.PROVIDER.api_version, "kind": "Provider", "metadata": {"name": f"prc-{suffix}",
                                                                                  "namespace": ns},
         "spec": {"type": "giteapullrequestcomment", "address": git.clone_url(gitops_repo.name),
                  "secretRef": {"name": f"prc-{suffix}"}}},
        {"apiVersion": kinds.ALERT.api_version, "kind": "Alert", "metadata": {"name": f"prc-{suffix}", "namespace": ns},
         "spec": {"providerRef": {"name": f"prc-{suffix}"}, "eventMetadata": {"env": "e2e"},
                  "eventSources": [{"kind": "Kustomization", "name": ks_name},
                                   {"kind": "Kustomization", "name": quiet_name}]}},
    ]
    try:
        for obj in objects:
            kube.apply(obj, field_manager="sandbox")
        uid = kube.get(kinds.PROVIDER.api_version, "Provider", f"prc-{suffix}", ns)["metadata"]["uid"]
        marker = f"<!-- flux-pr-comment-key:{uid}/Kustomization/{ns}/{ks_name} -->"
        annotated_kustomization(gitops_repo, quiet_name, "./pr", {})  # fails too, but names no pull request
        annotated_kustomization(gitops_repo, ks_name, "./pr",
                                {"event.toolkit.fluxcd.io/change_request": str(pull.number)})

        def ours() -> list[Comment]:
            return [c for c in git.list_pull_request_comments(gitops_repo.name, pull.number) if marker in c.body]

        [failed] = wait_until(lambda: [c for c in ours() if "⚠️" in c.body], timeout=60,
                              what=f"a Flux Status comment on pull request #{pull.number}",
                              describe=lambda: repr(git.list_pull_request_comments(gitops_repo.name, pull.number)))
        assert failed.body.startswith(f"{marker}\n\n## Flux Status\n\n⚠️ Kustomization/{ns}/{ks_name}\n\n")
        assert "missing.yaml" in failed.body and "* `env`: e2e\n" in failed.body
        assert "change_request" not in failed.body and failed.user == git.owner

        merged = git.merge_pull_request(gitops_repo.name, pull.number)
        gitops_repo.head = merged.merge_commit_sha
        gitops_repo.wait_applied(ks_name, timeout=90)
        [recovered] = wait_until(
            lambda: [c for c in ours() if "ℹ️" in c.body and merged.merge_commit_sha in c.body], timeout=30,
            what="the Flux Status comment edited to the recovery", describe=lambda: repr(ours()))
        assert recovered.id == failed.id, "the comment is edited, not posted again"
        assert recovered.body.startswith(f"{marker}\n\n## Flux Status\n\nℹ️ Kustomization/{ns}/{ks_name}\n\n")
        everything = git.list_pull_request_comments(gitops_repo.name, pull.number)
        assert [c.id for c in everything] == [failed.id], "the unannotated Kustomization comments nowhere"
    finally:
        for obj in reversed(objects):
            kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], ns)
