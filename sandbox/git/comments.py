"""Comments on the local git server's pull requests, as Gitea keeps issue comments (a pull request is an issue:
``/repos/{owner}/{repo}/issues/{index}/comments``, ``/repos/{owner}/{repo}/issues/comments/{id}``): what a
reviewer — or Flux's ``giteapullrequestcomment`` Provider — writes on one. Kept in one JSON file per repository
(mode 0600) beside the pull requests, under a lock; ids are unique per repository and never reused; listed oldest
first, as Gitea answers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Iterator
from typing import Any

from sandbox.errors import InputError, NotFound
from sandbox.git.pulls import PullStore
from sandbox.git.store import RepoStore
from sandbox.state import write_json

_FILE = "sandbox-comments.json"
_LOCK = "sandbox-comments.lock"
MAX_BODY = 1 << 20


def _body(option: Any, what: str) -> str:
    """The ``body`` of a CreateIssueCommentOption or EditIssueCommentOption (required, a string)."""
    if not isinstance(option, dict):
        raise InputError("the request body must be a JSON object")
    body = option.get("body")
    if not isinstance(body, str) or not body:
        raise InputError(f"{what}.body is required (a non-empty string)")
    if len(body.encode()) > MAX_BODY:
        raise InputError(f"{what}.body is larger than {MAX_BODY} bytes")
    return body


class CommentStore:
    def __init__(self, store: RepoStore, pulls: PullStore | None = None) -> None:
        self.store = store
        self.pulls = pulls or PullStore(store)

    @contextlib.contextmanager
    def _locked(self, repo: str) -> Iterator[dict[str, Any]]:
        """``{"next_id": N, "comments": [...]}`` under an exclusive lock; written back when changed."""
        self.store.require(repo)
        path = self.store.git_dir(repo) / _FILE
        with open(self.store.git_dir(repo) / _LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data: dict[str, Any] = (json.loads(path.read_text()) if path.exists()
                                        else {"next_id": 1, "comments": []})
                before = json.dumps(data, sort_keys=True)
                yield data
                if json.dumps(data, sort_keys=True) != before:
                    write_json(path, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def list(self, repo: str, index: int) -> list[dict[str, Any]]:
        """The comments of pull request ``index``, oldest first (NotFound when there is no such pull request)."""
        self.pulls.get(repo, index)
        with self._locked(repo) as data:
            return [c for c in data["comments"] if c["index"] == index]

    def create(self, repo: str, index: int, option: Any, *, poster: str) -> dict[str, Any]:
        body = _body(option, "CreateIssueCommentOption")
        self.pulls.get(repo, index)
        now = time.time()
        with self._locked(repo) as data:
            entry = {"id": data["next_id"], "index": index, "body": body, "poster": poster, "created_at": now,
                     "updated_at": now}
            data["next_id"] += 1
            data["comments"].append(entry)
        return entry

    def get(self, repo: str, comment_id: int) -> dict[str, Any]:
        with self._locked(repo) as data:
            return dict(self._find(data, repo, comment_id))

    def edit(self, repo: str, comment_id: int, option: Any) -> dict[str, Any]:
        """Gitea's EditIssueCommentOption: the body changes (and ``updated_at``) only when it differs."""
        body = _body(option, "EditIssueCommentOption")
        with self._locked(repo) as data:
            entry = self._find(data, repo, comment_id)
            if entry["body"] != body:
                entry["body"], entry["updated_at"] = body, time.time()
            return dict(entry)

    def delete(self, repo: str, comment_id: int) -> None:
        with self._locked(repo) as data:
            entry = self._find(data, repo, comment_id)
            data["comments"].remove(entry)

    def _find(self, data: dict[str, Any], repo: str, comment_id: int) -> dict[str, Any]:
        for entry in data["comments"]:
            if entry["id"] == comment_id:
                found: dict[str, Any] = entry
                return found  # the stored entry itself: edits write through
        raise NotFound(f"comment {comment_id} does not exist in {self.store.owner}/{repo}", status=404)
