"""Image automation through a pull request on the sandbox's git server, end to end: an image push reaches a
Receiver (registry notifications), the ImageRepository scans, the ImagePolicy picks the tag, the
ImageUpdateAutomation pushes its branch and an AGit refspec (``refs/for/main`` + topic), which opens one pull
request and then updates the same one; merging it moves main.

Needs the image controllers (ImageRepository, ImagePolicy, ImageUpdateAutomation) of the sandbox reconciler: skips
naming them when they are routed to NotSupported."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import registry_hooks
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler.support import BY_KIND
from sandbox.registry import oci
from sandbox.tools.git import git
from sandbox.waiting import wait_until
from tests.e2e.helpers import sandbox_whose_registry_reaches_receivers

NS = "flux-system"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"

pytestmark = pytest.mark.skipif(
    not all(BY_KIND[kind].ours for kind in ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")),
    reason="the sandbox reconciler has no ImageRepository/ImagePolicy/ImageUpdateAutomation controller here")



@pytest.fixture(scope="module")
def hook_sandbox(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    with sandbox_whose_registry_reaches_receivers(sandbox, "e2e-hooks") as handle:
        yield handle

def apply(kube: KubeClient, kind: str, name: str, spec: dict[str, Any]) -> None:
    kube.apply({"apiVersion": IMAGE_API, "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": spec},
               field_manager="e2e")


def latest_tag(kube: KubeClient, policy: str) -> str:
    status = kube.get(IMAGE_API, "ImagePolicy", policy, NS).get("status") or {}
    return str((status.get("latestRef") or {}).get("tag", ""))


def test_image_push_opens_then_updates_one_pull_request(hook_sandbox: SandboxHandle) -> None:
    reachable, why = registry_hooks.registry_can_reach_receivers(hook_sandbox.state)
    if not reachable:
        pytest.skip(why)
    kube, server = hook_sandbox.kube, hook_sandbox.git
    suffix = secrets.token_hex(3)
    name, repository = f"img-pr-{suffix}", f"e2e/img-pr-{suffix}"
    host = hook_sandbox.status["services"]["registry"]["host"]
    oci.push_synthetic_image(host, repository, "1.0.0")
    marker = f'# {{"$imagepolicy": "{NS}:{name}"}}'
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n"
                  f"      containers:\n        - name: app\n          image: {host}/{repository}:1.0.0 {marker}\n")
    repo = hook_sandbox.new_repo("img-pr", files={"apps/app.yaml": deployment})

    token = secrets.token_hex(16)
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-token", "namespace": NS},
                "data": {"token": base64.b64encode(token.encode()).decode()}}, field_manager="e2e")
    apply(kube, "ImageRepository", name, {"image": f"{host}/{repository}", "interval": "1h", "insecure": True})
    apply(kube, "ImagePolicy", name, {"imageRepositoryRef": {"name": name},
                                      "policy": {"semver": {"range": ">=1.0.0"}}})
    kube.apply({"apiVersion": registry_hooks.RECEIVER_API, "kind": "Receiver",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"type": "harbor", "secretRef": {"name": f"{name}-token"},
                         "resources": [{"apiVersion": IMAGE_API, "kind": "ImageRepository", "name": name}]}},
               field_manager="e2e")
    wait_until(lambda: latest_tag(kube, name) == "1.0.0", timeout=30, what=f"ImagePolicy {name} to pick 1.0.0")
    wait_until(lambda: (kube.get(registry_hooks.RECEIVER_API, "Receiver", name, NS).get("status") or {})
               .get("webhookPath"), timeout=30, what=f"Receiver {name}'s webhook path")
    hook_sandbox.registry_hook(f"{NS}/{name}")
    try:
        apply(kube, "ImageUpdateAutomation", name, {
            "interval": "1h",
            "sourceRef": {"kind": "GitRepository", "name": repo.source_name},
            "git": {"checkout": {"ref": {"branch": "main"}},
                    "commit": {"author": {"name": "fluxcdbot", "email": "fluxcdbot@example.com"}},
                    "push": {"branch": "flux-updates", "refspec": "refs/heads/flux-updates:refs/for/main",
                             "options": {"topic": "flux-updates", "title": "Image updates"}}},
            "update": {"path": "./apps", "strategy": "Setters"}})

        def open_pull() -> Any:
            return next(iter(server.list_pull_requests(repo.name)), None)

        def automation_state() -> str:
            refs = git(["ls-remote", server.clone_url(repo.name)], auth=server.auth()).stdout
            events = [f"{e['reason']}: {e['message'][:200]}" for e in kube.list("v1", "Event", NS).items
                      if e["involvedObject"].get("name") == name]
            return (f"status {kube.get(IMAGE_API, 'ImageUpdateAutomation', name, NS).get('status')}; "
                    f"refs {refs!r}; events {events}")

        # The push reaches the Receiver, which asks for the scan; the policy moves; the automation (asked to
        # run now, as its interval is an hour) commits and pushes the branch and the AGit refspec.
        oci.push_synthetic_image(host, repository, "1.0.1")
        wait_until(lambda: latest_tag(kube, name) == "1.0.1", timeout=30,
                   what="the registry push to reach the ImagePolicy through the Receiver and the scan")
        kube.patch(IMAGE_API, "ImageUpdateAutomation", name, NS,
                   {"metadata": {"annotations": {REQUESTED_AT: "first"}}})
        pull = wait_until(open_pull, timeout=60, what="the automation's AGit push to open a pull request",
                          describe=automation_state)
        assert (pull.head, pull.base, pull.title) == ("sandbox/flux-updates", "main", "Image updates")
        first_head = pull.head_sha

        oci.push_synthetic_image(host, repository, "1.0.2")
        wait_until(lambda: latest_tag(kube, name) == "1.0.2", timeout=30, what="the ImagePolicy to pick 1.0.2")
        kube.patch(IMAGE_API, "ImageUpdateAutomation", name, NS,
                   {"metadata": {"annotations": {REQUESTED_AT: "second"}}})
        updated = wait_until(lambda: (p := open_pull()) is not None and p.head_sha != first_head and p,
                             timeout=60, what="the second AGit push to update the same pull request",
                             describe=automation_state)
        assert updated.number == pull.number and len(server.list_pull_requests(repo.name, state="all")) == 1

        merged = server.merge_pull_request(repo.name, pull.number)
        assert merged.merged
        main = repo.wait_for_source(merged.merge_commit_sha)
        assert main["status"]["artifact"]["revision"].endswith(merged.merge_commit_sha)
    finally:
        registry_hooks.disconnect(hook_sandbox.state, NS, name)
        for kind in ("ImageUpdateAutomation", "ImagePolicy", "ImageRepository"):
            kube.delete(IMAGE_API, kind, name, NS)
        kube.delete(registry_hooks.RECEIVER_API, "Receiver", name, NS)
        kube.delete("v1", "Secret", f"{name}-token", NS)
