"""The Go YAML writer behind ``--export``: go-yaml v2's quoting, key order and number formats (cases checked against
sigs.k8s.io/yaml v1.6.0 marshalling the same JSON)."""

from __future__ import annotations

import pytest

from sandbox.cli import goyaml


@pytest.mark.parametrize(("value", "line"), [
    ("plain", "v: plain"),
    ("true", 'v: "true"'),
    ("y", 'v: "y"'),  # YAML 1.1 bool for go-yaml, a plain string for PyYAML
    ("off", 'v: "off"'),
    ("null", 'v: "null"'),
    ("", 'v: ""'),
    ("1.0", 'v: "1.0"'),
    ("0x1F", 'v: "0x1F"'),
    ("0o17", 'v: "0o17"'),
    ("1_000", 'v: "1_000"'),
    ("1:20", 'v: "1:20"'),  # base 60, quoted for old parsers
    ("2024-01-01", 'v: "2024-01-01"'),
    (".inf", 'v: ".inf"'),
    ("1.2.3", "v: 1.2.3"),
    (">4.0.0", "v: '>4.0.0'"),  # the emitter's own fallback: single quotes
    ("a: b", "v: 'a: b'"),
    ("oci://ghcr.io/x", "v: oci://ghcr.io/x"),
], ids=lambda v: repr(v))
def test_strings_are_quoted_as_go_yaml_quotes_them(value: str, line: str) -> None:
    assert goyaml.dump({"v": value}) == line + "\n"


def test_multiline_strings_use_literal_style() -> None:
    assert goyaml.dump({"v": "a\nb\n"}) == "v: |\n  a\n  b\n"


@pytest.mark.parametrize(("number", "text"), [
    (1.0, "1"), (3.0, "3"), (0.5, "0.5"), (123456.5, "123456.5"), (1234567.5, "1.2345675e+06"),
    (0.0001, "0.0001"), (0.00001, "1e-05"), (1e21, "1e+21"), (-2.5, "-2.5"),
])
def test_floats_are_formatted_as_go_formats_them(number: float, text: str) -> None:
    assert goyaml.dump({"v": number}) == f"v: {text}\n"


def test_keys_in_go_yaml_natural_order() -> None:
    keys = ["key10", "key9", "Zed", "_under", "on", "a", "B", "a2", "a10", "a01"]
    dumped = goyaml.dump(dict.fromkeys(keys, 1))
    assert [line.split(":")[0].strip('"') for line in dumped.splitlines()] == [
        "_under", "B", "Zed", "a", "a01", "a2", "a10", "key9", "key10", "on"]


def test_collections_block_style_and_empty_ones_in_flow() -> None:
    data = {"list": [{"name": "a", "namespace": "b"}, "x"], "empty": {}, "none": [], "flag": True, "nothing": None}
    assert goyaml.dump(data) == ("empty: {}\nflag: true\nlist:\n- name: a\n  namespace: b\n- x\nnone: []\n"
                                 "nothing: null\n")


def test_export_is_a_document_with_a_leading_separator() -> None:
    assert goyaml.export({"kind": "X"}) == "---\nkind: X\n"
