"""The part of kubectl's JSONPath that expectations need: fields, quoted or escaped keys, indexes, wildcards and
equality filters — ``{.status.conditions[?(@.type=="Ready")].status}``, ``.metadata.labels['app.kubernetes.io/name']``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox.errors import InputError


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Filter:
    path: tuple[str, ...]
    negate: bool
    value: Any


Segment = Field | Index | Wildcard | Filter

_NAME = re.compile(r"(?:\\.|[^.\[\]\\])+")
_FILTER = re.compile(r"\?\(@((?:\.[A-Za-z0-9_-]+)+)\s*(==|!=)\s*(.+?)\s*\)")


def _literal(text: str, expression: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise InputError(f"jsonpath {expression!r}: filter value {text!r} is not a quoted string, number or "
                         "boolean") from None


def parse(expression: str) -> tuple[Segment, ...]:
    """Parse ``expression``; an InputError names what is wrong with it."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    if not text or text == ".":
        return ()
    segments: list[Segment] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == ".":
            position += 1
            if text.startswith("*", position):
                segments.append(Wildcard())
                position += 1
                continue
            match = _NAME.match(text, position)
            if not match:
                raise InputError(f"jsonpath {expression!r}: expected a field name at position {position}")
            segments.append(Field(re.sub(r"\\(.)", r"\1", match.group(0))))
            position = match.end()
        elif char == "[":
            end = _closing_bracket(text, position, expression)
            inner = text[position + 1:end].strip()
            position = end + 1
            if inner == "*":
                segments.append(Wildcard())
            elif len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
                segments.append(Field(inner[1:-1]))
            elif re.fullmatch(r"-?\d+", inner):
                segments.append(Index(int(inner)))
            else:
                filter_match = _FILTER.fullmatch(inner)
                if not filter_match:
                    raise InputError(f"jsonpath {expression!r}: [{inner}] is not an index, 'key', * or a filter "
                                     "like ?(@.type==\"Ready\")")
                path = tuple(filter_match.group(1).strip(".").split("."))
                segments.append(Filter(path, filter_match.group(2) == "!=",
                                       _literal(filter_match.group(3), expression)))
        elif not segments and position == 0:
            text = "." + text  # "status.phase" means ".status.phase"
        else:
            raise InputError(f"jsonpath {expression!r}: unexpected {char!r} at position {position}")
    return tuple(segments)


def _closing_bracket(text: str, start: int, expression: str) -> int:
    quote = ""
    for index in range(start + 1, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "]":
            return index
    raise InputError(f"jsonpath {expression!r}: '[' at position {start} is never closed")


def _get(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(value, dict) or name not in value:
            return _MISSING
        value = value[name]
    return value


_MISSING = object()


def _same(left: Any, right: Any) -> bool:
    return bool(left == right) or (not isinstance(left, dict | list) and not isinstance(right, dict | list)
                                   and render(left) == render(right))


def find(document: Any, segments: tuple[Segment, ...]) -> list[Any]:
    """Every value ``segments`` select in ``document`` (empty when nothing matches)."""
    current = [document]
    for segment in segments:
        selected: list[Any] = []
        for value in current:
            if isinstance(segment, Field):
                if isinstance(value, dict) and segment.name in value:
                    selected.append(value[segment.name])
            elif isinstance(segment, Index):
                if isinstance(value, list) and -len(value) <= segment.index < len(value):
                    selected.append(value[segment.index])
            elif isinstance(segment, Wildcard):
                if isinstance(value, dict):
                    selected.extend(value.values())
                elif isinstance(value, list):
                    selected.extend(value)
            else:
                items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
                for item in items:
                    found = _get(item, segment.path)
                    matches = found is not _MISSING and _same(found, segment.value)
                    if matches != segment.negate:
                        selected.append(item)
        current = selected
    return current


def render(value: Any) -> str:
    """A value as kubectl's jsonpath prints it: strings bare, booleans lowercase, the rest as JSON."""
    import json

    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return json.dumps(value, sort_keys=True)


def same(actual: Any, expected: Any) -> bool:
    """Equal, or equal as kubectl would print them (``2`` and ``"2"``, ``true`` and ``"true"``)."""
    return _same(actual, expected)
