"""The Setters update strategy: set every YAML scalar marked ``# {"$imagepolicy": "<ns>:<policy>[:tag|:name|:digest]"}``
to what the policy chose, as image-automation-controller's kyaml setters do — but token-exact.

Each marked scalar is located with ruamel.yaml's composer (exact start and end offsets, its quoting style), and only
its text is replaced; comments, quoting, indentation, line endings and every other byte of the file stay as they
were. Block scalars (``|``, ``>``) are never touched: a marker inside one is text, not a comment.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sandbox.errors import InputError
from sandbox.reconciler.image.automation.result import Change, ObjectIdentifier, Result

SHORTHAND = "$imagepolicy"
TOKEN = f'"{SHORTHAND}"'  # only files containing it are parsed (upstream's ScreeningLocalReader)
_FIELDS = ("tag", "name", "digest")


@dataclass(frozen=True)
class ImageRef:
    """An ImagePolicy's ``status.latestRef``."""

    name: str
    tag: str
    digest: str = ""

    def __str__(self) -> str:
        # image-reflector-controller's ImageRef.String(): name:tag, with @digest when reflected
        return f"{self.name}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    latest: ImageRef | None


def setter_values(policies: list[Policy]) -> dict[str, str]:
    """Setter name → value for every policy with a ``latestRef`` (the others are skipped, as upstream does):
    ``ns:name`` the full reference, ``ns:name:tag|name|digest`` its parts."""
    values: dict[str, str] = {}
    for policy in policies:
        if policy.latest is None:
            continue
        base = f"{policy.namespace}:{policy.name}"
        values[base] = str(policy.latest)
        values[f"{base}:tag"] = policy.latest.tag
        values[f"{base}:name"] = policy.latest.name
        values[f"{base}:digest"] = policy.latest.digest
    return values


# --- the value as YAML text ----------------------------------------------------------------------------------

# What go-yaml v2 reads as something other than a string (kyaml's IsYaml1_1NonString asks it): such a value set
# on a plain scalar is double-quoted, so that it stays a string.
_NON_STRING_WORDS = frozenset((
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", ".inf", ".Inf", ".INF", "+.inf", "+.Inf",
    "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<"))
_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_PROPERTY = re.compile(r"\S+\s+")  # an anchor or tag before a scalar
_PLAIN_FIRST = re.compile(r"[A-Za-z0-9_./$~(<=^+]")


def is_non_string(value: str) -> bool:
    if value == "" or "\n" in value:
        return False
    if value in _NON_STRING_WORDS:
        return True
    bare = value.replace("_", "")
    return bool(_INT.fullmatch(bare) or _FLOAT.fullmatch(value))


def _plain_safe(value: str) -> bool:
    """Whether ``value`` can be written as a plain scalar in block and flow context alike."""
    if not value or value != value.strip() or not _PLAIN_FIRST.match(value):
        return False
    if any(ch in value for ch in ",[]{}\n\r\t") or ": " in value or " #" in value or value.endswith(":"):
        return False
    return not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)


def render_scalar(value: str, style: str | None) -> str:
    """``value`` as YAML scalar text in the original ``style`` (None plain, ``'`` or ``"``); a plain scalar that
    would read as another type, or cannot be plain, is double-quoted."""
    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style is None and _plain_safe(value) and not is_non_string(value):
        return value
    return json.dumps(value, ensure_ascii=False)  # JSON strings are YAML double-quoted scalars


# --- one file ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str
    obj: ObjectIdentifier | None  # None: a document without apiVersion, kind or metadata (not in the result)
    change: Change


def marker(comment: str) -> str | None:
    """The setter a trailing comment names (``# {"$imagepolicy": "ns:p"}``), as kyaml reads it: the text after the
    leading ``#``s must be a JSON object of strings."""
    try:
        data = json.loads(comment.lstrip("#"))
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return None
    name = data.get(SHORTHAND)
    return name or None


def _trailing_comment(text: str, end: int) -> str | None:
    """The comment following a scalar ending at ``end`` on the same line, or None."""
    line_end = text.find("\n", end)
    rest = text[end:] if line_end < 0 else text[end:line_end]
    stripped = rest.rstrip("\r").lstrip(" \t")
    if not stripped.startswith("#") or (rest[:1] not in (" ", "\t")):
        return None  # YAML needs whitespace before a comment
    return stripped


def _value_start(text: str, node: ScalarNode) -> int:
    """Where the scalar's own text starts: after its anchor (``&a``) and tag (``!!str``), if any."""
    start = int(node.start_mark.index)
    while text[start:start + 1] in ("&", "!"):
        match = _PROPERTY.match(text, start)
        if match is None:
            break
        start = match.end()
    return start


def _scalars(node: Node, seen: set[int]) -> Iterator[ScalarNode]:
    """Every value scalar under ``node`` (mapping values and sequence items; not keys), each once."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, ScalarNode):
        yield node
    elif isinstance(node, MappingNode):
        for _key, value in node.value:
            yield from _scalars(value, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _scalars(item, seen)


def _scalar_value(node: MappingNode, key: str) -> tuple[bool, str]:
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return True, str(v.value) if isinstance(v, ScalarNode) else ""
    return False, ""


def object_identifier(root: Node) -> ObjectIdentifier | None:
    """apiVersion, kind, metadata.name and .namespace of a document; None when it has none of apiVersion, kind
    and metadata (kyaml's GetMeta fails then, and upstream leaves the change out of its result)."""
    if not isinstance(root, MappingNode):
        return None
    has_api, api_version = _scalar_value(root, "apiVersion")
    has_kind, kind = _scalar_value(root, "kind")
    metadata = next((v for k, v in root.value if isinstance(k, ScalarNode) and k.value == "metadata"), None)
    if not (has_api or has_kind or metadata is not None):
        return None
    name = namespace = ""
    if isinstance(metadata, MappingNode):
        name = _scalar_value(metadata, "name")[1]
        namespace = _scalar_value(metadata, "namespace")[1]
    return ObjectIdentifier(api_version, kind, name, namespace)


def _roots(text: str) -> list[Node]:
    """The documents' root nodes: libyaml's composer first (several times faster), ruamel's pure one when libyaml
    refuses what YAML 1.2 allows (``[registry:5000/app:v1]`` in a flow sequence) or is not installed."""
    try:
        return list(YAML(typ="safe", pure=False).compose_all(text))
    except YAMLError:
        return list(YAML(typ="safe", pure=True).compose_all(text))


def edits_for(text: str, setters: Mapping[str, str]) -> list[Edit]:
    """The replacements the markers in ``text`` ask for (only those that change a value), in file order.
    Raises ruamel's YAMLError when ``text`` is not YAML."""
    edits = []
    for root in _roots(text):
        if root is None:
            continue
        obj = object_identifier(root)
        for scalar in _scalars(root, set()):
            if scalar.style in ("|", ">") or scalar.start_mark.index == scalar.end_mark.index:
                continue
            comment = _trailing_comment(text, scalar.end_mark.index)
            name = marker(comment) if comment else None
            if name is None or name not in setters:
                continue
            new = setters[name]
            if new == scalar.value:
                continue
            start = _value_start(text, scalar)
            edits.append(Edit(start, scalar.end_mark.index, render_scalar(new, scalar.style or None), obj,
                              Change(str(scalar.value), new, name)))
    return sorted(edits, key=lambda e: e.start)


def apply_edits(text: str, edits: list[Edit]) -> str:
    parts, position = [], 0
    for edit in edits:
        parts += [text[position:edit.start], edit.text]
        position = edit.end
    parts.append(text[position:])
    return "".join(parts)


def update_text(text: str, setters: Mapping[str, str]) -> tuple[str, list[Edit]]:
    """``text`` with every marked scalar set; and the edits made."""
    edits = edits_for(text, setters)
    return apply_edits(text, edits), edits


# --- a directory tree ----------------------------------------------------------------------------------------

@dataclass
class TreeUpdate:
    result: Result = field(default_factory=Result)
    written: list[str] = field(default_factory=list)  # files changed, relative to the update path
    problems: list[str] = field(default_factory=list)  # files with the token that are not YAML (skipped)


class UpdatePathError(InputError):
    """``spec.update.path`` does not name a directory inside the checkout."""


def update_root(checkout: Path, path: str | None) -> Path:
    """``spec.update.path`` inside ``checkout`` (``..`` cannot climb above it, as securejoin's), which must exist."""
    relative = posixpath.normpath("/" + (path or "").replace("\\", "/")).lstrip("/")
    target = checkout / relative if relative else checkout
    resolved, base = target.resolve(), checkout.resolve()
    if resolved != base and base not in resolved.parents:
        raise UpdatePathError(f"update path '{path}' leaves the repository (through a symlink)")
    if not resolved.exists():
        raise UpdatePathError(f"walking path for files: lstat {path}: no such file or directory")
    return resolved


def candidate_files(root: Path) -> Iterator[Path]:
    """The files upstream considers: ``*.yaml``, ``*.yml`` and files named ``Kustomization``, anywhere under
    ``root`` (hidden directories too, but not ``.git``), in lexical order as Go's filepath.Walk; symlinked
    directories are not followed, symlinked files only when they stay inside ``root``."""
    if root.is_file():
        yield root
        return
    base = root.resolve()

    def walk(directory: Path) -> Iterator[Path]:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    yield from walk(path)
                continue
            if not (entry.name.endswith((".yaml", ".yml")) or entry.name == "Kustomization"):
                continue
            if entry.is_symlink():
                target = path.resolve()
                if base not in target.parents or not target.is_file():
                    continue
            yield path

    yield from walk(root)


def update_tree(root: Path, setters: Mapping[str, str]) -> TreeUpdate:
    """Set the marked values in every candidate file under ``root``, writing only the files that change."""
    update = TreeUpdate()
    if not setters:
        return update
    token = TOKEN.encode()
    relative_to = root if root.is_dir() else root.parent
    for path in candidate_files(root):
        raw = path.read_bytes()
        if token not in raw:
            continue
        rel = path.relative_to(relative_to).as_posix()
        bom = raw.startswith(b"\xef\xbb\xbf")
        try:
            text = raw[3 if bom else 0:].decode("utf-8")
            new_text, edits = update_text(text, setters)
        except (UnicodeDecodeError, YAMLError):
            update.problems.append(rel)
            continue
        if not edits:
            continue
        for edit in edits:
            if edit.obj is not None:
                update.result.add(rel, edit.obj, edit.change)
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + new_text.encode("utf-8"))
        update.written.append(rel)
    return update


def parse_policy(obj: Mapping[str, Any]) -> Policy:
    """An ImagePolicy object as the setters need it."""
    meta = obj.get("metadata") or {}
    latest = (obj.get("status") or {}).get("latestRef")
    ref = (ImageRef(str(latest.get("name", "")), str(latest.get("tag", "")), str(latest.get("digest") or ""))
           if isinstance(latest, Mapping) and latest.get("name") else None)
    return Policy(str(meta.get("namespace", "")), str(meta.get("name", "")), ref)
