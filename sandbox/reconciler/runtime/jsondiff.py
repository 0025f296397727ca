"""JSON patches between two objects, and the ignore rules of drift detection, as fluxcd/pkg/ssa/jsondiff has them.

``compare`` produces the RFC 6902 operations that turn one JSON document into another the way github.com/wI2L/jsondiff
does (object keys in order, arrays index by index with removals at the end first and additions appended, optionally
*rationalized*: a whole value replaced when that is shorter than the operations inside it). ``IgnoreRule`` selects
objects (group, version, kind, name and namespace as anchored regular expressions, label and annotation selectors)
and names JSON pointers to leave out of the comparison.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import InputError

_MISSING: Any = object()

IGNORE_ROOT = ""  # an ignore path that leaves the whole object out
ADD = "add"
REPLACE = "replace"
REMOVE = "remove"


@dataclass(frozen=True)
class Operation:
    """One JSON patch operation; ``old`` is what was there (not part of the patch, as jsondiff's OldValue)."""

    op: str
    path: str
    value: Any = _MISSING
    old: Any = _MISSING
    value_length: int = 0

    def to_patch(self) -> dict[str, Any]:
        patch: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.op in (ADD, REPLACE):
            patch["value"] = self.value
        return patch

    def json_length(self) -> int:
        """The length jsondiff gives the operation when it decides whether to rationalize."""
        length = len('{"op":"","path":""}') + len(self.op) + len(self.path)
        if self.op in (ADD, REPLACE):
            length += len(',"value":') + self.value_length
        return length


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def equal(left: Any, right: Any) -> bool:
    """JSON equality (a boolean never equals a number, 1 equals 1.0)."""
    kind = _json_type(left)
    if kind != _json_type(right):
        return False
    if kind == "array":
        return len(left) == len(right) and all(equal(a, b) for a, b in zip(left, right, strict=True))
    if kind == "object":
        return left.keys() == right.keys() and all(equal(left[k], right[k]) for k in left)
    return bool(left == right)


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def tokens(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer (``""`` is the whole document)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise InputError(f"invalid JSON pointer {pointer!r}: it must start with '/'")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def compare(source: Any, target: Any, *, rationalize: bool = False) -> list[Operation]:
    """The operations that turn ``source`` into ``target``."""
    differ = _Differ(rationalize)
    differ.diff("", source, target, _compact(target) if rationalize else "")
    return differ.patch


class _Differ:
    def __init__(self, rationalize: bool) -> None:
        self.rationalize = rationalize
        self.patch: list[Operation] = []

    def diff(self, path: str, source: Any, target: Any, doc: str) -> None:
        if _json_type(source) != _json_type(target):
            if path == "":
                self.patch.append(Operation(ADD, path, target, source))
            else:
                self.patch.append(Operation(REPLACE, path, target, source, len(doc.encode())))
            return
        if equal(source, target):
            return
        size = len(self.patch)
        if isinstance(source, list):
            self._arrays(path, source, target)
        elif isinstance(source, dict):
            self._objects(path, source, target)
        else:
            self.patch.append(Operation(REPLACE, path, target, source, len(doc.encode())))
            return
        if self.rationalize and len(self.patch) > size:
            replace = Operation(REPLACE, path, target, source, len(doc.encode()))
            added = self.patch[size:]
            length = sum(op.json_length() for op in added) + len(added) - 1
            if length > replace.json_length():
                del self.patch[size:]
                self.patch.append(replace)

    def _sub_doc(self, value: Any) -> str:
        return _compact(value) if self.rationalize else ""

    def _objects(self, path: str, source: dict[str, Any], target: dict[str, Any]) -> None:
        for key in sorted(set(source) | set(target)):
            child = f"{path}/{escape(key)}"
            if key in source and key in target:
                self.diff(child, source[key], target[key], self._sub_doc(target[key]))
            elif key in source:
                self.patch.append(Operation(REMOVE, child, old=source[key]))
            else:
                self.patch.append(Operation(ADD, child, target[key]))

    def _arrays(self, path: str, source: list[Any], target: list[Any]) -> None:
        common = min(len(source), len(target))
        for index in range(common, len(source)):
            self.patch.append(Operation(REMOVE, f"{path}/{common}", old=source[index]))
        for index in range(common):
            self.diff(f"{path}/{index}", source[index], target[index], self._sub_doc(target[index]))
        for index in range(common, len(target)):
            self.patch.append(Operation(ADD, f"{path}/-", target[index]))


def remove_paths(document: Any, pointers: Iterable[str]) -> Any:
    """``document`` with the values at ``pointers`` removed (in place); pointers that lead nowhere are skipped,
    negative array indices count from the end (the options fluxcd/pkg/ssa applies its remove patches with)."""
    for pointer in pointers:
        parts = tokens(pointer)
        if not parts:
            continue
        parent = document
        for token in parts[:-1]:
            parent = _child(parent, token)
            if parent is _MISSING:
                break
        else:
            _remove_child(parent, parts[-1])
    return document


def _index(container: list[Any], token: str) -> int | None:
    try:
        index = int(token)
    except ValueError:
        return None
    if index < 0:
        index += len(container)
    return index if 0 <= index < len(container) else None


def _child(container: Any, token: str) -> Any:
    if isinstance(container, dict):
        return container.get(token, _MISSING)
    if isinstance(container, list):
        index = _index(container, token)
        return _MISSING if index is None else container[index]
    return _MISSING


def _remove_child(container: Any, token: str) -> None:
    if isinstance(container, dict):
        container.pop(token, None)
    elif isinstance(container, list):
        index = _index(container, token)
        if index is not None:
            del container[index]


# --- selectors and ignore rules ----------------------------------------------------------------------------

_REQUIREMENT = re.compile(r"""\s*(?P<not>!)?\s*(?P<key>[^\s=!,()]+)\s*
    (?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)|\s(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*""", re.VERBOSE)


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # "!=", "notin"


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """A Kubernetes label selector (``app=web,tier in (a,b),!canary``); raises InputError when malformed."""
    requirements: list[Requirement] = []
    for part in _split_selector(text):
        found = _REQUIREMENT.fullmatch(part)
        if not found or (found["not"] and (found["op"] or found["set"])):
            raise InputError(f"invalid label selector {text!r}: cannot read {part.strip()!r}")
        if found["not"]:
            requirements.append(Requirement(found["key"], "!"))
        elif found["op"]:
            requirements.append(Requirement(found["key"], "!=" if found["op"] == "!=" else "=", (found["value"],)))
        elif found["set"]:
            values = tuple(v.strip() for v in found["values"].split(",") if v.strip())
            requirements.append(Requirement(found["key"], found["set"], values))
        else:
            requirements.append(Requirement(found["key"], "exists"))
    return tuple(requirements)


def _split_selector(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [part for part in parts if part.strip()]


def _anchored(pattern: str, what: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(f"^(?:{pattern})$")
    except re.error as err:
        raise InputError(f"invalid {what} regex {pattern!r}: {err}") from err


@dataclass(frozen=True)
class Selector:
    """An ignore rule's ``target``: each field set must match (regular expressions anchored at both ends)."""

    group: re.Pattern[str] | None = None
    version: re.Pattern[str] | None = None
    kind: re.Pattern[str] | None = None
    name: re.Pattern[str] | None = None
    namespace: re.Pattern[str] | None = None
    labels: tuple[Requirement, ...] | None = None
    annotations: tuple[Requirement, ...] | None = None

    @classmethod
    def parse(cls, target: Mapping[str, Any]) -> Selector:
        label_selector = str(target.get("labelSelector") or "")
        annotation_selector = str(target.get("annotationSelector") or "")
        return cls(group=_anchored(str(target.get("group") or ""), "group"),
                   version=_anchored(str(target.get("version") or ""), "version"),
                   kind=_anchored(str(target.get("kind") or ""), "kind"),
                   name=_anchored(str(target.get("name") or ""), "name"),
                   namespace=_anchored(str(target.get("namespace") or ""), "namespace"),
                   labels=parse_selector(label_selector) if label_selector else None,
                   annotations=parse_selector(annotation_selector) if annotation_selector else None)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        checks = ((self.namespace, str(meta.get("namespace") or "")), (self.name, str(meta.get("name") or "")),
                  (self.group, group), (self.version, version), (self.kind, str(obj.get("kind", ""))))
        if any(pattern is not None and not pattern.match(value) for pattern, value in checks):
            return False
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        return (all(r.matches(labels) for r in self.labels or ())
                and all(r.matches(annotations) for r in self.annotations or ()))


@dataclass(frozen=True)
class IgnoreRule:
    paths: tuple[str, ...]
    target: Selector | None = None

    def applies_to(self, obj: Mapping[str, Any]) -> bool:
        return self.target is None or self.target.matches(obj)


@dataclass(frozen=True)
class IgnoreRules:
    rules: tuple[IgnoreRule, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, raw: Sequence[Mapping[str, Any]] | None, *, where: str = "ignore") -> IgnoreRules:
        """``driftDetection.ignore`` (or a Kustomization's ``ignore``) as rules; raises InputError naming the
        rule when a path or selector cannot be read."""
        rules = []
        for index, rule in enumerate(raw or []):
            try:
                paths = tuple(str(p) for p in rule.get("paths") or [])
                for path in paths:
                    tokens(path)
                target = rule.get("target")
                rules.append(IgnoreRule(paths, Selector.parse(target) if target else None))
            except InputError as err:
                raise InputError(f"{where}[{index}]: {err}") from err
        return cls(tuple(rules))

    def paths_for(self, obj: Mapping[str, Any]) -> list[str]:
        """The pointers to ignore on ``obj`` (``""`` means the whole object)."""
        return [path for rule in self.rules if rule.applies_to(obj) for path in rule.paths]


# --- masking -----------------------------------------------------------------------------------------------

MASK = "***"
MASK_BEFORE = "*** (before)"
MASK_AFTER = "*** (after)"


def mask_secret_patch(patch: list[Operation]) -> list[Operation]:
    """A Secret's patch with data values masked, as fluxcd/pkg/ssa/jsondiff's MaskSecretPatchData."""
    masked = []
    for op in patch:
        both = op.value is not _MISSING and op.old is not _MISSING and op.op == REPLACE
        if op.path in ("/data", "/stringData"):
            old, new = mask_data(op.old if isinstance(op.old, dict) else {},
                                 op.value if isinstance(op.value, dict) else {})
            masked.append(Operation(op.op, op.path, new if op.value is not _MISSING else _MISSING,
                                    old if op.old is not _MISSING else _MISSING))
        elif op.path.startswith(("/data/", "/stringData/")):
            masked.append(Operation(op.op, op.path,
                                    (MASK_AFTER if both else MASK) if op.value is not _MISSING else _MISSING,
                                    (MASK_BEFORE if both else MASK) if op.old is not _MISSING else _MISSING))
        else:
            masked.append(op)
    return masked


def mask_data(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> tuple[dict[str, str],
                                                                                           dict[str, str]]:
    """Both sides of a Secret's ``data`` with every value masked, changed keys told apart (``*** (before)`` /
    ``*** (after)``) as fluxcd/pkg/ssa's SanitizeUnstructuredData does."""
    old, new = dict(before or {}), dict(after or {})
    masked_old = {k: (MASK_BEFORE if k in new and new[k] != v else MASK) for k, v in old.items()}
    masked_new = {k: (MASK_AFTER if k in old and old[k] != v else MASK) for k, v in new.items()}
    return masked_old, masked_new
