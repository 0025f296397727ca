"""Commit statuses of the local git server's repositories, as Gitea keeps them (``POST/GET
/repos/{owner}/{repo}/statuses/{sha}``): what CI — or Flux's ``gitea`` notification Provider — reports on a
commit. Kept in one JSON file per repository, under a lock; newest first when listed, as Gitea answers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import time
from collections.abc import Iterator
from typing import Any

from sandbox.errors import InputError
from sandbox.git.store import RepoStore
from sandbox.state import write_json

STATES = ("pending", "success", "error", "failure", "warning")
_FILE = "sandbox-statuses.json"
_LOCK = "sandbox-statuses.lock"
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def check_sha(sha: str) -> str:
    if not _SHA.match(sha):
        raise InputError(f"invalid commit SHA {sha!r}: use the full hexadecimal commit id")
    return sha


class StatusStore:
    def __init__(self, store: RepoStore) -> None:
        self.store = store

    @contextlib.contextmanager
    def _locked(self, repo: str) -> Iterator[list[dict[str, Any]]]:
        self.store.require(repo)
        path = self.store.git_dir(repo) / _FILE
        with open(self.store.git_dir(repo) / _LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                statuses: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
                before = len(statuses)
                yield statuses
                if len(statuses) != before:
                    write_json(path, statuses)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def create(self, repo: str, sha: str, option: dict[str, Any], *, creator: str) -> dict[str, Any]:
        """Record a status from Gitea's ``CreateStatusOption`` (``state``, ``target_url``, ``description``,
        ``context``)."""
        check_sha(sha)
        state = option.get("state")
        if state not in STATES:
            raise InputError(f"CreateStatusOption.state must be one of {', '.join(STATES)}, not {state!r}")
        for key in ("target_url", "description", "context"):
            if not isinstance(option.get(key, ""), str):
                raise InputError(f"CreateStatusOption.{key} must be a string")
        with self._locked(repo) as statuses:
            entry = {"id": len(statuses) + 1, "sha": sha, "status": state,
                     "target_url": option.get("target_url") or "", "description": option.get("description") or "",
                     "context": option.get("context") or "", "creator": creator,
                     "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            statuses.append(entry)
        return entry

    def list(self, repo: str, sha: str) -> list[dict[str, Any]]:
        """The statuses of ``sha``, newest first."""
        check_sha(sha)
        with self._locked(repo) as statuses:
            return [s for s in reversed(statuses) if s["sha"] == sha]
