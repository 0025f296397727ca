"""Mirrors for hermetic runs: serve the remote git repositories, OCI artifacts and Helm repositories a user's Flux
YAML names from the sandbox's own git server, registry and chart repository, and record each in the sandbox's
mirror map (``mirrors.json`` in its state directory, 0600), which the reconciler consults before every fetch.

Sandbox glue above the reconciler, beside ``fleet.py``: it knows the git server, the registry and the chart
repository; the reconciler only reads the map file (``sandbox.reconciler.source.mirrors``)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from sandbox import helmrepo
from sandbox.errors import InputError, NotFound, SandboxError
from sandbox.git import repo as repos
from sandbox.git import service as git_service
from sandbox.git.base import GitServer
from sandbox.reconciler.source.mirrors import (
    GitMirror,
    HelmMirror,
    MirrorMap,
    OCIMirror,
    normalise_git_url,
    normalise_helm_url,
    normalise_oci_prefix,
    read_map,
)
from sandbox.registry import artifacts
from sandbox.registry.base import endpoint_of
from sandbox.state import StateDir, write_private
from sandbox.tools import git as git_tool

MAP_FILE = "mirrors.json"
REPOSITORY_PREFIX = "mirror-"
OCI_PATH_PREFIX = "mirrors"


def map_path(state: StateDir) -> Path:
    """Where sandbox ``state``'s mirror map lives (passed to the reconciler as ``--mirror-map``)."""
    return state.path / MAP_FILE


def load(state: StateDir) -> MirrorMap:
    return read_map(map_path(state))


def save(state: StateDir, mirror_map: MirrorMap) -> None:
    """Write the map atomically (the reconciler sees the old map or the new one, never half of one), 0600."""
    write_private(map_path(state), json.dumps(mirror_map.to_dict(), indent=2, sort_keys=True) + "\n")


@contextmanager
def _editing(state: StateDir) -> Iterator[list[MirrorMap]]:
    """The map under an exclusive lock, for read-modify-write; the caller puts the new map in the list."""
    if not state.exists():
        raise SandboxError(f"sandbox {state.name!r} is not up; start it with `sandbox up --name {state.name}`")
    lock = state.path / f".{MAP_FILE}.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        box = [load(state)]
        before = box[0]
        yield box
        if box[0] != before:
            save(state, box[0])


def set_offline(state: StateDir, offline: bool) -> MirrorMap:
    """Refuse (or allow again) fetches of unmirrored non-loopback URLs."""
    with _editing(state) as box:
        box[0] = replace(box[0], offline=offline)
        return box[0]


# --- git -------------------------------------------------------------------------------------------------------

def repository_name_for(url: str) -> str:
    """The sandbox repository serving ``url``: ``mirror-<host>-<path>`` in the characters repository names
    allow (with a hash in place of the tail when that is too long)."""
    key = normalise_git_url(url)
    name = REPOSITORY_PREFIX + re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")
    if len(name) > 90:
        name = f"{name[:70]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return name


def _replace_tree(server: GitServer, repository: str, source: Path, message: str) -> str:
    """Commit the files of ``source`` (its .git left out) as the whole tree of the default branch; returns the
    commit's sha."""
    info = server.get_repo(repository)
    if info.empty:
        return repos.seed_from_dir(server, repository, source, message=message)
    with repos.temporary_clone(server, repository) as copy:
        for entry in copy.path.iterdir():
            if entry.name == ".git":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        shutil.copytree(source, copy.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
        copy.commit(message, allow_empty=True)
        return copy.push(info.default_branch)


def mirror_git(name: str, url: str, *, from_dir: Path | None = None, from_git: Path | None = None,
               branch: str = "main") -> dict[str, Any]:
    """Serve the git repository ``url`` from a sandbox repository: the files of ``from_dir`` as a commit on
    ``branch`` (a new commit each time), or every branch and tag of the local repository ``from_git``."""
    if (from_dir is None) == (from_git is None):
        raise InputError("give either --from DIR (a folder's files) or --from-git PATH (a local git repository)")
    normalise_git_url(url)  # a usable URL before anything is created
    state = StateDir(name)
    server = git_service.connect(state)
    repository = repository_name_for(url)
    try:
        server.get_repo(repository)
    except NotFound:
        server.create_repo(repository, default_branch=branch, description=f"Sandbox mirror of {url}")
    if from_dir is not None:
        if not from_dir.is_dir():
            raise InputError(f"--from {from_dir}: not a directory")
        revision = _replace_tree(server, repository, from_dir, f"Mirror of {url}")
    else:
        assert from_git is not None
        if not (from_git / ".git").exists() and not (from_git / "HEAD").exists():
            raise InputError(f"--from-git {from_git}: not a git repository")
        git_tool.git(["push", "--quiet", "--force", server.clone_url(repository), "refs/heads/*:refs/heads/*",
                      "refs/tags/*:refs/tags/*"], cwd=from_git, auth=server.auth())
        revision = ""
    auth = server.auth()
    mirror = GitMirror(url=url, target=server.clone_url(repository, in_cluster=True), repository=repository,
                       username=auth.username, token_file=str(git_service.token_file(state)))
    with _editing(state) as box:
        git_mirrors = dict(box[0].git)
        git_mirrors[normalise_git_url(url)] = mirror
        box[0] = replace(box[0], git=git_mirrors)
    return {"kind": "git", "url": url, "target": mirror.target, "repository": repository, "revision": revision}


# --- OCI -------------------------------------------------------------------------------------------------------

def registry_path_for(prefix: str) -> str:
    """The path in the sandbox registry serving ``prefix``: ``mirrors/<host>/<path>`` (a port as ``-PORT``)."""
    key = normalise_oci_prefix(prefix).lower()
    return f"{OCI_PATH_PREFIX}/" + re.sub(r"[^a-z0-9._/-]+", "-", key.replace(":", "-")).strip("-/")


def mirror_oci(name: str, prefix: str, *, from_dir: Path | None = None, tag: str = "latest",
               artifact_files: tuple[Path, ...] = (), source: str = "", revision: str = "") -> dict[str, Any]:
    """Serve everything under ``prefix`` (``oci://host/org``) from the sandbox registry; with ``from_dir``, push
    it as a Flux artifact to the mirrored path itself (``prefix:tag``); each of ``artifact_files`` (a tar.gz of
    manifests, as ``flux build artifact`` writes) goes to ``prefix/<file name without .tar.gz>:tag``."""
    if from_dir is not None and artifact_files:
        raise InputError("give --from DIR or --artifact FILE, not both")
    normalise_oci_prefix(prefix)
    state = StateDir(name)
    endpoint = endpoint_of(name)
    target = f"oci://{endpoint.host}/{registry_path_for(prefix)}"
    pushed = []
    if from_dir is not None:
        pushed.append(artifacts.push_flux_artifact(name, f"{target}:{tag}", from_dir, source=source or prefix,
                                                   revision=revision or tag))
    for file in artifact_files:
        stem = file.name.removesuffix(".tar.gz").removesuffix(".tgz").lower()
        if not file.is_file() or not stem:
            raise InputError(f"--artifact {file}: not a file (expected NAME.tar.gz, pushed as {prefix}/NAME:{tag})")
        with tempfile.TemporaryDirectory(prefix="sandbox-mirror-") as scratch:
            try:
                with tarfile.open(file, "r:*") as archive:
                    archive.extractall(scratch, filter="data")
            except (tarfile.TarError, OSError) as err:
                raise InputError(f"--artifact {file}: not a tar archive: {err}") from err
            pushed.append(artifacts.push_flux_artifact(name, f"{target}/{stem}:{tag}", Path(scratch),
                                                       source=source or f"{prefix.rstrip('/')}/{stem}",
                                                       revision=revision or tag))
    mirror = OCIMirror(prefix=prefix.rstrip("/"), target=target)
    with _editing(state) as box:
        oci_mirrors = dict(box[0].oci)
        oci_mirrors[normalise_oci_prefix(prefix)] = mirror
        box[0] = replace(box[0], oci=oci_mirrors)
    return {"kind": "oci", "url": mirror.prefix, "target": target, "pushed": pushed}


# --- Helm ------------------------------------------------------------------------------------------------------

def mirror_helm(name: str, url: str, charts: tuple[Path, ...]) -> dict[str, Any]:
    """Add ``charts`` to the sandbox chart repository and record that it serves the Helm repository ``url``.
    HelmRepositories of ``url`` (and their HelmCharts) then fetch from the sandbox chart repository;
    ``helm``-compatible clients use the chart repository's URL."""
    normalise_helm_url(url)
    state = StateDir(name)
    pushed = [helmrepo.push_chart(name, chart) for chart in charts]
    target = helmrepo.repository_url(name)
    with _editing(state) as box:
        helm_mirrors = dict(box[0].helm)
        key = normalise_helm_url(url)
        known = helm_mirrors[key].charts if key in helm_mirrors else ()
        names = tuple(sorted({*known, *(f"{p['name']}-{p['version']}" for p in pushed)}))
        helm_mirrors[key] = HelmMirror(url=url.rstrip("/"), target=target, charts=names)
        box[0] = replace(box[0], helm=helm_mirrors)
    return {"kind": "helm", "url": url.rstrip("/"), "target": target, "charts": list(names)}


# --- listing and removing ----------------------------------------------------------------------------------------

def list_mirrors(name: str) -> dict[str, Any]:
    state = StateDir(name)
    if not state.exists():
        raise SandboxError(f"sandbox {name!r} is not up; start it with `sandbox up --name {name}`")
    current = load(state)
    rows: list[dict[str, Any]] = []
    rows += [{"kind": "git", "url": m.url, "target": m.target, "detail": m.repository} for m in current.git.values()]
    rows += [{"kind": "oci", "url": m.prefix, "target": m.target, "detail": ""} for m in current.oci.values()]
    rows += [{"kind": "helm", "url": m.url, "target": m.target, "detail": ", ".join(m.charts)}
             for m in current.helm.values()]
    return {"offline": current.offline, "mirrors": rows}


def remove(name: str, url: str, *, delete_repository: bool = False) -> list[str]:
    """Stop mirroring ``url`` (a git URL, an OCI prefix or a Helm repository URL); returns the kinds removed.
    What was pushed stays in the registry and chart repository; the git repository is deleted only when asked."""
    state = StateDir(name)
    removed: list[str] = []
    repository = ""
    with _editing(state) as box:
        current = box[0]
        if url.startswith("oci://"):
            key = normalise_oci_prefix(url)
            if key in current.oci:
                current = replace(current, oci={k: v for k, v in current.oci.items() if k != key})
                removed.append("oci")
        else:
            git_key = _quiet(normalise_git_url, url)
            if git_key and git_key in current.git:
                repository = current.git[git_key].repository
                current = replace(current, git={k: v for k, v in current.git.items() if k != git_key})
                removed.append("git")
            helm_key = _quiet(normalise_helm_url, url)
            if helm_key and helm_key in current.helm:
                current = replace(current, helm={k: v for k, v in current.helm.items() if k != helm_key})
                removed.append("helm")
        box[0] = current
    if not removed:
        raise NotFound(f"{url} is not mirrored in sandbox {name!r} (see `sandbox mirror list`)", status=404)
    if delete_repository and repository:
        with suppress(NotFound):
            git_service.connect(state).delete_repo(repository)
    return removed


def _quiet(normalise: Any, url: str) -> str:
    try:
        return str(normalise(url))
    except InputError:
        return ""


# --- mirrors for one test (the pytest fixture ``sandbox_mirror``) ------------------------------------------------

class ScopedMirrors:
    """Mirrors added for a while (one test) and removed by ``close()``, which also puts offline mode back as it
    was. The fixture ``sandbox_mirror`` is one of these."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = StateDir(name)
        self._added: list[str] = []
        self._offline_before: bool | None = None

    def git(self, url: str, *, files: dict[str, str] | None = None, from_dir: Path | None = None,
            from_git: Path | None = None) -> dict[str, Any]:
        """Serve ``url`` from ``files`` (path -> text), a folder, or a local git repository."""
        if files is not None:
            with _folder_of(files) as folder:
                result = mirror_git(self.name, url, from_dir=folder)
        else:
            result = mirror_git(self.name, url, from_dir=from_dir, from_git=from_git)
        self._added.append(url)
        return result

    def oci(self, prefix: str, *, files: dict[str, str] | None = None, from_dir: Path | None = None,
            tag: str = "latest", artifact_files: tuple[Path, ...] = ()) -> dict[str, Any]:
        """Serve ``prefix`` from the sandbox registry, pushing ``files`` (path -> text) or a folder as
        ``prefix:tag``, or ``artifact_files`` below it."""
        if files is not None:
            with _folder_of(files) as folder:
                result = mirror_oci(self.name, prefix, from_dir=folder, tag=tag)
        else:
            result = mirror_oci(self.name, prefix, from_dir=from_dir, tag=tag, artifact_files=artifact_files)
        self._added.append(prefix)
        return result

    def helm(self, url: str, charts: tuple[Path, ...]) -> dict[str, Any]:
        result = mirror_helm(self.name, url, charts)
        self._added.append(url)
        return result

    def offline(self, offline: bool = True) -> None:
        """Offline (or not) until ``close()``."""
        if self._offline_before is None:
            self._offline_before = load(self.state).offline
        set_offline(self.state, offline)

    def close(self) -> None:
        for url in reversed(self._added):
            with suppress(NotFound):
                remove(self.name, url, delete_repository=True)
        self._added.clear()
        if self._offline_before is not None:
            set_offline(self.state, self._offline_before)
            self._offline_before = None


@contextmanager
def _folder_of(files: dict[str, str]) -> Iterator[Path]:
    """A temporary folder holding ``files`` (path -> text), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="sandbox-mirror-") as scratch:
        for relative, text in files.items():
            target = Path(scratch) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        yield Path(scratch)
