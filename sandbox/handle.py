"""A running sandbox as seen by code (tests, scenarios): its name, kubeconfig, endpoints, a client, and fresh
GitOps repositories wired to the reconciler."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.git import repo as repos
from sandbox.git import service as git_service
from sandbox.git.base import GitServer
from sandbox.git.repo import FileChanges
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops, wiring
from sandbox.reconciler.runtime import conditions as cond
from sandbox.state import StateDir
from sandbox.waiting import wait_until

Obj = dict[str, Any]


@dataclass
class SandboxHandle:
    name: str
    owned: bool = True  # started by us, so stopped by us
    _status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, options: UpOptions) -> SandboxHandle:
        return cls(options.name, owned=True, _status=lifecycle.up(options))

    @classmethod
    def attach(cls, name: str) -> SandboxHandle:
        return cls(name, owned=False, _status=lifecycle.status(name))

    def refresh(self) -> dict[str, Any]:
        self._status = lifecycle.status(self.name)
        return self._status

    @property
    def status(self) -> dict[str, Any]:
        return self._status

    @property
    def state(self) -> StateDir:
        return StateDir(self.name)

    @property
    def kubeconfig(self) -> Path:
        return Path(self._status["kubeconfig"])

    @cached_property
    def kube(self) -> KubeClient:
        return KubeClient.from_kubeconfig(self.kubeconfig)

    @cached_property
    def git(self) -> GitServer:
        return git_service.connect(self.state)

    def endpoint(self, component: str, key: str) -> str:
        return str(self._status["endpoints"][component][key])

    def new_repo(self, prefix: str = "repo", *, files: FileChanges | None = None, namespace: str = "flux-system",
                 branch: str = "main") -> GitOpsRepo:
        """A fresh repository (unique name), seeded with ``files``, followed by its own GitRepository and
        Receiver (webhook registered) — no Kustomization yet: add them with ``GitOpsRepo.kustomization``."""
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.git.create_repo(name, default_branch=branch)
        repository = GitOpsRepo(self, name, namespace, branch)
        repository.commit(dict(files or {"README.md": f"# {name}\n"}), "Initial commit")
        receiver = self._status["services"]["reconciler"]["receiver"]
        wiring.track_repository(self.kube, self.git, name, receiver_base_url=receiver, namespace=namespace,
                                branch=branch, kustomization=False)
        repository.wait_for_source(repository.head)
        return repository

    def stop(self) -> None:
        if self.owned:
            lifecycle.down(self.name)


@dataclass
class GitOpsRepo:
    """One repository of the sandbox's git server and the Flux objects that follow it."""

    sandbox: SandboxHandle
    name: str
    namespace: str
    branch: str
    head: str = ""

    def commit(self, changes: FileChanges, message: str) -> str:
        """Commit ``changes`` (path -> content, None deletes) and push; the webhook tells the reconciler."""
        self.head = repos.commit_files(self.sandbox.git, self.name, changes, message, branch=self.branch)
        return self.head

    @property
    def source(self) -> Obj:
        return self.sandbox.kube.get(ops.GIT_REPOSITORY.api_version, "GitRepository", self.name, self.namespace)

    def wait_for_source(self, sha: str, timeout: float = 30) -> Obj:
        def fetched() -> Obj | None:
            source = self.source
            artifact = (source.get("status") or {}).get("artifact") or {}
            return source if str(artifact.get("revision", "")).endswith(sha) else None

        return wait_until(fetched, timeout=timeout, what=f"GitRepository {self.namespace}/{self.name} to fetch "
                          f"{sha[:12]}", describe=lambda: ops.ready_condition(self.source).get("message", ""))

    def kustomization(self, name: str | None = None, *, path: str = "./", **spec: Any) -> str:
        """Create a Kustomization applying ``path`` of this repository (extra ``spec`` fields as given)."""
        object_name = name or self.name
        manifest = ops.kustomization_manifest(object_name, self.namespace, source=f"GitRepository/{self.name}",
                                              path=path, interval=spec.pop("interval", "10m"),
                                              prune=spec.pop("prune", True), wait=spec.pop("wait", False),
                                              target_namespace=spec.pop("targetNamespace", None),
                                              depends_on=spec.pop("dependsOn", []), timeout=spec.pop("timeout", None))
        manifest["spec"].update(spec)
        self.sandbox.kube.apply(manifest, field_manager="sandbox")
        return object_name

    def get_kustomization(self, name: str | None = None) -> Obj:
        return self.sandbox.kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", name or self.name,
                                     self.namespace)

    def wait_applied(self, name: str | None = None, sha: str | None = None, timeout: float = 60) -> Obj:
        """Wait until the Kustomization is Ready with ``sha`` (default: the last pushed commit) applied."""
        target = sha or self.head

        def applied() -> Obj | None:
            ks = self.get_kustomization(name)
            status = ks.get("status") or {}
            if str(status.get("lastAppliedRevision", "")).endswith(target) and \
                    cond.is_true(status.get("conditions"), cond.READY):
                return ks
            return None

        def describe() -> str:
            ks = self.get_kustomization(name)
            ready = ops.ready_condition(ks)
            return (f"Ready={ready.get('status')} ({ready.get('reason')}: {ready.get('message')}), "
                    f"lastAppliedRevision={(ks.get('status') or {}).get('lastAppliedRevision')}")

        return wait_until(applied, timeout=timeout, what=f"Kustomization {self.namespace}/{name or self.name} "
                          f"to apply {target[:12]}", describe=describe)

    def wait_failed(self, name: str | None = None, sha: str | None = None, timeout: float = 60) -> Obj:
        """Wait until the Kustomization reports Ready=False for ``sha`` (lastAttemptedRevision)."""
        target = sha or self.head

        def failed() -> Obj | None:
            ks = self.get_kustomization(name)
            status = ks.get("status") or {}
            ready = ops.ready_condition(ks)
            if str(status.get("lastAttemptedRevision", "")).endswith(target) and ready.get("status") == "False":
                return ks
            return None

        return wait_until(failed, timeout=timeout, what=f"Kustomization {self.namespace}/{name or self.name} "
                          f"to fail on {target[:12]}")

    def delete(self) -> None:
        """Remove the Flux objects and the repository (objects applied are pruned by the Kustomizations)."""
        kube = self.sandbox.kube
        for ks in kube.list(ops.KUSTOMIZATION.api_version, "Kustomization", self.namespace).items:
            if ks.get("spec", {}).get("sourceRef", {}).get("name") == self.name:
                kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", ks["metadata"]["name"], self.namespace)
        for kind in (ops.RECEIVER, ops.GIT_REPOSITORY):
            kube.delete(kind.api_version, kind.kind, self.name, self.namespace)
        self.sandbox.git.delete_repo(self.name)
