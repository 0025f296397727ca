"""ImagePolicy's tag selection, as image-reflector-controller's internal/policy does it: ``semver`` (Masterminds
constraints; tags that are not ``MAJOR.MINOR.PATCH`` with an optional ``v`` are skipped), ``alphabetical`` and
``numerical`` (``asc`` picks the last, ``desc`` the first; a tag that is not a number fails the numerical policy),
and ``filterTags`` (a Go regular expression and an ``extract`` template whose result is ordered in place of the tag).
Pure logic; the controller turns ``PolicyError`` into Ready=False and ``InvalidPolicy`` into Stalled."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.reconciler.source.semver import Constraints, SemverError, parse_version

Choose = Callable[[Sequence[str]], str]


class PolicyError(ValueError):
    """The policy found no latest tag; the message is image-reflector-controller's."""


class InvalidPolicy(PolicyError):
    """The policy itself cannot be used (a bad range, order or pattern): retrying cannot help."""


EMPTY_LIST = "version list argument cannot be empty"
NO_SEMVER_MATCH = "unable to determine latest version from provided list"


def semver_policy(range_text: str) -> Choose:
    try:
        constraints = Constraints.parse(range_text)
    except SemverError as err:
        raise InvalidPolicy(f"invalid policy: {err}") from err

    def latest(tags: Sequence[str]) -> str:
        if not tags:
            raise PolicyError(EMPTY_LIST)
        best = None
        for tag in tags:
            try:
                version = parse_version(tag)
            except SemverError:
                continue  # not a version: skipped, as upstream does
            if constraints.check(version) and (best is None or version > best):
                best = version
        if best is None:
            raise PolicyError(NO_SEMVER_MATCH)
        return best.original

    return latest


def _order(order: str | None) -> str:
    value = (order or "asc").upper()
    if value not in ("ASC", "DESC"):
        raise InvalidPolicy(f"invalid policy: invalid order argument provided: '{value}', must be one of: ASC, DESC")
    return value


def alphabetical_policy(order: str | None) -> Choose:
    direction = _order(order)

    def latest(tags: Sequence[str]) -> str:
        if not tags:
            raise PolicyError(EMPTY_LIST)
        # Go compares the UTF-8 bytes: the same order as Python's code points.
        return max(tags) if direction == "ASC" else min(tags)

    return latest


_GO_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)\Z", re.IGNORECASE)


def parse_go_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)`` for decimal input (``1``, ``-2.5``, ``1e3``, ``Inf``, ``NaN``); ValueError
    otherwise (Go rejects spaces, which Python's float() accepts)."""
    if _GO_SPECIAL.match(text):
        return float(text.replace("infinity", "inf").replace("Infinity", "inf"))
    if not _GO_FLOAT.match(text):
        raise ValueError(text)
    return float(text)


def numerical_policy(order: str | None) -> Choose:
    direction = _order(order)

    def latest(tags: Sequence[str]) -> str:
        if not tags:
            raise PolicyError(EMPTY_LIST)
        chosen, best = "", 0.0
        for index, tag in enumerate(tags):
            try:
                value = parse_go_float(tag)
            except ValueError as err:
                raise PolicyError(f"failed to parse invalid numeric value '{tag}'") from err
            # As upstream: a later equal value wins; NaN compares false both ways, so it wins too.
            if index > 0 and ((direction == "ASC" and value < best) or (direction == "DESC" and value > best)):
                continue
            chosen, best = tag, value
        return chosen

    return latest


def policy_from_spec(policy: dict[str, Any]) -> Choose:
    """The policer ``spec.policy`` names (exactly one of semver, alphabetical, numerical)."""
    if policy.get("semver") is not None:
        return semver_policy(str((policy["semver"] or {}).get("range", "")))
    if policy.get("alphabetical") is not None:
        return alphabetical_policy((policy["alphabetical"] or {}).get("order"))
    if policy.get("numerical") is not None:
        return numerical_policy((policy["numerical"] or {}).get("order"))
    raise InvalidPolicy("invalid policy: given ImagePolicyChoice object is invalid")


# --- filterTags ---------------------------------------------------------------------------------------------------

def go_regexp(pattern: str) -> re.Pattern[str]:
    """Compile a Go (RE2) regular expression with Python's engine: ``(?<name>…)`` becomes ``(?P<name>…)``,
    ``\\z`` becomes ``\\Z``; RE2 has no backreferences or lookaround, so a pattern using them is refused as Go
    refuses it."""
    translated = re.sub(r"(?<!\\)\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)
    translated = re.sub(r"(?<!\\)\\z", r"\\Z", translated)
    if re.search(r"(?<!\\)\(\?(?:=|!|<=|<!)", translated) or re.search(r"(?<!\\)\\[1-9]", translated):
        raise re.error("lookaround and backreferences are not supported by Go's RE2 syntax")
    return re.compile(translated)


_TEMPLATE = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")


def go_expand(template: str, match: re.Match[str]) -> str:
    """``regexp.Expand``: ``$name`` (the longest run of letters, digits, ``_``), ``${name}``, ``$1``; ``$$`` is a
    dollar; an unknown group expands to nothing; a ``$`` not followed by a name is kept."""
    def group(name: str) -> str:
        if name.isdigit():
            index = int(name)
            return (match.group(index) or "") if index <= (match.re.groups or 0) else ""
        if name in match.re.groupindex:
            return match.group(name) or ""
        return ""

    def replace(found: re.Match[str]) -> str:
        if found.group(0) == "$$":
            return "$"
        name = found.group(1) if found.group(1) is not None else found.group(2)
        if found.group(1) is not None and not name:
            return found.group(0)  # "${}" is not a valid reference: Go copies it as is
        return group(name)

    return _TEMPLATE.sub(replace, template)


@dataclass(frozen=True)
class TagFilter:
    """``filterTags``: the matching tags, each mapped from its extracted value back to the original tag."""

    pattern: re.Pattern[str]
    extract: str = ""

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TagFilter:
        pattern = str(spec.get("pattern") or "")
        try:
            compiled = go_regexp(pattern)
        except re.error as err:
            raise InvalidPolicy(f"failed to filter tags: invalid regular expression pattern '{pattern}': {err}") \
                from err
        return cls(compiled, str(spec.get("extract") or ""))

    def apply(self, tags: Sequence[str]) -> dict[str, str]:
        """Extracted value -> original tag, for every tag the pattern matches anywhere in (a later tag with the same
        extracted value replaces an earlier one, as upstream's map does)."""
        filtered: dict[str, str] = {}
        for tag in tags:
            match = self.pattern.search(tag)
            if match is None:
                continue
            filtered[go_expand(self.extract, match) if self.extract else tag] = tag
        return filtered


def latest_tag(tags: Sequence[str], policy: dict[str, Any], filter_tags: dict[str, Any] | None) -> str:
    """The tag ``policy`` chooses among ``tags`` after ``filter_tags``; PolicyError when none qualifies."""
    choose = policy_from_spec(policy)
    if filter_tags is None:
        return choose(tags)
    tag_filter = TagFilter.from_spec(filter_tags)
    filtered = tag_filter.apply(tags)
    return filtered[choose(list(filtered))]


# --- the latest tags of a scan ------------------------------------------------------------------------------------

LATEST_TAGS_COUNT = 10


def latest_tags(tags: Sequence[str]) -> list[str]:
    """``lastScanResult.latestTags``: the first ten tags in descending (byte-wise) alphabetical order."""
    return sorted(tags, reverse=True)[:LATEST_TAGS_COUNT]


def excluded(tags: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The tags none of ``patterns`` (Go regular expressions, matched anywhere) matches, in their order."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(go_regexp(pattern))
        except re.error as err:
            raise ValueError(f"failed to compile regex {pattern}: {err}") from err
    return [tag for tag in tags if not any(regex.search(tag) for regex in compiled)]
