"""The local git server's repositories on disk: bare repositories, their settings and their webhooks (0600)."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import Conflict, NotFound
from sandbox.git.names import check_repo_name
from sandbox.state import write_json
from sandbox.tools import git as gittool

_META = "sandbox-repo.json"
_HOOKS = "sandbox-hooks.json"
# Hands a push's ref updates ("old new ref" lines) to the server that ran receive-pack, through a file the
# server named for that one request: exact per push, and no process startup on the push's path.
POST_RECEIVE = """#!/bin/sh
# Installed by gitops-sandbox. The local git server reads this file after the push and sends the webhooks.
if [ -n "$SANDBOX_PUSH_RECORD" ]; then cat > "$SANDBOX_PUSH_RECORD"; fi
exit 0
"""
# AGit pushes (refs/for/<branch>): git's receive-pack hands them to this hook (receive.procReceiveRefs), which
# runs the server's Python (sandbox.git.agit) with the environment the server gave git http-backend.
PROC_RECEIVE = """#!/bin/sh
# Installed by gitops-sandbox: pushes to refs/for/<branch> open or update pull requests.
if [ -z "$SANDBOX_PYTHON" ]; then
  echo "refs/for/ pushes go through the sandbox's git server only" >&2
  exit 1
fi
exec "$SANDBOX_PYTHON" -m sandbox.git.agit
"""
_HOOK_SCRIPTS = {"post-receive": POST_RECEIVE, "proc-receive": PROC_RECEIVE}


def install_hooks(git_dir: Path) -> None:
    """Write the server's hooks into a bare repository (again: repositories made by older versions get them)."""
    for name, script in _HOOK_SCRIPTS.items():
        hook = git_dir / "hooks" / name
        if not hook.exists() or hook.read_text() != script:
            hook.write_text(script)
        hook.chmod(0o755)


@dataclass(frozen=True)
class RepoMeta:
    id: int
    name: str
    owner: str
    private: bool
    default_branch: str
    description: str
    created_at: float

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class HookMeta:
    id: int
    url: str
    secret: str
    events: list[str] = field(default_factory=lambda: ["push"])
    content_type: str = "json"
    active: bool = True
    created_at: float = 0.0


class RepoStore:
    """Repositories under ``root/repos/<owner>/<name>.git``; one lock serialises changes to settings."""

    def __init__(self, root: Path, owner: str) -> None:
        self.root = root
        self.owner = owner
        self.repos_dir = root / "repos" / owner
        self.repos_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()

    def git_dir(self, name: str) -> Path:
        return self.repos_dir / f"{name}.git"

    def _next_id(self, kind: str) -> int:
        counters_file = self.root / "ids.json"
        counters: dict[str, int] = json.loads(counters_file.read_text()) if counters_file.exists() else {}
        counters[kind] = counters.get(kind, 0) + 1
        write_json(counters_file, counters)
        return counters[kind]

    # --- repositories -------------------------------------------------------------------------------------
    def create(self, name: str, *, private: bool, default_branch: str = "main", description: str = "") -> RepoMeta:
        check_repo_name(name)
        with self._lock:
            target = self.git_dir(name)
            if target.exists():
                raise Conflict(f"repository {self.owner}/{name} already exists; pick another name or delete it "
                               f"first (`sandbox repo delete {name}`)", status=409)
            # Built aside and renamed into place: a failure leaves no half-made repository behind.
            staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.repos_dir))
            try:
                gittool.init_bare(staging, default_branch=default_branch)
                install_hooks(staging)
                meta = RepoMeta(id=self._next_id("repo"), name=name, owner=self.owner, private=private,
                                default_branch=default_branch, description=description, created_at=time.time())
                write_json(staging / _META, asdict(meta))
                write_json(staging / _HOOKS, [])
                staging.rename(target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return meta

    def get(self, name: str) -> RepoMeta | None:
        try:
            data = json.loads((self.git_dir(name) / _META).read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        return RepoMeta(**data)

    def require(self, name: str) -> RepoMeta:
        meta = self.get(name)
        if meta is None:
            raise NotFound(f"repository {self.owner}/{name} does not exist; create it with "
                           f"`sandbox repo create {name}`", status=404)
        return meta

    def repos(self) -> list[RepoMeta]:
        found = []
        for path in sorted(self.repos_dir.glob("*.git")):
            meta = self.get(path.name[: -len(".git")])
            if meta is not None:
                found.append(meta)
        return found

    def delete(self, name: str) -> None:
        with self._lock:
            self.require(name)
            # Renamed first so that a half-finished removal never looks like a repository.
            doomed = self.repos_dir / f".deleting-{name}-{time.monotonic_ns()}"
            self.git_dir(name).rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def ensure_hooks(self) -> None:
        """Install the current hooks into every repository (at server start)."""
        for meta in self.repos():
            install_hooks(self.git_dir(meta.name))

    def is_empty(self, name: str) -> bool:
        refs = self.git_dir(name) / "refs" / "heads"
        packed = self.git_dir(name) / "packed-refs"
        has_packed = packed.exists() and any(" refs/heads/" in line for line in packed.read_text().splitlines())
        return not has_packed and not any(p.is_file() for p in refs.rglob("*"))

    # --- webhooks -----------------------------------------------------------------------------------------
    def hooks(self, name: str) -> list[HookMeta]:
        self.require(name)
        try:
            raw: list[dict[str, Any]] = json.loads((self.git_dir(name) / _HOOKS).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            raw = []
        return [HookMeta(**item) for item in raw]

    def add_hook(self, name: str, *, url: str, secret: str, events: list[str], content_type: str = "json",
                 active: bool = True) -> HookMeta:
        with self._lock:
            existing = self.hooks(name)
            hook = HookMeta(id=self._next_id("hook"), url=url, secret=secret, events=events,
                            content_type=content_type, active=active, created_at=time.time())
            self._write_hooks(name, [*existing, hook])
            return hook

    def delete_hook(self, name: str, hook_id: int) -> None:
        with self._lock:
            existing = self.hooks(name)
            kept = [h for h in existing if h.id != hook_id]
            if len(kept) == len(existing):
                raise NotFound(f"webhook {hook_id} does not exist on repository {self.owner}/{name}; list them "
                               f"with `sandbox repo hook list {name}`", status=404)
            self._write_hooks(name, kept)

    def _write_hooks(self, name: str, hooks: list[HookMeta]) -> None:
        write_json(self.git_dir(name) / _HOOKS, [asdict(h) for h in hooks])
