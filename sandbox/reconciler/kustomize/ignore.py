"""A Kustomization's ``spec.ignore``: JSON pointers left out of drift detection and apply, as fluxcd/pkg/ssa's
``DriftIgnoreRules`` (kustomize-controller v1.9).

An object whose only differences from the cluster are at ignored paths is not applied. When it is applied for
another reason, each ignored path whose live value differs from the dry-run result is *stripped* from the payload
when another server-side-apply manager owns the field (an HPA's replicas), so that manager keeps it, or set to the
live value when this Kustomization is the field's only owner (a ``kubectl edit`` is kept, not reverted). Selectors
match the dry-run result, as upstream's do.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.reconciler.runtime.jsondiff import IgnoreRules, equal, remove_paths, tokens

Obj = dict[str, Any]
_ABSENT: Any = object()


def paths(rules: IgnoreRules, dry_run: Mapping[str, Any]) -> list[str]:
    """The pointers to ignore on the object whose server-side dry-run result is ``dry_run`` (the whole-object
    pointer ``""`` is not one: an object is left alone with ``kustomize.toolkit.fluxcd.io/reconcile: disabled``)."""
    return [path for path in rules.paths_for(dry_run) if path]


def without(obj: Obj, pointers: Iterable[str]) -> Obj:
    """A copy of ``obj`` without the values at ``pointers``."""
    result: Obj = remove_paths(copy.deepcopy(obj), list(pointers))
    return result


def _step(current: Any, token: str) -> Any:
    if isinstance(current, dict):
        return current.get(token, _ABSENT)
    if isinstance(current, list):
        try:
            index = int(token)
        except ValueError:
            return _ABSENT
        return current[index] if 0 <= index < len(current) else _ABSENT
    return _ABSENT


def lookup(document: Any, pointer: str) -> Any:
    """The value at ``pointer`` in ``document``, or ``_ABSENT``."""
    current = document
    for token in tokens(pointer):
        current = _step(current, token)
        if current is _ABSENT:
            break
    return current


def _set(document: Any, pointer: str, value: Any) -> None:
    """Replace the value at ``pointer`` (when its parent exists)."""
    *parents, last = tokens(pointer)
    parent = document
    for token in parents:
        parent = _step(parent, token)
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list) and _step(parent, last) is not _ABSENT:
        parent[int(last)] = copy.deepcopy(value)


def payload(obj: Obj, live: Obj, dry_run: Obj, pointers: list[str], field_manager: str) -> Obj:
    """What to apply of ``obj`` (which is going to be applied) so that drift at ignored ``pointers`` is kept."""
    stripped: list[str] = []
    adopted: list[tuple[str, Any]] = []
    for pointer in pointers:
        live_value, desired = lookup(live, pointer), lookup(dry_run, pointer)
        if live_value is _ABSENT and desired is _ABSENT:
            continue
        if live_value is not _ABSENT and desired is not _ABSENT and equal(live_value, desired):
            continue
        if live_value is _ABSENT or owned_by_another_applier(live, pointer, field_manager):
            stripped.append(pointer)
        else:
            adopted.append((pointer, live_value))
    if not stripped and not adopted:
        return obj
    result = without(obj, stripped)
    for pointer, value in adopted:
        _set(result, pointer, value)
    return result


def owned_by_another_applier(live: Obj, pointer: str, field_manager: str) -> bool:
    """Whether a server-side-apply manager other than ``field_manager`` owns the field at ``pointer`` (array items
    found through their ``k:`` merge keys); a path that cannot be followed in the managed fields counts as ours."""
    entries = [entry for entry in (live.get("metadata") or {}).get("managedFields") or []
               if entry.get("operation") == "Apply" and not entry.get("subresource")
               and entry.get("manager") != field_manager and isinstance(entry.get("fieldsV1"), dict)]
    if not entries:
        return False
    segments = _segments(live, pointer, [entry["fieldsV1"] for entry in entries])
    return segments is not None and any(_contains(entry["fieldsV1"], segments) for entry in entries)


def _segments(live: Obj, pointer: str, field_sets: list[Obj]) -> list[str] | None:
    segments: list[str] = []
    current: Any = live
    for token in tokens(pointer):
        if isinstance(current, list):
            try:
                item = current[int(token)]
            except (ValueError, IndexError):
                return None
            key = _merge_key(item, segments, field_sets)
            if key is None:
                return None
            segments.append(key)
            current = item
        elif isinstance(current, dict):
            segments.append(f"f:{token}")
            current = current.get(token)
        else:
            return None
    return segments


def _merge_key(item: Any, parent: list[str], field_sets: list[Obj]) -> str | None:
    """The ``k:{...}`` key under ``parent`` whose fields all equal the array ``item``'s."""
    if not isinstance(item, dict):
        return None
    for fields in field_sets:
        node: Any = fields
        for segment in parent:
            node = node.get(segment) if isinstance(node, dict) else None
        for key in node if isinstance(node, dict) else ():
            if not key.startswith("k:"):
                continue
            try:
                wanted = json.loads(key[2:])
            except ValueError:
                continue
            if isinstance(wanted, dict) and all(item.get(k) == v for k, v in wanted.items()):
                return str(key)
    return None


def _contains(fields: Obj, segments: list[str]) -> bool:
    node: Any = fields
    for segment in segments:
        if not isinstance(node, dict) or segment not in node:
            return False
        node = node[segment]
    return True
