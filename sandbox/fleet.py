"""Connect a repository of the sandbox's git server to the reconciler, as a learner would by hand: credentials
Secret, GitRepository, a Receiver with its webhook registered on the git server (so a push reconciles at once),
and optionally a Kustomization applying it; and the sandbox's own ``fleet`` repository.

Sandbox glue above the reconciler: it knows the git server and speaks to the reconciler only through the Flux
objects it applies (``sandbox.reconciler.ops``)."""

from __future__ import annotations

import base64
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import InputError, NotFound, SandboxError
from sandbox.git import repo as repos
from sandbox.git.base import GitServer
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops
from sandbox.waiting import wait_until

Obj = dict[str, Any]
FIELD_MANAGER = "sandbox"
FLEET_README = """# The sandbox's fleet repository

Everything in this repository is applied to the sandbox's cluster by the Kustomization `flux-system/fleet`
(path `./`, prune enabled). Push a manifest and it is applied within a second: the git server sends a webhook
to the Receiver `flux-system/fleet`, which asks the GitRepository `flux-system/fleet` to fetch at once.

    sandbox get all -A            # what the reconciler sees
    sandbox events --for Kustomization/fleet
"""


@dataclass(frozen=True)
class Tracked:
    repo: str
    name: str
    namespace: str
    url: str
    webhook_path: str
    webhook_url: str


def _secret(name: str, namespace: str, data: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque", "stringData": data}


def _existing_token(kube: KubeClient, name: str, namespace: str) -> str | None:
    found = kube.get_or_none("v1", "Secret", name, namespace)
    raw = ((found or {}).get("data") or {}).get("token")
    return base64.b64decode(raw).decode() if raw else None


def track_repository(kube: KubeClient, git: GitServer, repo: str, *, receiver_base_url: str,
                     name: str | None = None, namespace: str = "flux-system", branch: str = "main",
                     path: str = "./", interval: str = "1m", prune: bool = True, kustomization: bool = True,
                     timeout: float = 60) -> Tracked:
    """Make the reconciler follow ``repo``; idempotent. Returns where its webhook goes."""
    object_name = name or repo
    try:
        git.get_repo(repo)
    except NotFound as err:
        raise InputError(f"repository {repo!r} does not exist on the git server: `sandbox repo create {repo}`") \
            from err
    auth = git.auth()
    url = git.clone_url(repo, in_cluster=True)
    kube.apply(_secret(f"{object_name}-git-auth", namespace, {"username": auth.username, "password": auth.password}),
               field_manager=FIELD_MANAGER)
    source = ops.git_source_manifest(object_name, namespace, url, branch=branch, tag=None, semver=None,
                                     interval=interval, secret_ref=f"{object_name}-git-auth", ignore=None)
    kube.apply(source, field_manager=FIELD_MANAGER)

    token_secret = f"{object_name}-webhook-token"
    token = _existing_token(kube, token_secret, namespace) or secrets.token_hex(24)
    kube.apply(_secret(token_secret, namespace, {"token": token}), field_manager=FIELD_MANAGER)
    receiver = {
        "apiVersion": ops.RECEIVER.api_version, "kind": "Receiver",
        "metadata": {"name": object_name, "namespace": namespace},
        "spec": {"type": "github", "events": ["push"], "secretRef": {"name": token_secret},
                 "resources": [{"apiVersion": ops.GIT_REPOSITORY.api_version, "kind": "GitRepository",
                                "name": object_name}]},
    }
    kube.apply(receiver, field_manager=FIELD_MANAGER)

    def webhook_path() -> str | None:
        live = kube.get(ops.RECEIVER.api_version, "Receiver", object_name, namespace)
        path_value = (live.get("status") or {}).get("webhookPath")
        return str(path_value) if path_value and ops.ready_condition(live).get("status") == "True" else None

    hook_path = wait_until(webhook_path, timeout=timeout, what=f"Receiver {namespace}/{object_name} to be ready",
                           hint="is the reconciler running? (`sandbox status`)")
    hook_url = receiver_base_url.rstrip("/") + hook_path
    if not any(h.url == hook_url for h in git.list_webhooks(repo)):
        git.register_webhook(repo, hook_url, token, events=("push",))
    if kustomization:
        manifest = ops.kustomization_manifest(object_name, namespace, source=f"GitRepository/{object_name}",
                                              path=path, interval="10m", prune=prune, wait=False,
                                              target_namespace=None, depends_on=[], timeout=None)
        kube.apply(manifest, field_manager=FIELD_MANAGER)
    return Tracked(repo, object_name, namespace, url, hook_path, hook_url)


def ensure_fleet_repository(git: GitServer, repo: str) -> None:
    """Create and seed the sandbox's fleet repository (a README on ``main``) unless it exists."""
    try:
        info = git.get_repo(repo)
    except NotFound:
        info = git.create_repo(repo, default_branch="main", description="Applied by the Kustomization "
                               "flux-system/fleet")
    if not info.empty:
        return
    with tempfile.TemporaryDirectory(prefix="sandbox-fleet-") as scratch:
        (Path(scratch) / "README.md").write_text(FLEET_README)
        try:
            repos.seed_from_dir(git, repo, Path(scratch), message="Start the fleet repository")
        except SandboxError as err:
            raise SandboxError(f"could not seed the fleet repository {repo!r}: {err}") from err
