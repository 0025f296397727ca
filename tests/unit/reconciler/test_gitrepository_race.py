"""A push between ls-remote and the fetch: the GitRepository stores the newer commit instead of reporting the
resolved one as missing (fast consecutive pushes produced `GitOperationFailed: commit … not found` warnings)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.source import gitrepository
from sandbox.reconciler.source.gitrepository import GitRepositoryReconciler, RefMoved
from sandbox.reconciler.source.refs import ResolvedRef
from sandbox.reconciler.source.storage import Storage

A, B = "a" * 40, "b" * 40


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((event_type, reason))


def test_a_branch_that_moved_during_the_fetch_is_resolved_again(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    heads = iter([A, B])
    monkeypatch.setattr(gitrepository.git, "ls_remote", lambda url, **_: {"refs/heads/main": next(heads)})
    monkeypatch.setattr(gitrepository.git, "commit_subject", lambda mirror, sha: "a commit")
    reconciler = GitRepositoryReconciler(Storage(tmp_path / "artifacts", "http://127.0.0.1:1"), tmp_path / "m")

    def fetch_and_store(meta: Any, url: str, resolved: ResolvedRef, *args: Any) -> tuple[dict[str, Any], None]:
        if resolved.sha == A:  # the branch now points at B: A is not what the fetch brought
            raise RefMoved(f"refs/heads/main no longer points at {A}")
        return {"revision": resolved.revision, "digest": "sha256:" + "0" * 64, "path": "x"}, None

    monkeypatch.setattr(reconciler, "_fetch_and_store", fetch_and_store)
    events = Events()
    ctx = Context(kube=None, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    obj = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "fleet", "namespace": "flux-system", "generation": 1},
           "spec": {"url": "http://127.0.0.1:1/fleet.git", "interval": "1m", "ref": {"branch": "main"}}}
    result = reconciler.reconcile(obj, ctx)
    assert result.status is not None
    assert result.status["artifact"]["revision"] == f"main@sha1:{B}"
    assert cond.is_true(result.status["conditions"], cond.READY)
    assert events.recorded == [("Normal", "NewArtifact")], "no GitOperationFailed warning"
