"""ImagePolicy's tag selection: cases from image-reflector-controller's internal/policy/*_test.go, then ours
(pre-releases, ranges Masterminds-style, filterTags with Go's expansion rules)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sandbox.reconciler.image import policies
from sandbox.reconciler.image.policies import InvalidPolicy, PolicyError


def _semver(range_text: str, tags: list[str]) -> str:
    return policies.semver_policy(range_text)(tags)


# --- upstream: semver_test.go ------------------------------------------------------------------------------------

@pytest.mark.parametrize("range_text", ["1.0.x", "^1.0", "=1.0.0", "~1.0", ">=1.0", ">0,<2.0"])
def test_upstream_valid_ranges(range_text: str) -> None:
    policies.semver_policy(range_text)


@pytest.mark.parametrize("range_text", ["1.0.0p", "1x", "x1", "-1", "a", ""])
def test_upstream_invalid_ranges_are_invalid_policies(range_text: str) -> None:
    with pytest.raises(InvalidPolicy, match=r"^invalid policy: "):
        policies.semver_policy(range_text)


@pytest.mark.parametrize(("range_text", "tags", "expected"), [
    ("1.0.x", ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"], "1.0.1"),
    ("1.0.x", ["v1.2.3", "v1.0.0", "v0.1.0"], "v1.0.0"),
], ids=["regular", "regular-with-prefix"])
def test_upstream_semver_latest(range_text: str, tags: list[str], expected: str) -> None:
    assert _semver(range_text, tags) == expected


@pytest.mark.parametrize(("tags", "message"), [
    (["b1.2.3", "b1.0.0", "b0.1.0"], policies.NO_SEMVER_MATCH),
    ([], policies.EMPTY_LIST),
    (["1.2.0"], policies.NO_SEMVER_MATCH),
], ids=["invalid-prefix", "empty-list", "non-matching"])
def test_upstream_semver_failures(tags: list[str], message: str) -> None:
    with pytest.raises(PolicyError, match=f"^{message}$"):
        _semver("1.0.x", tags)


# --- ours: Masterminds ranges and pre-releases ------------------------------------------------------------------

TAGS = ["0.9.0", "1.0.0", "1.0.1", "1.2.0", "1.2.5", "1.3.0-rc.1", "1.3.0", "1.4.0-alpha", "2.0.0-rc.1", "2.0.0",
        "2.1.0", "v3.0.0", "latest", "1.5", "main-abc123", "1.2.3.4"]


@pytest.mark.parametrize(("range_text", "expected"), [
    (">=1.0.0 <2.0.0", "1.3.0"),          # 1.4.0-alpha: a pre-release, the range names none
    (">=1.0.0-0 <2.0.0", "2.0.0-rc.1"),   # "-0" admits pre-releases: 2.0.0-rc.1 < 2.0.0
    ("~1.2", "1.2.5"),
    ("^1.2", "1.3.0"),
    ("1.x", "1.3.0"),
    ("1.0.x || 2.0.x", "2.0.0"),
    ("1.0 - 1.2", "1.2.5"),
    ("*", "v3.0.0"),                      # a leading v is a version
    ("<1.0.0", "0.9.0"),
    ("2.0.0-rc.1", "2.0.0-rc.1"),
    ("^2.0.0-0", "2.1.0"),
    ("!=2.1.0, >=2", "v3.0.0"),
    ("~1.3.0-0", "1.3.0"),
], ids=lambda value: str(value))
def test_semver_ranges(range_text: str, expected: str) -> None:
    assert _semver(range_text, TAGS) == expected


def test_semver_skips_partial_versions() -> None:
    """fluxcd/pkg/version.ParseVersion wants three parts: "1.5" is no version for the policy."""
    with pytest.raises(PolicyError):
        _semver("1.5.x", ["1.5", "1.5.x"])


def test_semver_first_of_equal_versions_wins() -> None:
    assert _semver(">=1", ["v1.0.0", "1.0.0"]) == "v1.0.0"


# --- upstream: alphabetical_test.go / numerical_test.go ----------------------------------------------------------

@pytest.mark.parametrize(("order", "tags", "expected"), [
    (None, ["xenon", "argon", "krypton", "radon", "helium"], "xenon"),
    ("desc", ["xenon", "argon", "krypton", "radon", "helium"], "argon"),
    ("asc", ["RELEASE.2017-09-14T22-44-17Z", "RELEASE.2020-10-22T21-22-26Z", "RELEASE.2018-01-29T22-49-54Z"],
     "RELEASE.2020-10-22T21-22-26Z"),
    ("asc", ["1", "10", "9"], "9"),       # byte order, not numbers
    ("ASC", ["b", "a"], "b"),
], ids=["asc-default", "desc", "dates", "digits-bytewise", "upper-case-order"])
def test_alphabetical(order: str | None, tags: list[str], expected: str) -> None:
    assert policies.alphabetical_policy(order)(tags) == expected


def test_alphabetical_invalid_order() -> None:
    with pytest.raises(InvalidPolicy, match="invalid order argument provided: 'INVALID'"):
        policies.alphabetical_policy("invalid")


def _shuffled(items: list[str]) -> list[str]:
    copy = list(items)
    random.Random(12).shuffle(copy)
    return copy


@pytest.mark.parametrize(("order", "tags", "expected"), [
    (None, ["-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91"], "73"),
    ("desc", ["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"], "-78"),
    (None, ["47.40896403322944", "-27.8520927455902", "53.47333823144817", "3.2008658570411086"],
     "53.47333823144817"),
    ("desc", ["-65.27202780220686", "57.82948329142309", "-90.29082099756083", "16.06867070412028"],
     "-90.29082099756083"),
    (None, ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"], "1606364286"),
    ("desc", ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"], "1606234201"),
    (None, ["1"], "1"),
    ("desc", ["1"], "1"),
    (None, ["1e3", "999"], "1e3"),
], ids=["ints-asc", "ints-desc", "floats-asc", "floats-desc", "timestamps-asc", "timestamps-desc", "single-asc",
        "single-desc", "exponent"])
def test_numerical(order: str | None, tags: list[str], expected: str) -> None:
    assert policies.numerical_policy(order)(_shuffled(tags)) == expected


@pytest.mark.parametrize("tags", [["0", "1a", "b"], ["1", " 2"], ["1_000"]], ids=["letters", "space", "underscore"])
def test_numerical_fails_on_a_non_numeric_tag(tags: list[str]) -> None:
    with pytest.raises(PolicyError, match=r"^failed to parse invalid numeric value '"):
        policies.numerical_policy("asc")(tags)


def test_numerical_empty_list() -> None:
    with pytest.raises(PolicyError, match=policies.EMPTY_LIST):
        policies.numerical_policy(None)([])


# --- filterTags -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "extract", "tags", "expected"), [
    ("", "", ["a"], {"a": "a"}),
    ("^ver", "", ["ver1", "ver2", "ver3", "rel1"], {"ver1": "ver1", "ver2": "ver2", "ver3": "ver3"}),
    (r"ver(\d+)", "$1", ["ver1", "ver2", "ver3", "rel1"], {"1": "ver1", "2": "ver2", "3": "ver3"}),
    (r"^main-[a-f0-9]+-(?P<ts>[0-9]+)", "$ts", ["main-abc1-100", "main-def2-200", "dev-x-300"],
     {"100": "main-abc1-100", "200": "main-def2-200"}),
    (r"^(?<env>[a-z]+)-(?<n>\d+)$", "${n}", ["prod-7", "prod-12"], {"7": "prod-7", "12": "prod-12"}),
    (r"^(?P<a>\d+)\.(?P<b>\d+)$", "$a$b", ["1.2"], {"12": "1.2"}),
    (r"^(?P<a>\d+)$", "$ax", ["5"], {"": "5"}),           # "$ax" names group "ax": unknown, empty
    (r"^(?P<a>\d+)$", "${a}x", ["5"], {"5x": "5"}),
    (r"^(?P<a>\d+)$", "$$a", ["5"], {"$a": "5"}),
], ids=["none", "pattern", "numbered-capture", "named-capture", "go-named-syntax", "two-names", "longest-name",
        "braced-name", "dollar-escape"])
def test_filter_tags(pattern: str, extract: str, tags: list[str], expected: dict[str, str]) -> None:
    assert policies.TagFilter.from_spec({"pattern": pattern, "extract": extract}).apply(tags) == expected


def test_invalid_filter_pattern_is_an_invalid_policy() -> None:
    with pytest.raises(InvalidPolicy, match="failed to filter tags: invalid regular expression pattern '\\('"):
        policies.TagFilter.from_spec({"pattern": "("})


def test_lookaround_is_refused_as_go_refuses_it() -> None:
    with pytest.raises(InvalidPolicy):
        policies.TagFilter.from_spec({"pattern": "^(?!dev)"})


@pytest.mark.parametrize(("policy", "filter_tags", "expected"), [
    ({"numerical": {"order": "asc"}}, {"pattern": r"^main-[a-f0-9]+-(?P<ts>\d+)$", "extract": "$ts"},
     "main-bbb-1700000300"),
    ({"semver": {"range": ">=1.0.0"}}, {"pattern": r"^app-(?P<v>.*)$", "extract": "$v"}, "app-1.10.0"),
    ({"alphabetical": {}}, {"pattern": "^main-"}, "main-ccc-1700000200"),
], ids=["numerical-with-extract", "semver-with-extract", "alphabetical-with-pattern"])
def test_latest_tag_with_filter(policy: dict[str, Any], filter_tags: dict[str, Any], expected: str) -> None:
    tags = ["main-aaa-1700000100", "main-bbb-1700000300", "main-ccc-1700000200", "app-1.9.0", "app-1.10.0", "latest"]
    assert policies.latest_tag(tags, policy, filter_tags) == expected


def test_numerical_without_filter_fails_on_words() -> None:
    with pytest.raises(PolicyError, match="failed to parse invalid numeric value 'latest'"):
        policies.latest_tag(["1", "2", "latest"], {"numerical": {}}, None)


def test_filter_matching_nothing() -> None:
    with pytest.raises(PolicyError, match=policies.EMPTY_LIST):
        policies.latest_tag(["a", "b"], {"alphabetical": {}}, {"pattern": "^z"})


def test_no_policy_choice_is_invalid() -> None:
    with pytest.raises(InvalidPolicy):
        policies.policy_from_spec({})


# --- scan helpers ------------------------------------------------------------------------------------------------

def test_latest_tags_are_the_first_ten_descending() -> None:
    tags = [f"1.0.{n}" for n in range(12)] + ["latest"]
    assert policies.latest_tags(tags) == ["latest", "1.0.9", "1.0.8", "1.0.7", "1.0.6", "1.0.5", "1.0.4", "1.0.3",
                                          "1.0.2", "1.0.11"]


def test_exclusion_list() -> None:
    assert policies.excluded(["1.0.0", "sha256-abc.sig", "1.0.1", "dev"], [r"^.*\.sig$", "^dev$"]) == \
        ["1.0.0", "1.0.1"]
