"""The copy operations of an ArtifactGenerator's output artifact, with source-watcher's semantics: ``from`` is
``@<alias>/<glob or path>`` in a source's extracted artifact, ``to`` is ``@artifact/<path>`` in the artifact being
staged, and files are copied as ``cp`` would.

- A path without glob characters is copied as ``cp -r``: a directory lands *inside* the destination
  (``@repo/deploy`` to ``@artifact/`` gives ``deploy/…``), a file lands at the destination, or inside it when ``to``
  ends with ``/`` or names a directory already staged.
- A glob is matched one path segment per pattern segment, as Go's ``fs.Glob`` does (so ``**`` matches like ``*``:
  one segment). A pattern ending in ``/**`` copies what it matches relative to the directory before ``/**``
  (``@repo/apps/**`` to ``@artifact/`` gives the *contents* of ``apps``); any other glob keeps each match's full
  path under the destination. A matched directory is copied whole.
- ``exclude`` patterns (doublestar: ``**`` spans segments) are matched against each glob match's path, and, inside
  a copied directory, against paths relative to it; a pattern without ``/`` also matches the file name at any depth.
- Strategy ``Overwrite`` (the default) replaces a file already staged; ``Merge`` merges a YAML file matched by
  itself into the staged one (maps deeply, the new values winning, as Helm merges values files).
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import InputError

OVERWRITE = "Overwrite"
MERGE = "Merge"
GLOB_CHARACTERS = "*?[]"


class CopyError(InputError):
    """A copy operation that cannot be applied: a bad pattern, an unknown alias, nothing matched."""


@dataclass(frozen=True)
class CopyOperation:
    """One ``spec.artifacts[].copy[]`` entry, parsed."""

    source_text: str  # ``from`` as written
    destination_text: str  # ``to`` as written
    alias: str
    pattern: str  # relative to the source's root
    destination: str  # relative to the artifact's root ("" for the root)
    exclude: tuple[str, ...] = ()
    strategy: str = OVERWRITE

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> CopyOperation:
        source, destination = str(raw.get("from", "")), str(raw.get("to", ""))
        if not source.startswith("@"):
            raise CopyError(f"invalid copy source '{source}': source must start with '@'")
        alias, slash, pattern = source[1:].partition("/")
        if not slash:
            raise CopyError(f"invalid copy source '{source}': source format must be '@alias/pattern'")
        if not destination.startswith("@artifact/"):
            raise CopyError(f"invalid copy destination '{destination}': destination must start with '@artifact/'")
        return cls(source, destination, alias, pattern, destination[len("@artifact/"):],
                   tuple(str(p) for p in raw.get("exclude") or ()), str(raw.get("strategy") or OVERWRITE))

    @property
    def to_directory(self) -> bool:
        return self.destination_text.endswith("/")


def apply_copies(operations: Sequence[CopyOperation], sources: Mapping[str, Path], staging: Path) -> None:
    """Apply ``operations`` in order, from the extracted ``sources`` (by alias) into ``staging``."""
    for operation in operations:
        try:
            apply_copy(operation, sources, staging)
        except CopyError as err:
            raise CopyError(f"failed to apply copy operation from '{operation.source_text}' to "
                            f"'{operation.destination_text}': {err}") from err


def apply_copy(operation: CopyOperation, sources: Mapping[str, Path], staging: Path) -> None:
    if operation.alias not in sources:
        raise CopyError(f"source alias '{operation.alias}' not found")
    for pattern in operation.exclude:
        _doublestar_regex(pattern)  # raises on a malformed pattern
    root = sources[operation.alias]
    if not any(char in operation.pattern for char in GLOB_CHARACTERS):
        _copy_single(operation, root, staging)
        return
    matches = [match for match in glob(root, operation.pattern) if match not in (".", "..")]
    if not matches:
        raise CopyError(f"no files match pattern '{operation.pattern}' in source '{operation.alias}'")
    kept = [match for match in matches if not excluded(match, operation.exclude)]
    if not kept:
        raise CopyError(f"all files matching pattern '{operation.pattern}' in source '{operation.alias}' "
                        "were excluded")
    for match in kept:
        _copy_path(operation, root, match, staging, glob_destination(operation.pattern, match,
                                                                      operation.destination))


def glob_destination(pattern: str, match: str, destination: str) -> str:
    """Where a glob match goes: relative to the directory before a trailing ``/**``, else its whole path."""
    if pattern.endswith("/**"):
        prefix = pattern[: -len("/**")] + "/"
        if match.startswith(prefix):
            return _join(destination, match[len(prefix):])
    return _join(destination, match)


def _copy_single(operation: CopyOperation, root: Path, staging: Path) -> None:
    path = posixpath.normpath(operation.pattern or ".")
    full = _inside(root, path, "source")
    if not full.exists():
        raise CopyError(f"source '{path}' does not exist")
    if full.is_dir():
        _copy_directory(operation, root, path, staging, _join(operation.destination, posixpath.basename(path)))
        return
    if excluded(path, operation.exclude):
        return
    target = operation.destination
    if operation.to_directory or (target and _inside(staging, target, "destination").is_dir()):
        target = _join(target, posixpath.basename(path))
    _copy_path(operation, root, path, staging, target)


def _copy_path(operation: CopyOperation, root: Path, path: str, staging: Path, target: str) -> None:
    full = _inside(root, path, "source")
    if full.is_dir():
        _copy_directory(operation, root, path, staging, target)
        return
    destination = _inside(staging, target, "destination")
    if operation.strategy == MERGE and destination.is_file():
        _merge_yaml(full, destination)
        return
    _copy_file(full, destination)


def _copy_directory(operation: CopyOperation, root: Path, path: str, staging: Path, target: str) -> None:
    """``cp -r`` of ``path`` as ``target``, leaving out what the exclude patterns match (relative to ``path``)."""
    source = _inside(root, path, "source")
    _inside(staging, target, "destination").mkdir(parents=True, exist_ok=True)
    for directory, subdirectories, files in os.walk(source):
        relative_dir = Path(directory).relative_to(source).as_posix()
        kept_dirs = []
        for name in sorted(subdirectories):
            relative = _join(relative_dir, name)
            if not excluded(relative, operation.exclude):
                kept_dirs.append(name)
                _inside(staging, _join(target, relative), "destination").mkdir(parents=True, exist_ok=True)
        subdirectories[:] = kept_dirs
        for name in sorted(files):
            relative = _join(relative_dir, name)
            if not excluded(relative, operation.exclude):
                _copy_file(_inside(root, _join(path, relative), "source"),
                           _inside(staging, _join(target, relative), "destination"))


def _copy_file(source: Path, destination: Path) -> None:
    if destination.is_dir():
        raise CopyError(f"cannot overwrite directory '{destination.name}' with a file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    destination.chmod(source.stat().st_mode & 0o777)


def _merge_yaml(source: Path, destination: Path) -> None:
    try:
        incoming = yaml.safe_load(source.read_text()) or {}
        existing = yaml.safe_load(destination.read_text()) or {}
    except yaml.YAMLError as err:
        raise CopyError(f"failed to merge YAML into '{destination.name}': {err}") from err
    if not isinstance(incoming, dict) or not isinstance(existing, dict):
        raise CopyError(f"failed to merge YAML into '{destination.name}': both files must hold a mapping")
    destination.write_text(yaml.safe_dump(merge_values(existing, incoming), sort_keys=True))


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of values: maps merge key by key, anything else in ``override`` replaces ``base``'s."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def _join(*parts: str) -> str:
    joined = posixpath.normpath(posixpath.join(*[p for p in parts if p]) or ".")
    return "" if joined == "." else joined


def _inside(root: Path, relative: str, what: str) -> Path:
    """``root/relative``, refusing a path (or a symlink) that leads outside ``root``."""
    full = (root / relative) if relative else root
    resolved = full.resolve()
    base = root.resolve()
    if resolved != base and base not in resolved.parents:
        raise CopyError(f"{what} path '{relative}' leads outside the {what} root")
    return full


# --- matching ---------------------------------------------------------------------------------------------------

def glob(root: Path, pattern: str) -> list[str]:
    """Paths under ``root`` matching ``pattern`` one segment per segment (Go's ``fs.Glob``), in lexical order."""
    found = [""]
    for segment in pattern.split("/"):
        if segment == "":
            continue
        following = []
        for parent in found:
            directory = root / parent if parent else root
            if not directory.is_dir():
                continue
            if any(char in segment for char in GLOB_CHARACTERS):
                following += [_join(parent, entry.name) for entry in sorted(directory.iterdir(), key=lambda e: e.name)
                              if segment_match(segment, entry.name)]
            elif (directory / segment).exists():
                following.append(_join(parent, segment))
        found = following
    return [match for match in found if match]


def segment_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match`` for one segment: ``*``, ``?``, ``[…]`` (``^`` negates) and ``\\`` escapes."""
    return _segment_regex(pattern, go=True).fullmatch(name) is not None


def doublestar_match(pattern: str, path: str) -> bool:
    """doublestar's ``Match``: a ``**`` segment spans any number of segments; ``{a,b}`` alternatives."""
    return _doublestar_regex(pattern).fullmatch(path) is not None


def excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` matches an exclude pattern; a pattern without ``/`` also matches the name at any depth."""
    name = posixpath.basename(path)
    return any(doublestar_match(pattern, path) or ("/" not in pattern and doublestar_match(pattern, name))
               for pattern in patterns)


@lru_cache(maxsize=512)
def _segment_regex(pattern: str, *, go: bool) -> re.Pattern[str]:
    return re.compile(_translate_segment(pattern, go=go))


def _translate_segment(pattern: str, *, go: bool) -> str:
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            index += 1
            if index >= len(pattern):
                raise CopyError(f"invalid pattern '{pattern}': trailing escape")
            out.append(re.escape(pattern[index]))
        elif char == "[":
            end = pattern.find("]", index + 2 if pattern[index + 1:index + 2] in ("^", "!") else index + 1)
            if end < 0:
                raise CopyError(f"invalid pattern '{pattern}': unclosed '['")
            body = pattern[index + 1:end]
            negate = body[:1] == "^" or (not go and body[:1] == "!")
            if negate:
                body = body[1:]
            if not body:
                raise CopyError(f"invalid pattern '{pattern}': empty character class")
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if negate else ''}{escaped}]")
            index = end
        elif char == "{" and not go:
            end = pattern.find("}", index)
            if end < 0:
                raise CopyError(f"invalid pattern '{pattern}': unclosed '{{'")
            alternatives = pattern[index + 1:end].split(",")
            out.append("(?:" + "|".join(_translate_segment(alt, go=False) for alt in alternatives) + ")")
            index = end
        elif char == "]" and go:
            raise CopyError(f"invalid pattern '{pattern}': unmatched ']'")
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


@lru_cache(maxsize=512)
def _doublestar_regex(pattern: str) -> re.Pattern[str]:
    segments = pattern.split("/")
    regex = ""
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment == "**":
            # Any number of whole segments, including none (with the separator that would follow them).
            regex += ".*" if last else "(?:[^/]*/)*"
            continue
        regex += _translate_segment(segment, go=False) + ("" if last else "/")
    if pattern.endswith("/**"):
        regex = regex[: -len("/.*")] + "(?:/.*)?" if regex.endswith("/.*") else regex
    return re.compile(regex)
