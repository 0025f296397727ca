"""The YAML dialect of the pipeline: how kustomize output is split and parsed, how objects are recognised and named."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

Obj = dict[str, Any]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"

# YAML 1.1 as Kubernetes' own YAML-to-JSON conversion reads it, minus two PyYAML extras that would turn
# strings into other types: timestamps (the API has no timestamp type, `date: 2024-01-01` stays a string)
# and base-60 numbers (`time: 10:30` stays a string instead of becoming 630).
_INT_RE = re.compile(r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""", re.X)
_FLOAT_RE = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


class Loader(yaml.CSafeLoader):
    """Safe loader (libyaml) with the resolvers described above."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TIMESTAMP, _INT, _FLOAT)]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))
Loader.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+0123456789."))

_SEPARATOR = re.compile(r"^---[ \t]*$", re.M)


@dataclass(frozen=True)
class Manifest:
    """One object of a build: its YAML text as kustomize printed it (substitution works on this text, so
    quoting such as ``"${port}"`` survives) and the object parsed from it."""

    text: str
    obj: Obj

    @property
    def subject(self) -> str:
        return subject(self.obj)


def load(text: str) -> Any:
    """Parse one YAML document with the pipeline's dialect."""
    return yaml.load(text, Loader=Loader)  # a safe loader (CSafeLoader subclass)


def load_all(text: str) -> Iterator[Any]:
    """Parse every document of a multi-document stream."""
    return yaml.load_all(text, Loader=Loader)  # a safe loader (CSafeLoader subclass)


def dump(data: Any) -> str:
    """Serialise for files the pipeline writes (kustomization files): keys kept in order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def split_documents(text: str) -> list[str]:
    """Split a multi-document stream on ``---`` lines, dropping empty documents."""
    return [doc for doc in _SEPARATOR.split(text) if doc.strip()]


def api_group(api_version: str) -> str:
    """The group of an apiVersion; the core group is the empty string."""
    return api_version.rpartition("/")[0]


def api_version_of(obj: Obj) -> str:
    value = obj.get("apiVersion")
    return value if isinstance(value, str) else ""


def metadata(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def string_map(obj: Obj, field: str) -> dict[str, str]:
    """``metadata.labels`` or ``metadata.annotations`` as a dict (empty when absent or malformed)."""
    value = metadata(obj).get(field)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def object_problem(document: Any) -> str:
    """What keeps a parsed YAML document from being a Kubernetes object (a ``…List`` is checked item by item),
    or the empty string when it is one."""
    if not isinstance(document, dict):
        return f"expected a Kubernetes object, found a YAML {type(document).__name__}"
    kind = document.get("kind")
    if not document.get("apiVersion") or not kind:
        return "missing apiVersion or kind"
    items = document.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for item in items:
            if problem := object_problem(item):
                return f"an item of the {kind}: {problem}"
        return ""
    if not metadata(document).get("name"):
        return f"a {kind} without metadata.name"
    return ""


def subject(obj: Obj) -> str:
    """``Kind/namespace/name``, or ``Kind/name`` for cluster-scoped objects: how Flux names objects in
    events and messages."""
    meta = metadata(obj)
    kind = str(obj.get("kind", ""))
    name = str(meta.get("name", ""))
    namespace = meta.get("namespace")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
