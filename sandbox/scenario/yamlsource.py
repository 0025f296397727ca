"""Load YAML and remember where each value came from, so that validation errors can name the file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import InputError

Path_ = tuple[str | int, ...]  # a location inside the document: ("steps", 3, "wait", "timeout")


def format_path(path: Path_) -> str:
    """``steps[3].wait.timeout``: how a field is named in messages."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


@dataclass(frozen=True)
class Located:
    """A parsed document and the line (1-based) of every mapping key and sequence item in it."""

    file: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicates: tuple[tuple[Path_, int], ...] = ()  # keys given twice in one mapping, with the second one's line

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest located parent (1 for the document itself)."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)

    def where(self, path: Path_) -> str:
        return f"{self.file}:{self.line_of(path)}"


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], duplicates: list[tuple[Path_, int]]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                duplicates.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            # The key's own line names the field better than its value's (a block value starts below it).
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, duplicates)


def parse(text: str, file: Path) -> Located:
    """Parse one YAML document; a syntax error is an InputError naming the file and line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        # Where the construct began (an unclosed bracket) helps more than where the parser gave up.
        problem = err.problem_mark.line + 1 if err.problem_mark is not None else None
        context = err.context_mark.line + 1 if err.context_mark is not None else None
        line = context or problem or 1
        detail = f"{err.context} at line {context}: " if err.context and context else ""
        detail += f"{err.problem or err}" + (f" (line {problem})" if problem and problem != line else "")
        raise InputError(f"{file}:{line}: not valid YAML: {detail}") from err
    except yaml.YAMLError as err:
        raise InputError(f"{file}: not valid YAML: {err}") from err
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    duplicates: list[tuple[Path_, int]] = []
    if node is not None:
        _walk(node, (), lines, duplicates)
    return Located(file, data, lines, tuple(duplicates))


def load(file: Path) -> Located:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InputError(f"{file} does not exist") from err
    except UnicodeDecodeError as err:
        raise InputError(f"{file} is not UTF-8 text") from err
    return parse(text, file)
