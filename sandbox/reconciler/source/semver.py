"""Masterminds semver v3 (the library source-controller resolves Helm chart versions with): versions parsed as its
``NewVersion`` does (a ``v`` prefix, missing minor/patch, leading zeros tolerated) and constraints checked as its
``Constraints.Check`` does — ``*``, ``1.x``, ``~1.2``, ``^1.2``, ``>=1.0.0 <2.0.0``, ``>=1, <2``, ``1 - 2``,
``!=``, ``||``, and its prerelease rule (a prerelease version only matches a group of constraints that names a
prerelease).

node-semver (already a dependency) parses and ranges differently (no ``!=``, other partial-version and prerelease
semantics, ``1.2.3.4`` accepted), so this is a port of Masterminds' rules; pure logic, tested with its own tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

MAX_VERSION_LENGTH = 256
MAX_CONSTRAINT_LENGTH = 512
MAX_CONSTRAINT_GROUPS = 32

_LOOSE_VERSION = re.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?\Z")
_NUMERIC = re.compile(r"^[0-9]+\Z")
_ALLOWED = re.compile(r"^[0-9A-Za-z\-]+\Z")


class SemverError(ValueError):
    """A version or constraint Masterminds semver rejects; the message is its error text."""


def _validate_prerelease(pre: str) -> None:
    for part in pre.split("."):
        if not part:
            raise SemverError("invalid prerelease string")
        if _NUMERIC.match(part):
            if len(part) > 1 and part[0] == "0":
                raise SemverError("version segment starts with 0")
        elif not _ALLOWED.match(part):
            raise SemverError("invalid prerelease string")


def _validate_metadata(metadata: str) -> None:
    for part in metadata.split("."):
        if not part or not _ALLOWED.match(part):
            raise SemverError("invalid metadata string")


@total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    major: int
    minor: int
    patch: int
    pre: str = ""
    metadata: str = ""
    original: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Masterminds ``NewVersion`` (coercing): ``v1.2``, ``1``, ``01.2.3`` are versions; ``1.2.3.4`` is not."""
        if len(text) > MAX_VERSION_LENGTH:
            raise SemverError(f"version string is too long (max {MAX_VERSION_LENGTH} bytes)")
        match = _LOOSE_VERSION.match(text)
        if match is None:
            raise SemverError("invalid semantic version")
        pre, metadata = match.group(5) or "", match.group(8) or ""
        if pre:
            _validate_prerelease(pre)
        if metadata:
            _validate_metadata(metadata)
        return cls(int(match.group(1)), int((match.group(2) or ".0")[1:]), int((match.group(3) or ".0")[1:]),
                   pre, metadata, text)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += f"-{self.pre}"
        if self.metadata:
            text += f"+{self.metadata}"
        return text

    def with_metadata(self, metadata: str) -> Version:
        """``SetMetadata``: the same version with build ``metadata`` (validated)."""
        if metadata:
            _validate_metadata(metadata)
        prefix = "v" if self.original.startswith("v") else ""
        updated = Version(self.major, self.minor, self.patch, self.pre, metadata)
        return Version(self.major, self.minor, self.patch, self.pre, metadata, prefix + str(updated))

    def compare(self, other: Version) -> int:
        """-1, 0 or 1: precedence as Masterminds ``Compare`` (build metadata ignored)."""
        for mine, theirs in ((self.major, other.major), (self.minor, other.minor), (self.patch, other.patch)):
            if mine != theirs:
                return 1 if mine > theirs else -1
        if not self.pre and not other.pre:
            return 0
        if not self.pre:
            return 1
        if not other.pre:
            return -1
        return _compare_prerelease(self.pre, other.pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.compare(other) == 0

    def __lt__(self, other: Version) -> bool:
        return self.compare(other) < 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.pre))


def _compare_prerelease(mine: str, theirs: str) -> int:
    my_parts, their_parts = mine.split("."), theirs.split(".")
    for index in range(max(len(my_parts), len(their_parts))):
        left = my_parts[index] if index < len(my_parts) else ""
        right = their_parts[index] if index < len(their_parts) else ""
        result = _compare_prerelease_part(left, right)
        if result:
            return result
    return 0


def _compare_prerelease_part(left: str, right: str) -> int:
    if left == right:
        return 0
    if not left:
        return -1
    if not right:
        return 1
    left_numeric, right_numeric = left.isdigit(), right.isdigit()
    if not left_numeric and not right_numeric:
        return 1 if left > right else -1
    if not right_numeric:
        return -1  # numeric identifiers have lower precedence than alphanumeric ones
    if not left_numeric:
        return 1
    return 1 if int(left) > int(right) else -1 if int(left) < int(right) else 0


def parse_version(text: str) -> Version:
    """fluxcd/pkg/version ``ParseVersion``: Masterminds' loose parse of ``MAJOR.MINOR.PATCH…`` only (three
    dot-separated parts), as chart versions and OCI tags are read."""
    if len(text.split(".", 2)) != 3:
        raise SemverError("invalid semantic version")
    return Version.parse(text)


# --- constraints -------------------------------------------------------------------------------------------------

_CV = (r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
       r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
       r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?")
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_CONSTRAINT = re.compile(rf"^\s*({_OPS})\s*({_CV})\s*\Z")
_RANGE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_FIND_CONSTRAINT = re.compile(rf"({_OPS})\s*({_CV})")
_VALID_CONSTRAINT = re.compile(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*\Z")


def _is_x(text: str) -> bool:
    return text in ("x", "*", "X")


@dataclass(frozen=True)
class _Constraint:
    version: Version
    original: str
    operator: str
    minor_dirty: bool = False
    patch_dirty: bool = False
    dirty: bool = False

    @classmethod
    def parse(cls, text: str) -> _Constraint:
        if not text:  # an empty constraint is a wildcard
            return cls(Version(0, 0, 0), "", "", dirty=True)
        match = _CONSTRAINT.match(text)
        if match is None:
            raise SemverError(f"improper constraint: {text!r}")
        operator, original = match.group(1), match.group(2)
        major, minor, patch, pre = match.group(3), match.group(4) or "", match.group(5) or "", match.group(6) or ""
        version_text = original
        minor_dirty = patch_dirty = dirty = False
        if _is_x(major) or not major:
            version_text, dirty = f"0.0.0{pre}", True
        elif _is_x(minor.removeprefix(".")) or not minor:
            version_text, minor_dirty, dirty = f"{major}.0.0{pre}", True, True
        elif _is_x(patch.removeprefix(".")) or not patch:
            version_text, patch_dirty, dirty = f"{major}{minor}.0{pre}", True, True
        try:
            version = Version.parse(version_text)
        except SemverError as err:
            raise SemverError("constraint parser error") from err
        return cls(version, original, operator, minor_dirty, patch_dirty, dirty)

    def check(self, v: Version, include_pre: bool) -> bool:
        if v.pre and not include_pre:
            return False
        return bool(_CHECKS[self.operator](v, self))


def _not_equal(v: Version, c: _Constraint) -> bool:
    con = c.version
    if c.dirty:
        if con.major != v.major:
            return True
        if con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            if v.pre or con.pre:
                return _compare_prerelease(v.pre, con.pre) != 0
            return False
    return v != con


def _greater_than(v: Version, c: _Constraint) -> bool:
    con = c.version
    if not c.dirty:
        return v.compare(con) == 1
    if v.major > con.major:
        return True
    if v.major < con.major or c.minor_dirty:
        return False
    if c.patch_dirty:
        return v.minor > con.minor
    return v.compare(con) == 1


def _less_than_equal(v: Version, c: _Constraint) -> bool:
    con = c.version
    if not c.dirty:
        return v.compare(con) <= 0
    if v.major > con.major:
        return False
    return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)


def _tilde(v: Version, c: _Constraint) -> bool:
    con = c.version
    if v < con:
        return False
    if con.major == 0 and con.minor == 0 and con.patch == 0 and not c.minor_dirty and not c.patch_dirty:
        return True
    if v.major != con.major:
        return False
    return not (v.minor != con.minor and not c.minor_dirty)


def _tilde_or_equal(v: Version, c: _Constraint) -> bool:
    if c.dirty:
        return _tilde(v, c)
    return v == c.version


def _caret(v: Version, c: _Constraint) -> bool:
    con = c.version
    if v < con:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return con.patch == v.patch


_CHECKS = {
    "": _tilde_or_equal, "=": _tilde_or_equal, "!=": _not_equal,
    ">": _greater_than, "<": lambda v, c: v.compare(c.version) < 0,
    ">=": lambda v, c: v.compare(c.version) >= 0, "=>": lambda v, c: v.compare(c.version) >= 0,
    "<=": _less_than_equal, "=<": _less_than_equal,
    "~": _tilde, "~>": _tilde, "^": _caret,
}


@dataclass(frozen=True)
class Constraints:
    """``semver.NewConstraint``: groups joined by ``||``, each a list of constraints all of which must hold."""

    groups: tuple[tuple[_Constraint, ...], ...]
    group_has_prerelease: tuple[bool, ...]
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Constraints:
        if len(text) > MAX_CONSTRAINT_LENGTH:
            raise SemverError(f"constraint string is too long (max {MAX_CONSTRAINT_LENGTH} bytes)")
        rewritten = _rewrite_ranges(text)
        alternatives = rewritten.split("||")
        if len(alternatives) > MAX_CONSTRAINT_GROUPS:
            raise SemverError(f"too many constraint groups (max {MAX_CONSTRAINT_GROUPS})")
        groups = []
        prereleases = []
        for alternative in alternatives:
            if not _VALID_CONSTRAINT.match(alternative):
                raise SemverError(f"improper constraint: {alternative!r}")
            found = [m.group(0) for m in _FIND_CONSTRAINT.finditer(alternative)] or [alternative]
            parsed = tuple(_Constraint.parse(item) for item in found)
            groups.append(parsed)
            prereleases.append(any(item.version.pre for item in parsed))
        return cls(tuple(groups), tuple(prereleases), text)

    def check(self, version: Version) -> bool:
        return any(all(item.check(version, has_pre) for item in group)
                   for group, has_pre in zip(self.groups, self.group_has_prerelease, strict=True))


def _rewrite_ranges(text: str) -> str:
    """``1.1 - 2`` as ``>= 1.1, <= 2``."""
    result = text
    for match in _RANGE.finditer(text):
        result = result.replace(match.group(0), f">= {match.group(1)}, <= {match.group(11)} ", 1)
    return result
