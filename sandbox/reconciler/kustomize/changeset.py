"""The result of applying or pruning a set of objects (fluxcd/pkg ``ssa.ChangeSet``) and the messages the
controller renders from it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from sandbox.reconciler.kustomize import inventory, manifest
from sandbox.reconciler.kustomize.manifest import Obj
from sandbox.reconciler.runtime.timeutil import go_duration


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Change:
    """What happened to one object: ``Deployment/default/web configured``."""

    kind: str
    namespace: str
    name: str
    api_version: str
    action: Action

    @classmethod
    def of(cls, obj: Obj, action: Action | str) -> Change:
        meta = manifest.metadata(obj)
        return cls(kind=str(obj.get("kind", "")), namespace=str(meta.get("namespace") or ""),
                   name=str(meta.get("name") or ""), api_version=manifest.api_version_of(obj),
                   action=Action(action))

    @property
    def subject(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    @property
    def changed(self) -> bool:
        """True for actions that changed the cluster (Flux's ``HasChanged``: not unchanged, not skipped)."""
        return self.action not in (Action.UNCHANGED, Action.SKIPPED)

    def inventory_entry(self) -> dict[str, str]:
        meta = inventory.ObjMetadata(self.namespace, self.name, manifest.api_group(self.api_version), self.kind)
        return {"id": meta.id, "v": self.api_version.rpartition("/")[2]}

    def __str__(self) -> str:
        return f"{self.subject} {self.action}"


@dataclass(frozen=True)
class ChangeSet:
    """The changes of one apply or prune, in the order they were made."""

    changes: tuple[Change, ...] = ()

    def __add__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(self.changes + other.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def summary(self) -> str:
        """Every change on its own line (``ChangeSet.String()``), as in prune events."""
        return "\n".join(str(change) for change in self.changes)

    def applied_message(self) -> str:
        """The apply event's message: only the lines that changed something; empty when nothing changed
        (Flux then emits no event)."""
        return "\n".join(str(change) for change in self.changes if change.changed)

    @property
    def changed(self) -> bool:
        return any(change.changed for change in self.changes)

    def to_map(self) -> dict[str, str]:
        """``{"Kind/ns/name": "action"}``, as Flux logs it."""
        return {change.subject: str(change.action) for change in self.changes}

    def counts(self) -> dict[str, int]:
        counted = Counter(str(change.action) for change in self.changes)
        return {str(action): counted[str(action)] for action in Action if counted[str(action)]}

    def inventory_entries(self) -> list[dict[str, str]]:
        """The new inventory: every applied object, skipped ones included (they are still managed)."""
        return [change.inventory_entry() for change in self.changes]

    def health_check_subjects(self) -> list[Change]:
        """What ``wait: true`` checks: everything applied except skipped objects."""
        return [change for change in self.changes if change.action is not Action.SKIPPED]


def change_set(results: Iterable[tuple[Obj, Action | str]]) -> ChangeSet:
    return ChangeSet(tuple(Change.of(obj, action) for obj, action in results))


# --- messages the controller renders ---------------------------------------------------------------------

def applied_revision(revision: str) -> str:
    """The Ready=True message: ``Applied revision: main@sha1:...``."""
    return f"Applied revision: {revision}"


def reconciliation_finished(elapsed_seconds: float, interval_seconds: float) -> str:
    """The success event: ``Reconciliation finished in 176.16ms, next run in 10m0s``."""
    return f"Reconciliation finished in {go_duration(elapsed_seconds)}, next run in {go_duration(interval_seconds)}"


def progress(step: str, revision: str, timeout_seconds: float) -> str:
    """Reconciling messages such as ``Building manifests for revision X with a timeout of 5m0s``; ``step`` is
    ``Fetching manifests``, ``Building manifests``, ``Detecting drift`` or ``Running health checks``."""
    return f"{step} for revision {revision} with a timeout of {go_duration(timeout_seconds)}"


def event_metadata(revision: str, origin_revision: str = "", *, commit_status: bool = False) -> Mapping[str, str]:
    """Annotations Flux attaches to its events (``kustomize.toolkit.fluxcd.io/revision``, ...).

    ``commit_status``: the success event also carries ``kustomize.toolkit.fluxcd.io/commit_status: update``, which
    tells notification providers to update the commit's status."""
    result = {f"{inventory.GROUP}/revision": revision} if revision else {}
    if origin_revision:
        result[f"{inventory.GROUP}/originRevision"] = origin_revision
    if commit_status:
        result[f"{inventory.GROUP}/commit_status"] = "update"
    return result
