"""What applying a set of objects would change, object by object, as ``flux diff`` reports it: created, configured
(with a unified diff of the live object against the server-side dry-run result), deleted, skipped or unchanged;
managed fields, status and the server's bookkeeping left out, Secret values masked."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import yaml

from sandbox.reconciler.runtime import jsondiff
from sandbox.reconciler.runtime.jsondiff import MASK

Obj = dict[str, Any]

# Fields the server maintains: never something applying would change.
BOOKKEEPING = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    DELETED = "deleted"
    SKIPPED = "skipped"
    UNCHANGED = "unchanged"


def subject_of(obj: Obj) -> str:
    """``Kind/namespace/name`` (``Kind/name`` for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind')}/{namespace}/{meta.get('name')}" if namespace else f"{obj.get('kind')}/{meta.get('name')}"


def is_secret(obj: Obj | None) -> bool:
    return bool(obj) and (obj or {}).get("kind") == "Secret" and (obj or {}).get("apiVersion") == "v1"


def comparable(obj: Obj | None) -> Obj | None:
    """A copy of ``obj`` as shown in a diff: no status, no server bookkeeping in its metadata."""
    if obj is None:
        return None
    shown = copy.deepcopy(obj)
    shown.pop("status", None)
    meta = shown.get("metadata") or {}
    for key in BOOKKEEPING:
        meta.pop(key, None)
    return shown


def masked(live: Obj | None, merged: Obj | None) -> tuple[Obj | None, Obj | None]:
    """Both sides of a Secret with their values masked (changed keys told apart); other kinds as they are."""
    if not (is_secret(live) or is_secret(merged)):
        return live, merged
    live, merged = copy.deepcopy(live), copy.deepcopy(merged)
    before, after = jsondiff.mask_data((live or {}).get("data"), (merged or {}).get("data"))
    for side, data in ((live, before), (merged, after)):
        if side is not None:
            side.pop("stringData", None)
            if data:
                side["data"] = data
    return live, merged


def _yaml(obj: Obj | None) -> list[str]:
    if obj is None:
        return []
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


@dataclass(frozen=True)
class ObjectDiff:
    """One object's outcome; ``live`` and ``merged`` are already masked and stripped for display."""

    subject: str
    action: Action
    live: Obj | None = None
    merged: Obj | None = None
    reason: str = ""

    @classmethod
    def of(cls, action: Action, desired: Obj, live: Obj | None = None, merged: Obj | None = None,
           reason: str = "") -> ObjectDiff:
        shown_live, shown_merged = masked(comparable(live), comparable(merged))
        return cls(subject_of(desired), action, shown_live, shown_merged, reason)

    @property
    def changed(self) -> bool:
        return self.action in (Action.CREATED, Action.CONFIGURED, Action.DELETED)

    def unified(self) -> str:
        """The unified diff of the live object against what applying would make of it ("" unless configured)."""
        if self.action is not Action.CONFIGURED:
            return ""
        return "".join(difflib.unified_diff(_yaml(self.live), _yaml(self.merged), fromfile=f"live {self.subject}",
                                            tofile=f"merged {self.subject}"))

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"subject": self.subject, "action": str(self.action)}
        if self.reason:
            data["reason"] = self.reason
        if self.action is Action.CONFIGURED:
            data["diff"] = self.unified()
        return data


@dataclass(frozen=True)
class DiffReport:
    """Every object's outcome, and the problems that kept some from being compared."""

    objects: tuple[ObjectDiff, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return any(item.changed for item in self.objects)

    def lines(self) -> Iterable[tuple[str, str]]:
        """(text, action) pairs to print: a ``► Kind/ns/name action`` line, then the diff of configured objects."""
        for item in self.objects:
            if item.action is Action.UNCHANGED:
                continue
            label = "drifted" if item.action is Action.CONFIGURED else str(item.action)
            yield f"► {item.subject} {label}" + (f" ({item.reason})" if item.reason else ""), str(item.action)
            text = item.unified()
            if text:
                for line in text.rstrip("\n").split("\n"):
                    yield line, "diff"

    def to_data(self) -> dict[str, Any]:
        return {"changed": self.changed, "objects": [item.to_data() for item in self.objects],
                "errors": list(self.errors)}


def _scrub(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    return value


def scrubbed(report: DiffReport, secrets: Iterable[str]) -> DiffReport:
    """``report`` with each of ``secrets`` (strings that came from Secrets, such as a HelmRelease's valuesFrom)
    replaced by ``***`` wherever it appears — in a ConfigMap a chart rendered from it, say."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not ordered:
        return report
    return DiffReport(tuple(ObjectDiff(item.subject, item.action, _scrub(item.live, ordered),
                                       _scrub(item.merged, ordered), _scrub(item.reason, ordered))
                            for item in report.objects), tuple(_scrub(list(report.errors), ordered)))


def sort_by_subject(items: Sequence[ObjectDiff]) -> tuple[ObjectDiff, ...]:
    return tuple(sorted(items, key=lambda item: item.subject))
