"""A small vocabulary for writing OpenAPI v3 schemas of custom resources, so each kind's schema reads like its spec.

Every builder returns a plain ``dict`` (a ``JSONSchemaProps`` as the apiserver takes it). Only keywords that a
Kubernetes 1.20 apiserver accepts in a structural schema are emitted: no CEL (``x-kubernetes-validations``
arrived in 1.23), so cross-field rules are left to the controllers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

# The Go duration strings Flux accepts for intervals and timeouts ("1m30s", "500ms", "1.5h").
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
# Timeouts are bounded below an hour, so "h" is not allowed there.
TIMEOUT_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"


@dataclass(frozen=True)
class Required:
    """Marks a property of an ``obj`` as required; ``obj`` unwraps it."""

    schema: Schema


def required(schema: Schema) -> Required:
    return Required(schema)


def _with(schema: Schema, doc: str, **keywords: Any) -> Schema:
    if doc:
        schema["description"] = doc
    for key, value in keywords.items():
        if value is not None:
            schema[key] = value
    return schema


def string(doc: str = "", *, enum: list[str] | None = None, pattern: str | None = None, default: str | None = None,
           format: str | None = None, min_length: int | None = None, max_length: int | None = None) -> Schema:
    return _with({"type": "string"}, doc, enum=enum, pattern=pattern, default=default, format=format,
                 minLength=min_length, maxLength=max_length)


def timestamp(doc: str = "") -> Schema:
    """An RFC 3339 time, as Kubernetes writes ``metav1.Time``."""
    return string(doc, format="date-time")


def duration(doc: str = "", *, default: str | None = None) -> Schema:
    return string(doc, pattern=DURATION_PATTERN, default=default)


def timeout(doc: str = "", *, default: str | None = None) -> Schema:
    return string(doc, pattern=TIMEOUT_PATTERN, default=default)


def integer(doc: str = "", *, format: str | None = None, minimum: int | None = None,
            default: int | None = None) -> Schema:
    return _with({"type": "integer"}, doc, format=format, minimum=minimum, default=default)


def int64(doc: str = "", *, minimum: int | None = None) -> Schema:
    return integer(doc, format="int64", minimum=minimum)


def boolean(doc: str = "", *, default: bool | None = None) -> Schema:
    return _with({"type": "boolean"}, doc, default=default)


def array(items: Schema, doc: str = "", *, default: list[Any] | None = None, min_items: int | None = None,
          max_items: int | None = None, list_type: str | None = None,
          list_map_keys: list[str] | None = None) -> Schema:
    return _with({"type": "array", "items": items}, doc, default=default, minItems=min_items, maxItems=max_items,
                 **{"x-kubernetes-list-type": list_type, "x-kubernetes-list-map-keys": list_map_keys})


def strings(doc: str = "", **keywords: Any) -> Schema:
    """A list of plain strings."""
    return array(string(), doc, **keywords)


def obj(doc: str = "", *, default: dict[str, Any] | None = None, map_type: str | None = None,
        **properties: Schema | Required) -> Schema:
    """An object with the named properties; wrap a property in ``required(...)`` to require it."""
    return object_of(doc, properties, default=default, map_type=map_type)


def object_of(doc: str, properties: Mapping[str, Schema | Required], *, default: dict[str, Any] | None = None,
              map_type: str | None = None) -> Schema:
    """``obj`` with the properties given as a mapping (for names computed at run time)."""
    schema: Schema = {"type": "object"}
    _with(schema, doc, default=default, **{"x-kubernetes-map-type": map_type})
    if properties:
        schema["properties"] = {name: (value.schema if isinstance(value, Required) else value)
                                for name, value in properties.items()}
        names = [name for name, value in properties.items() if isinstance(value, Required)]
        if names:
            schema["required"] = names
    return schema


def map_of(values: Schema, doc: str = "") -> Schema:
    """An object with free-form keys and values of one schema (a Go ``map[string]T``)."""
    return _with({"type": "object", "additionalProperties": values}, doc)


def string_map(doc: str = "") -> Schema:
    """A ``map[string]string``, e.g. labels or annotations."""
    return map_of(string(), doc)


def free_form(doc: str = "") -> Schema:
    """Any JSON value kept as written (e.g. Helm values): the only place unknown fields survive pruning."""
    return _with({"x-kubernetes-preserve-unknown-fields": True}, doc)


# Every keyword the builders above can emit; a unit test keeps this honest against the 1.20 structural rules.
KEYWORDS = frozenset({
    "type", "description", "properties", "required", "items", "additionalProperties", "enum", "pattern", "default",
    "format", "minLength", "maxLength", "minimum", "minItems", "maxItems", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-preserve-unknown-fields",
})
