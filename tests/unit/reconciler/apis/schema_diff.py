"""Compare two CRD schemas field by field: which paths one declares that the other lacks, and how they differ."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]

# Keywords that decide what a field *is*: a difference means a value valid for one is invalid for the other.
TYPE_KEYWORDS = ("type", "format", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string")
# Keywords that constrain or default a value; they must match so the same YAML is accepted and stored the same.
VALIDATION_KEYWORDS = ("pattern", "default", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems",
                       "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type")


def fields(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every node of ``schema`` with its path: ``.spec.ref.branch``, ``[]`` for list items, ``{}`` for map values."""
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from fields(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from fields(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from fields(schema["additionalProperties"], f"{path}{{}}")


@dataclass
class Report:
    not_in_reference: list[str] = field(default_factory=list)
    type_mismatches: list[str] = field(default_factory=list)
    enum_mismatches: list[str] = field(default_factory=list)
    validation_mismatches: list[str] = field(default_factory=list)
    missing_from_ours: list[str] = field(default_factory=list)


def compare(ours: Schema, reference: Schema) -> Report:
    report = Report()
    theirs = dict(fields(reference))
    mine = dict(fields(ours))
    for path, node in mine.items():
        where = path or "(root)"
        other = theirs.get(path)
        if other is None:
            report.not_in_reference.append(where)
            continue
        for keyword in TYPE_KEYWORDS:
            if node.get(keyword) != other.get(keyword):
                report.type_mismatches.append(f"{where}: {keyword} {node.get(keyword)!r}, "
                                              f"reference {other.get(keyword)!r}")
        if "enum" in node:
            extra = [value for value in node["enum"] if value not in other.get("enum", [])]
            if extra:
                report.enum_mismatches.append(f"{where}: enum values {extra} not in the reference")
        for keyword in VALIDATION_KEYWORDS:
            if node.get(keyword) != other.get(keyword):
                report.validation_mismatches.append(f"{where}: {keyword} {node.get(keyword)!r}, "
                                                    f"reference {other.get(keyword)!r}")
        if set(node.get("required", [])) != set(other.get("required", [])):
            report.validation_mismatches.append(f"{where}: required {sorted(node.get('required', []))}, "
                                                f"reference {sorted(other.get('required', []))}")
    report.missing_from_ours = [path for path in theirs if path not in mine]
    return report
