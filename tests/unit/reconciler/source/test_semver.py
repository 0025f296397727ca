"""Masterminds semver as source-controller resolves chart versions with it: the tables are Masterminds/semver
v3.5.0's own test cases (constraints_test.go, version_test.go)."""

from __future__ import annotations

import pytest

from sandbox.reconciler.source.semver import (
    Constraints,
    SemverError,
    Version,
    _Constraint,
    _rewrite_ranges,
    parse_version,
)

# TestConstraintCheck: one constraint; prereleases allowed when the constraint names one
SINGLE = [
    ('=2.0.0', '1.2.3', False),
    ('=2.0.0', '2.0.0', True),
    ('=2.0', '1.2.3', False),
    ('=2.0', '2.0.0', True),
    ('=2.0', '2.0.1', True),
    ('4.1', '4.1.0', True),
    ('!=4.1.0', '4.1.0', False),
    ('!=4.1.0', '4.1.1', True),
    ('!=4.1', '4.1.0', False),
    ('!=4.1', '4.1.1', False),
    ('!=4.1', '5.1.0-alpha.1', False),
    ('!=4.1.0', '5.1.0-alpha.1', False),
    ('!=4.1-alpha', '4.1.0', True),
    ('!=4.1', '5.1.0', True),
    ('<11', '0.1.0', True),
    ('<11', '11.1.0', False),
    ('<1.1', '0.1.0', True),
    ('<1.1', '1.1.0', False),
    ('<1.1', '1.1.1', False),
    ('<=11', '1.2.3', True),
    ('<=11', '12.2.3', False),
    ('<=11', '11.2.3', True),
    ('<=1.1', '1.2.3', False),
    ('<=1.1', '0.1.0', True),
    ('<=1.1', '1.1.0', True),
    ('<=1.1', '1.1.1', True),
    ('>1.1', '4.1.0', True),
    ('>1.1', '1.1.0', False),
    ('>0', '0', False),
    ('>0', '1', True),
    ('>0', '0.0.1-alpha', False),
    ('>0.0', '0.0.1-alpha', False),
    ('>0-0', '0.0.1-alpha', False),
    ('>0.0-0', '0.0.1-alpha', False),
    ('>0', '0.0.0-alpha', False),
    ('>0-0', '0.0.0-alpha', False),
    ('>0.0.0-0', '0.0.0-alpha', True),
    ('>1.2.3-alpha.1', '1.2.3-alpha.2', True),
    ('>1.2.3-alpha.1', '1.3.3-alpha.2', True),
    ('>11', '11.1.0', False),
    ('>11.1', '11.1.0', False),
    ('>11.1', '11.1.1', False),
    ('>11.1', '11.2.1', True),
    ('>=11', '11.1.2', True),
    ('>=11.1', '11.1.2', True),
    ('>=11.1', '11.0.2', False),
    ('>=1.1', '4.1.0', True),
    ('>=1.1', '1.1.0', True),
    ('>=1.1', '0.0.9', False),
    ('>=0', '0.0.1-alpha', False),
    ('>=0.0', '0.0.1-alpha', False),
    ('>=0-0', '0.0.1-alpha', True),
    ('>=0.0-0', '0.0.1-alpha', True),
    ('>=0', '0.0.0-alpha', False),
    ('>=0-0', '0.0.0-alpha', True),
    ('>=0.0.0-0', '0.0.0-alpha', True),
    ('>=0.0.0-0', '1.2.3', True),
    ('>=0.0.0-0', '3.4.5-beta.1', True),
    ('<0', '0.0.0-alpha', False),
    ('<0-z', '0.0.0-alpha', True),
    ('>=0', '0', True),
    ('=0', '1', False),
    ('*', '1', True),
    ('*', '4.5.6', True),
    ('*', '1.2.3-alpha.1', False),
    ('*-0', '1.2.3-alpha.1', True),
    ('2.*', '1', False),
    ('2.*', '3.4.5', False),
    ('2.*', '2.1.1', True),
    ('2.1.*', '2.1.1', True),
    ('2.1.*', '2.2.1', False),
    ('', '1', True),
    ('', '4.5.6', True),
    ('', '1.2.3-alpha.1', False),
    ('2', '1', False),
    ('2', '3.4.5', False),
    ('2', '2.1.1', True),
    ('2.1', '2.1.1', True),
    ('2.1', '2.2.1', False),
    ('~1.2.3', '1.2.4', True),
    ('~1.2.3', '1.3.4', False),
    ('~1.2', '1.2.4', True),
    ('~1.2', '1.3.4', False),
    ('~1', '1.2.4', True),
    ('~1', '2.3.4', False),
    ('~0.2.3', '0.2.5', True),
    ('~0.2.3', '0.3.5', False),
    ('~1.2.3-beta.2', '1.2.3-beta.4', True),
    ('~1.2.3-beta.2', '1.2.4-beta.2', True),
    ('~1.2.3-beta.2', '1.3.4-beta.2', False),
    ('^1.2.3', '1.8.9', True),
    ('^1.2.3', '2.8.9', False),
    ('^1.2.3', '1.2.1', False),
    ('^1.1.0', '2.1.0', False),
    ('^1.2.0', '2.2.1', False),
    ('^1.2.0', '1.2.1-alpha.1', False),
    ('^1.2.0-alpha.0', '1.2.1-alpha.1', True),
    ('^1.2.0-alpha.0', '1.2.1-alpha.0', True),
    ('^1.2.0-alpha.2', '1.2.0-alpha.1', False),
    ('^1.2', '1.8.9', True),
    ('^1.2', '2.8.9', False),
    ('^1', '1.8.9', True),
    ('^1', '2.8.9', False),
    ('^0.2.3', '0.2.5', True),
    ('^0.2.3', '0.5.6', False),
    ('^0.2', '0.2.5', True),
    ('^0.2', '0.5.6', False),
    ('^0.0.3', '0.0.3', True),
    ('^0.0.3', '0.0.4', False),
    ('^0.0', '0.0.3', True),
    ('^0.0', '0.1.4', False),
    ('^0.0', '1.0.4', False),
    ('^0', '0.2.3', True),
    ('^0', '1.1.4', False),
    ('^0.2.3-beta.2', '0.2.3-beta.4', True),
    ('^0.2.3-beta.2', '0.2.4-beta.2', True),
    ('^0.2.3-beta.2', '0.3.4-beta.2', False),
    ('^0.2.3-beta.2', '0.2.3-beta.2', True),
]

# TestConstraintsCheck
CONSTRAINTS = [
    ('*', '1.2.3', True),
    ('~0.0.0', '1.2.3', True),
    ('0.x.x', '1.2.3', False),
    ('0.0.x', '1.2.3', False),
    ('0.0.0', '1.2.3', False),
    ('*', '1.2.3', True),
    ('^0.0.0', '1.2.3', False),
    ('= 2.0', '1.2.3', False),
    ('= 2.0', '2.0.0', True),
    ('4.1', '4.1.0', True),
    ('4.1.x', '4.1.3', True),
    ('1.x', '1.4', True),
    ('!=4.1', '4.1.0', False),
    ('!=4.1-alpha', '4.1.0-alpha', False),
    ('!=4.1-alpha', '4.1.1-alpha', False),
    ('!=4.1-alpha', '4.1.0', True),
    ('!=4.1', '5.1.0', True),
    ('!=4.x', '5.1.0', True),
    ('!=4.x', '4.1.0', False),
    ('!=4.1.x', '4.2.0', True),
    ('!=4.2.x', '4.2.3', False),
    ('>1.1', '4.1.0', True),
    ('>1.1', '1.1.0', False),
    ('<1.1', '0.1.0', True),
    ('<1.1', '1.1.0', False),
    ('<1.1', '1.1.1', False),
    ('<1.x', '1.1.1', False),
    ('<1.x', '0.1.1', True),
    ('<1.x', '2.0.0', False),
    ('<1.1.x', '1.2.1', False),
    ('<1.1.x', '1.1.500', False),
    ('<1.1.x', '1.0.500', True),
    ('<1.2.x', '1.1.1', True),
    ('>=1.1', '4.1.0', True),
    ('>=1.1', '4.1.0-beta', False),
    ('>=1.1', '1.1.0', True),
    ('>=1.1', '0.0.9', False),
    ('<=1.1', '0.1.0', True),
    ('<=1.1', '0.1.0-alpha', False),
    ('<=1.1-a', '0.1.0-alpha', True),
    ('<=1.1', '1.1.0', True),
    ('<=1.x', '1.1.0', True),
    ('<=2.x', '3.0.0', False),
    ('<=1.1', '1.1.1', True),
    ('<=1.1.x', '1.2.500', False),
    ('<=4.5', '3.4.0', True),
    ('<=4.5', '3.7.0', True),
    ('<=4.5', '4.6.3', False),
    ('>1.1, <2', '1.1.1', False),
    ('>1.1, <2', '1.2.1', True),
    ('>1.1, <3', '4.3.2', False),
    ('>=1.1, <2, !=1.2.3', '1.2.3', False),
    ('>1.1 <2', '1.1.1', False),
    ('>1.1 <2', '1.2.1', True),
    ('>1.1    <3', '4.3.2', False),
    ('>=1.1    <2    !=1.2.3', '1.2.3', False),
    ('>=1.1, <2, !=1.2.3 || > 3', '4.1.2', True),
    ('>=1.1, <2, !=1.2.3 || > 3', '3.1.2', False),
    ('>=1.1, <2, !=1.2.3 || >= 3', '3.0.0', True),
    ('>=1.1, <2, !=1.2.3 || > 3', '3.0.0', False),
    ('>=1.1, <2, !=1.2.3 || > 3', '1.2.3', False),
    ('>=1.1 <2 !=1.2.3', '1.2.3', False),
    ('>=1.1 <2 !=1.2.3 || > 3', '4.1.2', True),
    ('>=1.1 <2 !=1.2.3 || > 3', '3.1.2', False),
    ('>=1.1 <2 !=1.2.3 || >= 3', '3.0.0', True),
    ('>=1.1 <2 !=1.2.3 || > 3', '3.0.0', False),
    ('>=1.1 <2 !=1.2.3 || > 3', '1.2.3', False),
    ('> 1.1, <     2', '1.1.1', False),
    ('>   1.1, <2', '1.2.1', True),
    ('>1.1, <  3', '4.3.2', False),
    ('>= 1.1, <     2, !=1.2.3', '1.2.3', False),
    ('> 1.1 < 2', '1.1.1', False),
    ('>1.1 < 2', '1.2.1', True),
    ('> 1.1    <3', '4.3.2', False),
    ('>=1.1    < 2    != 1.2.3', '1.2.3', False),
    ('>= 1.1, <2, !=1.2.3 || > 3', '4.1.2', True),
    ('>= 1.1, <2, != 1.2.3 || > 3', '3.1.2', False),
    ('>= 1.1, <2, != 1.2.3 || >= 3', '3.0.0', True),
    ('>= 1.1, <2, !=1.2.3 || > 3', '3.0.0', False),
    ('>= 1.1, <2, !=1.2.3 || > 3', '1.2.3', False),
    ('>= 1.1 <2 != 1.2.3', '1.2.3', False),
    ('>= 1.1 <2 != 1.2.3 || > 3', '4.1.2', True),
    ('>= 1.1 <2 != 1.2.3 || > 3', '3.1.2', False),
    ('>= 1.1 <2 != 1.2.3 || >= 3', '3.0.0', True),
    ('>= 1.1 < 2 !=1.2.3 || > 3', '3.0.0', False),
    ('>=1.1 < 2 !=1.2.3 || > 3', '1.2.3', False),
    ('>= 1.0.0  <= 2.0.0-beta', '1.0.1-beta', True),
    ('>= 1.0.0  <= 2.0.0-beta', '1.0.1', True),
    ('>= 1.0.0  <= 2.0.0-beta', '3.0.0', False),
    ('>= 1.0.0  <= 2.0.0-beta || > 3', '1.0.1-beta', True),
    ('>= 1.0.0  <= 2.0.0-beta || > 3', '3.0.1-beta', False),
    ('>= 1.0.0  <= 2.0.0-beta != 1.0.1 || > 3', '1.0.1-beta', True),
    ('>= 1.0.0  <= 2.0.0-beta != 1.0.1-beta || > 3', '1.0.1-beta', False),
    ('>= 1.0.0-0  <= 2.0.0', '1.0.1-beta', True),
    ('1.1 - 2', '1.1.1', True),
    ('1.5.0 - 4.5', '3.7.0', True),
    ('1.1-3', '4.3.2', False),
    ('^1.1', '1.1.1', True),
    ('^1.1', '4.3.2', False),
    ('^1.x', '1.1.1', True),
    ('^2.x', '1.1.1', False),
    ('^1.x', '2.1.1', False),
    ('^1.x', '1.1.1-beta1', False),
    ('^1.1.2-alpha', '1.2.1-beta1', True),
    ('^1.2.x-alpha', '1.1.1-beta1', False),
    ('^0.0.1', '0.0.1', True),
    ('^0.0.1', '0.3.1', False),
    ('~*', '2.1.1', True),
    ('~1', '2.1.1', False),
    ('~1', '1.3.5', True),
    ('~1', '1.4', True),
    ('~1.x', '2.1.1', False),
    ('~1.x', '1.3.5', True),
    ('~1.x', '1.4', True),
    ('~1.1', '1.1.1', True),
    ('~1.1', '1.1.1-alpha', False),
    ('~1.1-alpha', '1.1.1-beta', True),
    ('~1.1.1-beta', '1.1.1-alpha', False),
    ('~1.1.1-beta', '1.1.1', True),
    ('~1.2.3', '1.2.5', True),
    ('~1.2.3', '1.2.2', False),
    ('~1.2.3', '1.3.2', False),
    ('~1.1', '1.2.3', False),
    ('~1.3', '2.4.5', False),
    ('1.0.0 - 2.0.0 <=2.0.0', '1.5.0', True),
    ('1.0.0 - 2.0.0, <=2.0.0', '1.5.0', True),
]

# TestCompare
COMPARE = [
    ('1.2.3', '1.5.1', -1),
    ('2.2.3', '1.5.1', 1),
    ('2.2.3', '2.2.2', 1),
    ('3.2-beta', '3.2-beta', 0),
    ('1.3', '1.1.4', 1),
    ('4.2', '4.2-beta', 1),
    ('4.2-beta', '4.2', -1),
    ('4.2-alpha', '4.2-beta', -1),
    ('4.2-alpha', '4.2-alpha', 0),
    ('4.2-beta.2', '4.2-beta.1', 1),
    ('4.2-beta2', '4.2-beta1', 1),
    ('4.2-beta', '4.2-beta.2', -1),
    ('4.2-beta', '4.2-beta.foo', -1),
    ('4.2-beta.2', '4.2-beta', 1),
    ('4.2-beta.foo', '4.2-beta', 1),
    ('1.2+bar', '1.2+baz', 0),
    ('1.0.0-beta.4', '1.0.0-beta.-2', -1),
    ('1.0.0-beta.-2', '1.0.0-beta.-3', -1),
    ('1.0.0-beta.-3', '1.0.0-beta.5', 1),
]

# TestNewVersion ("With loose NewVersion"): (version, is an error)
NEW_VERSION = [
    ('1.2.3', False),
    ('1.2.3-alpha.01', True),
    ('1.2.3+test.01', False),
    ('1.2.3-alpha.-1', False),
    ('v1.2.3', False),
    ('1.0', False),
    ('v1.0', False),
    ('1', False),
    ('v1', False),
    ('1.2.beta', True),
    ('v1.2.beta', True),
    ('foo', True),
    ('1.2-5', False),
    ('v1.2-5', False),
    ('1.2-beta.5', False),
    ('v1.2-beta.5', False),
    ('\n1.2', True),
    ('\nv1.2', True),
    ('1.2.0-x.Y.0+metadata', False),
    ('v1.2.0-x.Y.0+metadata', False),
    ('1.2.0-x.Y.0+metadata-width-hypen', False),
    ('v1.2.0-x.Y.0+metadata-width-hypen', False),
    ('1.2.3-rc1-with-hypen', False),
    ('v1.2.3-rc1-with-hypen', False),
    ('1.2.3-0abc123', False),
    ('1.2.3-beta.01', True),
    ('1.2.3.4', True),
    ('v1.2.3.4', True),
    ('1.2.2147483648', False),
    ('1.2147483648.3', False),
    ('2147483648.3.0', False),
    ('12.3.4.1234', True),
    ('12.23.4.1234', True),
    ('12.3.34.1234', True),
    ('20221209-update-renovatejson-v4', False),
    ('1.1.2+.123', True),
    ('1.0.0-alpha_beta', True),
    ('1.0.0-alpha..', True),
    ('1.0.0-alpha..1', True),
    ('9.8.7+meta+meta', True),
    ('1.2.31----RC-SNAPSHOT.12.09.1--.12+788', True),
    ('01.1.1', False),
    ('1.01.1', False),
    ('1.1.01', False),
]


@pytest.mark.parametrize(("constraint", "version", "expected"), SINGLE, ids=[f"{c}@{v}" for c, v, _ in SINGLE])
def test_one_constraint(constraint: str, version: str, expected: bool) -> None:
    parsed = _Constraint.parse(constraint)
    assert parsed.check(Version.parse(version), bool(parsed.version.pre)) is expected


@pytest.mark.parametrize(("constraint", "version", "expected"), CONSTRAINTS,
                         ids=[f"{c}@{v}" for c, v, _ in CONSTRAINTS])
def test_constraints(constraint: str, version: str, expected: bool) -> None:
    assert Constraints.parse(constraint).check(Version.parse(version)) is expected


@pytest.mark.parametrize(("left", "right", "expected"), COMPARE, ids=[f"{a}<>{b}" for a, b, _ in COMPARE])
def test_compare(left: str, right: str, expected: int) -> None:
    assert Version.parse(left).compare(Version.parse(right)) == expected


@pytest.mark.parametrize(("text", "error"), NEW_VERSION, ids=[repr(v) for v, _ in NEW_VERSION])
def test_new_version(text: str, error: bool) -> None:
    if error:
        with pytest.raises(SemverError):
            Version.parse(text)
    else:
        Version.parse(text)


@pytest.mark.parametrize(("text", "ors", "count"), [
    (">= 1.1", 1, 1), (">40.50.60, < 50.70", 1, 2), ("2.0", 1, 1), ("v2.3.5-20161202202307-sha.e8fc5e5", 1, 1),
    ("v1.2.3-0abc", 1, 1), (">= 1.2.3 < 2.0", 1, 2), (">= 1.2.3 < 2.0 || => 3.0 < 4", 2, 2),
    (">= 1.2.3, < 2.0", 1, 2), (">= 1.2.3, < 2.0 || => 3.0, < 4", 2, 2), ("3 - 4 || => 3.0, < 4", 2, 2),
    ("12.3.34 ~1.2.3", 1, 2), ("1.0.0 - 2.0.0, <=2.0.0", 1, 3),
])
def test_new_constraint(text: str, ors: int, count: int) -> None:
    parsed = Constraints.parse(text)
    assert (len(parsed.groups), len(parsed.groups[0])) == (ors, count)


@pytest.mark.parametrize("text", ["v1.2.3-beta.01", ">= bar", "BAR >= 1.2.3", "12.3.4.1234", "12.23.4.1234",
                                  "12.3.34.1234", "12.3.34~ 1.2.3", "", "x" * 513, "||".join(["1"] * 33)])
def test_new_constraint_errors(text: str) -> None:
    with pytest.raises(SemverError):
        Constraints.parse(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("2 - 3", ">= 2, <= 3 "), ("2 - 3, 2 - 3", ">= 2, <= 3 ,>= 2, <= 3 "),
    ("2 - 3, 4.0.0 - 5.1", ">= 2, <= 3 ,>= 4.0.0, <= 5.1 "), ("2 - 3 4.0.0 - 5.1", ">= 2, <= 3 >= 4.0.0, <= 5.1 "),
    ("1.0.0 - 2.0.0 <=2.0.0", ">= 1.0.0, <= 2.0.0 <=2.0.0"),
])
def test_rewrite_range(text: str, expected: str) -> None:
    assert _rewrite_ranges(text) == expected


@pytest.mark.parametrize(("text", "valid"), [
    ("1.2.3", True), ("v1.2.3", True), ("1.2.3-rc.1+build.5", True), ("01.02.03", True),
    ("1.2", False), ("1", False), ("1.2.3.4", False), ("latest", False),
])
def test_chart_versions_need_three_parts(text: str, valid: bool) -> None:
    if valid:
        parse_version(text)
    else:
        with pytest.raises(SemverError):
            parse_version(text)


def test_metadata_is_set_and_kept_with_the_v_prefix() -> None:
    assert Version.parse("v1.2.3").with_metadata("5").original == "v1.2.3+5"
    assert str(Version.parse("1.2.3-rc.1").with_metadata("abc.7")) == "1.2.3-rc.1+abc.7"
    with pytest.raises(SemverError):
        Version.parse("1.2.3").with_metadata("a..b")


def test_a_trailing_newline_is_no_version_nor_constraint() -> None:
    # Go's regexp `$` does not match before a final newline; Python's does unless told otherwise.
    with pytest.raises(SemverError):
        Version.parse("1.2.3\n")
    with pytest.raises(SemverError):
        Constraints.parse("1.2.3\n||\n")
