"""A running sandbox as seen by code (tests, scenarios): its name, kubeconfig, endpoints, a client, and fresh
GitOps repositories wired to the reconciler."""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import os
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sandbox import fleet, lifecycle, registry_hooks
from sandbox.config import UpOptions
from sandbox.errors import SandboxError, WaitTimeout
from sandbox.git import repo as repos
from sandbox.git import service as git_service
from sandbox.git.base import GitServer
from sandbox.git.repo import FileChanges
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops, verdict
from sandbox.reconciler.runtime import conditions as cond
from sandbox.registry_hooks import ReceiverHook
from sandbox.state import StateDir
from sandbox.waiting import wait_until

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass
class SandboxHandle:
    name: str
    owned: bool = True  # started by us, so stopped by us
    _status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, options: UpOptions, *, outlive: bool = False) -> SandboxHandle:
        """Start a sandbox owned by this process: should the process die without stopping it (killed, crashed),
        the sandbox stops and removes itself. ``outlive``: it stays up until `sandbox down` (``--sandbox-keep``)."""
        owned = options if outlive or options.owner_pid else dataclasses.replace(options, owner_pid=os.getpid())
        return cls(options.name, owned=True, _status=lifecycle.up(owned))

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
                 branch: str = "main", name: str | None = None, interval: str = "1m",
                 source_name: str | None = None) -> GitOpsRepo:
        """A fresh repository (``name``, else a unique one from ``prefix``), seeded with ``files``, followed by
        its own GitRepository and Receiver (webhook registered; named ``source_name``, default the repository's
        name; polling every ``interval``) — no Kustomization yet: add them with ``GitOpsRepo.kustomization``."""
        name = name or f"{prefix}-{secrets.token_hex(3)}"
        self.git.create_repo(name, default_branch=branch)
        repository = GitOpsRepo(self, name, namespace, branch, source_name=source_name or name)
        # Kustomizations that already follow a source of this name belong to an earlier repository (still being
        # deleted, or left behind): never judged as this one's.
        repository.foreign = frozenset(ks["metadata"]["uid"] for ks in repository.kustomizations())
        repository.commit(dict(files or {"README.md": f"# {name}\n"}), "Initial commit")
        receiver = self._status["services"]["reconciler"]["receiver"]
        fleet.track_repository(self.kube, self.git, name, receiver_base_url=receiver, namespace=namespace,
                                branch=branch, kustomization=False, name=repository.source_name,
                                interval=interval)
        repository.wait_for_source(repository.head)
        return repository

    def registry_hook(self, receiver: str, namespace: str = "flux-system") -> ReceiverHook:
        """Send this sandbox registry's image pushes to Receiver ``receiver`` (``NAME`` in ``namespace``, or
        ``NS/NAME``); undo with ``registry_hooks.disconnect``."""
        receiver_ns, name = registry_hooks.parse_receiver(receiver, namespace)
        return registry_hooks.connect(self.state, self.kube, receiver_ns, name)

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
    source_name: str = ""  # of the GitRepository and Receiver (default: the repository's name)
    foreign: frozenset[str] = frozenset()  # uids of Kustomizations following the same source before this one

    def __post_init__(self) -> None:
        self.source_name = self.source_name or self.name

    def commit(self, changes: FileChanges, message: str) -> str:
        """Commit ``changes`` (path -> content, None deletes) and push; the webhook tells the reconciler."""
        self.head = repos.commit_files(self.sandbox.git, self.name, changes, message, branch=self.branch)
        return self.head

    @property
    def source(self) -> Obj:
        return self.sandbox.kube.get(ops.GIT_REPOSITORY.api_version, "GitRepository", self.source_name,
                                     self.namespace)

    def wait_for_source(self, sha: str, timeout: float = 30) -> Obj:
        def fetched() -> Obj | None:
            source = self.source
            artifact = (source.get("status") or {}).get("artifact") or {}
            return source if str(artifact.get("revision", "")).endswith(sha) else None

        return wait_until(fetched, timeout=timeout, what=f"GitRepository {self.namespace}/{self.source_name} to fetch "
                          f"{sha[:12]}", describe=lambda: ops.ready_condition(self.source).get("message", ""))

    def kustomization(self, name: str | None = None, *, path: str = "./", **spec: Any) -> str:
        """Create a Kustomization applying ``path`` of this repository (extra ``spec`` fields as given)."""
        object_name = name or self.name
        manifest = ops.kustomization_manifest(object_name, self.namespace, source=f"GitRepository/{self.source_name}",
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

    def delete(self, timeout: float = 60) -> None:
        """Remove the Flux objects and the repository. Every Kustomization following it (nested ones in any
        namespace too) is deleted and waited for, up to ``timeout``, so that the objects it applied are pruned
        before the next test starts — a leftover still Terminating would follow a new source of the same name."""
        kube = self.sandbox.kube
        following = self.kustomizations()
        for ks in following:
            kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", ks["metadata"]["name"],
                        ks["metadata"]["namespace"])

        def gone() -> bool:
            return all(kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", ks["metadata"]["name"],
                                        ks["metadata"]["namespace"]) is None for ks in following)

        try:
            wait_until(gone, timeout=timeout, what=f"the Kustomizations of repository {self.name} to be deleted")
        except WaitTimeout as err:
            log.warning("%s", err)
        for kind in (ops.RECEIVER, ops.GIT_REPOSITORY):
            kube.delete(kind.api_version, kind.kind, self.source_name, self.namespace)
        self.sandbox.git.delete_repo(self.name)

    # --- testing your own repository -------------------------------------------------------------------------
    def push_folder(self, folder: Path | str, message: str = "Push the folder", *,
                    exclude: tuple[str, ...] = ()) -> str:
        """Make the branch hold exactly the files of ``folder`` (its .git and paths matching an ``exclude``
        glob left out, e.g. ``clusters/*/flux-system``) as one commit and push it; returns the head sha."""
        source = Path(folder)
        if not source.is_dir():
            raise SandboxError(f"cannot push {source}: not a directory")

        def ignored(directory: str, names: list[str]) -> set[str]:
            relative = Path(directory).relative_to(source)
            skip = {".git"}
            for entry in names:
                path = (relative / entry).as_posix()
                if any(fnmatch.fnmatch(path, pattern.strip("/")) for pattern in exclude):
                    skip.add(entry)
            return skip

        with repos.temporary_clone(self.sandbox.git, self.name, branch=self.branch) as copy:
            copy.git("rm", "-r", "-q", "--ignore-unmatch", ".")
            shutil.copytree(source, copy.path, dirs_exist_ok=True, ignore=ignored)
            copy.git("add", "--all")
            if copy.git("status", "--porcelain").strip():
                copy.git("commit", "--quiet", "--message", message)
                self.head = copy.push(self.branch)
            else:
                self.head = copy.head()
        return self.head

    def kustomizations(self) -> list[Obj]:
        """Every Kustomization, in any namespace, whose source is this repository's GitRepository, or an
        ExternalArtifact generated from it — except those being deleted and those that followed a source of the
        same name before this repository was made."""
        found = []
        generated: set[tuple[str, str]] | None = None
        for ks in self.sandbox.kube.list(ops.KUSTOMIZATION.api_version, "Kustomization").items:
            if ks["metadata"].get("deletionTimestamp") or ks["metadata"].get("uid") in self.foreign:
                continue
            source = ks.get("spec", {}).get("sourceRef", {})
            kind = source.get("kind", "GitRepository")
            namespace = source.get("namespace") or ks["metadata"]["namespace"]
            if kind == "GitRepository" and source.get("name") == self.source_name and namespace == self.namespace:
                found.append(ks)
            elif kind == "ExternalArtifact":
                if generated is None:
                    generated = verdict.artifacts_generated_from(self.sandbox.kube, "GitRepository", self.namespace,
                                                                 self.source_name)
                if (namespace, source.get("name")) in generated:
                    found.append(ks)
        return found

    def assert_all_ready(self, timeout: float = 120) -> dict[str, str]:
        """Wait until every Kustomization following this repository (nested ones too, as they appear) is Ready
        with the last pushed commit applied, and every Flux object they applied (HelmReleases, sources…) is Ready;
        returns ``{Kind/namespace/name: revision}``. Raises SandboxError listing each object that is not Ready with
        its reason and message — at once when one is Stalled (NotSupported, an invalid spec), else on timeout."""
        last = verdict.Verdict()

        def settled() -> verdict.Verdict | None:
            nonlocal last
            last = verdict.judge(self.sandbox.kube, self.kustomizations(), self.head)
            return last if last.green or last.final else None

        try:
            result = wait_until(settled, timeout=timeout, what=f"every Kustomization of {self.name} to be Ready")
        except WaitTimeout as err:
            raise SandboxError(self._not_ready(f"within {timeout:g}s", last)) from err
        if result.final:
            raise SandboxError(self._not_ready(f"(waiting cannot help: {result.why_final})", result))
        return dict(result.ready)

    def _not_ready(self, when: str, result: verdict.Verdict) -> str:
        if not result.ready and not result.pending:
            detail = (f"  no Kustomization follows GitRepository/{self.namespace}/{self.source_name}; create one "
                      "with kustomization(path=...)")
        else:
            lines = []
            for line in result.pending:
                lines.append(f"  {line}")
                label = line.split(":", 1)[0]
                if label in {object_label for object_label, _ in result.pending_objects}:
                    lines += [f"      event: {event}" for event in verdict.last_events(self.sandbox.kube, label)]
            detail = "\n".join(lines)
        return f"not every Flux object of repository {self.name} became Ready at {self.head[:12]} {when}:\n{detail}"


class SharedSandbox:
    """One sandbox for a whole test session, started (or attached to, with ``reuse``) on first use and stopped
    at the end unless it was reused or ``keep`` is set. Thread-safe."""

    def __init__(self, options: UpOptions, *, reuse: str | None = None, keep: bool = False) -> None:
        self.options = options
        self.reuse = reuse
        self.keep = keep
        self._handle: SandboxHandle | None = None
        self._failed: SandboxError | None = None
        self._lock = threading.Lock()

    def get(self) -> SandboxHandle:
        """The sandbox; a start that failed is not tried again for every test — its error is raised again."""
        with self._lock:
            if self._failed is not None:
                raise SandboxError(f"the session's sandbox could not be started: {self._failed}")
            if self._handle is None:
                try:
                    self._handle = SandboxHandle.attach(self.reuse) if self.reuse else \
                        SandboxHandle.start(self.options, outlive=self.keep)
                except SandboxError as err:
                    self._failed = err
                    raise
            return self._handle

    @property
    def started(self) -> bool:
        return self._handle is not None

    def close(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None and not self.keep:
            handle.stop()
