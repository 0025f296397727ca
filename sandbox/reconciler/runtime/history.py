"""``status.history``: snapshots of the last reconciliation attempts, as fluxcd/pkg ``meta.History`` keeps them.

One snapshot per (digest, status) pair, newest first, at most five: a reconcile of the same built manifests
with the same outcome updates its snapshot (``lastReconciled``, duration, ``totalReconciliations``) and moves it
to the front; anything else adds a snapshot at the front.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.reconciler.runtime.timeutil import go_duration, rfc3339

MAX_SIZE = 5  # meta.HistoryMaxSize

Snapshot = dict[str, Any]


def digest_of(objects: Sequence[Mapping[str, Any]]) -> str:
    """``sha256:<hex>`` of the built objects (canonical JSON): equal for equal manifests, whatever their order of
    keys. Flux hashes kustomize's YAML output instead, so the value differs from upstream's for the same objects;
    what it is for — telling revisions and outcomes apart — is the same."""
    canonical = json.dumps(list(objects), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def upsert(history: Sequence[Snapshot] | None, digest: str, status: str, duration: float,
           metadata: Mapping[str, str], *, moment: datetime.datetime | None = None) -> list[Snapshot]:
    """A new history with this reconcile recorded (the input is not changed)."""
    stamp = rfc3339(moment)
    snapshots = [dict(s) for s in history or []]
    for index, snapshot in enumerate(snapshots):
        if snapshot.get("digest") == digest and snapshot.get("lastReconciledStatus") == status:
            snapshot.update(lastReconciled=stamp, lastReconciledDuration=go_duration(duration),
                            totalReconciliations=int(snapshot.get("totalReconciliations", 0)) + 1,
                            metadata=dict(metadata))
            snapshots.insert(0, snapshots.pop(index))
            return snapshots[:MAX_SIZE]
    fresh: Snapshot = {"digest": digest, "firstReconciled": stamp, "lastReconciled": stamp,
                       "lastReconciledDuration": go_duration(duration), "lastReconciledStatus": status,
                       "totalReconciliations": 1, "metadata": dict(metadata)}
    return [fresh, *snapshots][:MAX_SIZE]
