"""``spec.include`` of a GitRepository: the artifacts of other GitRepositories (same namespace) copied into this
one's, ``fromPath`` → ``toPath``; and which repositories to reconcile again when an included artifact changes."""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path
from typing import Any

from sandbox.errors import InputError, NotFound, SandboxError
from sandbox.reconciler.source.storage import Storage

Obj = dict[str, Any]
API_VERSION = "source.toolkit.fluxcd.io/v1"
INCLUDE_UNAVAILABLE = "IncludeUnavailable"
COPY_FAILURE = "CopyFailure"


class IncludeUnavailable(InputError):
    """An included GitRepository is missing or has no artifact yet (reason ``NotFound`` or ``NoArtifact``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CopyFailure(SandboxError):
    pass


def repository_name(include: Obj) -> str:
    return str((include.get("repository") or {}).get("name", ""))


def to_path(include: Obj) -> str:
    """Where the include goes: ``toPath``, default the included repository's name."""
    return str(include.get("toPath") or repository_name(include))


def inside(path: str) -> str:
    """``path`` kept inside the directory it is joined to (as securejoin does): ``../x`` and ``/x`` become ``x``."""
    return posixpath.normpath("/" + path).lstrip("/")


def included_artifacts(kube: Any, namespace: str, includes: list[Obj]) -> list[Obj]:
    """The current artifact of each included GitRepository, in ``spec.include`` order."""
    artifacts = []
    for include in includes:
        name = repository_name(include)
        try:
            repository = kube.get(API_VERSION, "GitRepository", name, namespace)
        except NotFound as err:
            raise IncludeUnavailable("NotFound", f"could not get resource for include '{name}': "
                                     f"gitrepositories.source.toolkit.fluxcd.io \"{name}\" not found") from err
        artifact = (repository.get("status") or {}).get("artifact")
        if not artifact:
            raise IncludeUnavailable("NoArtifact", f"no artifact available for include '{name}'")
        artifacts.append(dict(artifact))
    return artifacts


def changed(current: list[Obj], observed: list[Obj] | None) -> bool:
    """Whether the included artifacts differ (revision or digest) from those the stored artifact was built with."""
    if len(current) != len(observed or []):
        return True
    return any(a.get("revision") != b.get("revision") or a.get("digest") != b.get("digest")
               for a, b in zip(current, observed or [], strict=True))


def copy_includes(storage: Storage, tree: Path, includes: list[Obj], artifacts: list[Obj]) -> None:
    """Copy ``fromPath`` of each included artifact to ``toPath`` in ``tree``."""
    for include, artifact in zip(includes, artifacts, strict=True):
        name = repository_name(include)
        source_path, target_path = include.get("fromPath") or "", to_path(include)
        what = f"failed to copy '{name}' include from {source_path or './'} to {target_path}"
        try:
            unpacked = storage.unpacked(str(artifact.get("path", "")), str(artifact.get("digest", "")))
        except SandboxError as err:
            raise CopyFailure(f"{what}: {err}") from err
        source = unpacked / inside(source_path)
        target = tree / inside(target_path)
        if not source.exists():
            raise CopyFailure(f"{what}: {source_path} does not exist in the artifact of '{name}'")
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise CopyFailure(f"{what}: {target_path} already exists in the repository")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, symlinks=False)
        else:
            shutil.copy2(source, target)


def _includes_of(repository: Obj) -> list[str]:
    return [repository_name(i) for i in (repository.get("spec") or {}).get("include") or []]


def dependents_to_reconcile(changed_repository: Obj, repositories: list[Obj]) -> list[str]:
    """Keys (``ns/name``) of the GitRepositories that include ``changed_repository`` and whose artifact was not
    built with its current artifact. Repositories it includes itself (directly or not) are left out, so that an
    include cycle never turns into a rebuild loop (as source-controller's include watch)."""
    meta = changed_repository.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name")
    artifact = (changed_repository.get("status") or {}).get("artifact")
    if not artifact:
        return []
    in_namespace = {r["metadata"]["name"]: r for r in repositories if r["metadata"].get("namespace") == namespace}
    ancestors, pending = {str(name)}, list(_includes_of(changed_repository))
    while pending:
        current = pending.pop()
        if current in ancestors:
            continue
        ancestors.add(current)
        if current in in_namespace:
            pending += _includes_of(in_namespace[current])
    keys = []
    for dependent_name, dependent in sorted(in_namespace.items()):
        includes = _includes_of(dependent)
        if name not in includes or dependent_name in ancestors:
            continue
        spec, status = dependent.get("spec") or {}, dependent.get("status") or {}
        if spec.get("suspend") or (dependent.get("metadata") or {}).get("deletionTimestamp"):
            continue
        used = status.get("includedArtifacts") or []
        index = includes.index(str(name))
        seen = used[index] if index < len(used) else {}
        if seen.get("revision") != artifact.get("revision") or seen.get("digest") != artifact.get("digest"):
            keys.append(f"{namespace}/{dependent_name}")
    return keys
