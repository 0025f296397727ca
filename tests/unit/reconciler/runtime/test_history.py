"""status.history as fluxcd/pkg meta.History keeps it: one snapshot per (digest, status), newest first, five at most."""

from __future__ import annotations

import datetime

from sandbox.reconciler.runtime import history

T0 = datetime.datetime(2026, 11, 29, 12, 0, 0, tzinfo=datetime.UTC)


def at(seconds: int) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def test_the_first_reconcile_adds_a_snapshot() -> None:
    result = history.upsert(None, "sha256:a", "ReconciliationSucceeded", 1.5, {"revision": "main@sha1:1"},
                            moment=T0)
    assert result == [{"digest": "sha256:a", "firstReconciled": "2026-11-29T12:00:00Z",
                       "lastReconciled": "2026-11-29T12:00:00Z", "lastReconciledDuration": "1.5s",
                       "lastReconciledStatus": "ReconciliationSucceeded", "totalReconciliations": 1,
                       "metadata": {"revision": "main@sha1:1"}}]


def test_the_same_digest_and_outcome_updates_its_snapshot_and_moves_it_to_the_front() -> None:
    first = history.upsert(None, "sha256:a", "ReconciliationSucceeded", 1.0, {"revision": "r1"}, moment=at(0))
    second = history.upsert(first, "sha256:b", "ReconciliationSucceeded", 1.0, {"revision": "r2"}, moment=at(10))
    third = history.upsert(second, "sha256:a", "ReconciliationSucceeded", 2.0, {"revision": "r1"}, moment=at(20))
    assert [s["digest"] for s in third] == ["sha256:a", "sha256:b"]
    assert third[0]["totalReconciliations"] == 2
    assert third[0]["firstReconciled"] == "2026-11-29T12:00:00Z"
    assert third[0]["lastReconciled"] == "2026-11-29T12:00:20Z"
    assert third[0]["lastReconciledDuration"] == "2s"
    assert second[1]["totalReconciliations"] == 1, "the input history is not changed"


def test_another_outcome_of_the_same_digest_is_its_own_snapshot() -> None:
    failed = history.upsert(None, "sha256:a", "HealthCheckFailed", 30.0, {"revision": "r1"}, moment=at(0))
    fixed = history.upsert(failed, "sha256:a", "ReconciliationSucceeded", 1.0, {"revision": "r1"}, moment=at(5))
    assert [(s["digest"], s["lastReconciledStatus"]) for s in fixed] == [
        ("sha256:a", "ReconciliationSucceeded"), ("sha256:a", "HealthCheckFailed")]


def test_history_keeps_the_five_newest() -> None:
    snapshots: list[history.Snapshot] = []
    for index in range(7):
        snapshots = history.upsert(snapshots, f"sha256:{index}", "ReconciliationSucceeded", 1.0, {}, moment=at(index))
    assert [s["digest"] for s in snapshots] == [f"sha256:{i}" for i in (6, 5, 4, 3, 2)]


def test_the_digest_depends_on_content_not_on_key_order() -> None:
    a = [{"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}]
    b = [{"data": {"k": "v"}, "metadata": {"name": "x"}, "kind": "ConfigMap"}]
    c = [{"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "w"}}]
    assert history.digest_of(a) == history.digest_of(b) != history.digest_of(c)
    assert history.digest_of(a).startswith("sha256:") and len(history.digest_of(a)) == 7 + 64
