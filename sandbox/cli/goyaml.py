"""YAML exactly as the Flux CLI prints it (``sigs.k8s.io/yaml.Marshal``: JSON, then go-yaml v2): keys in go-yaml's
natural order, strings quoted the way go-yaml quotes them, numbers as Go formats them. Used by ``--export``."""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal
from typing import Any

import yaml

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"

# go-yaml v2's resolve table (YAML 1.1): these words are never plain strings.
_WORDS = {
    **dict.fromkeys(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
                     "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"], _BOOL),
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], _NULL),
    **dict.fromkeys([".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                     "-.inf", "-.Inf", "-.INF"], _FLOAT),
    "<<": "tag:yaml.org,2002:merge",
}
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_BASE60_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_TIMESTAMPS = (
    re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[Tt]\d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?(Z|[-+]\d{2}:\d{2})$"),
    re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?$"),
    re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$"),
)
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")


def resolve(value: str) -> str:
    """The tag go-yaml v2 gives ``value`` written plain (a trimmed port of its ``resolve``)."""
    if value in _WORDS:
        return _WORDS[value]
    first = value[0]
    if first == ".":
        return _FLOAT if _YAML_FLOAT.match(value) else _STR
    if not (first.isdigit() and first.isascii()) and first not in "+-":
        return _STR
    if any(pattern.match(value) for pattern in _TIMESTAMPS):
        return _TIMESTAMP
    plain = value.replace("_", "")
    if _GO_INT.match(plain):
        return _INT
    if _YAML_FLOAT.match(plain):
        return _FLOAT
    return _STR


def go_float(number: float) -> str:
    """``strconv.FormatFloat(f, 'g', -1, 64)`` with go-yaml's spellings of infinities and NaN."""
    if math.isnan(number):
        return ".nan"
    if math.isinf(number):
        return ".inf" if number > 0 else "-.inf"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)) or "0"
    if text == "0":
        return "-0" if sign else "0"
    point = len(text) + exponent  # digits before the decimal point
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    elif point <= 0:
        out = "0." + "0" * -point + text
    elif point >= len(text):
        out = text + "0" * (point - len(text))
    else:
        out = text[:point] + "." + text[point:]
    return ("-" if sign else "") + out


def _letter(char: str) -> bool:
    return char.isalpha()


def _key_less(a: str, b: str) -> bool:
    """go-yaml v2's ``keyList.Less`` for string keys: letters by code point, digit runs by value."""
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            continue
        a_letter, b_letter = _letter(a[i]), _letter(b[i])
        if a_letter and b_letter:
            return a[i] < b[i]
        if a_letter or b_letter:
            return b_letter
        a_num = b_num = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    a_num = b_num = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            a_num = a_num * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            b_num = b_num * 10 + int(b[bi])
            bi += 1
        if a_num != b_num:
            return a_num < b_num
        if ai != bi:
            return ai < bi
        return a[i] < b[i]
    return len(a) < len(b)


def _compare(a: str, b: str) -> int:
    return -1 if _key_less(a, b) else (1 if _key_less(b, a) else 0)


def _json_number(number: float) -> int | float:
    """What a float64 becomes after encoding/json and go-yaml's decoding: an integral value below 1e21 is written
    with its shortest digits and read back as an int (when it fits an int64 or uint64)."""
    if math.isfinite(number) and abs(number) < 1e21 and number == int(number):
        whole = int(Decimal(repr(number)))
        if -(2**63) <= whole < 2**64:
            return whole
    return number


class _Dumper(yaml.SafeDumper):
    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return resolve(value)
        if kind is yaml.ScalarNode:
            return _STR
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call,no-any-return]


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        style: str | None = "|"
    elif resolve(value) != _STR or _BASE60_FLOAT.match(value):
        style = '"'
    else:
        style = None
    return dumper.represent_scalar(_STR, value, style=style)


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    number = _json_number(value)
    if isinstance(number, int):
        return dumper.represent_scalar(_INT, str(number))
    return dumper.represent_scalar(_FLOAT, go_float(number))


def _represent_dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    keys = sorted((str(k) for k in value), key=functools.cmp_to_key(_compare))
    return dumper.represent_mapping("tag:yaml.org,2002:map", [(k, value[k]) for k in keys])


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(float, _represent_float)
_Dumper.add_representer(dict, _represent_dict)


_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_OCTAL = re.compile(r"^[-+]?0[0-7]+$")


class _Loader(yaml.SafeLoader):
    """go-yaml v2's reading of plain scalars (its resolve table; timestamps stay strings)."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = resolve(value)
            return _STR if tag == _TIMESTAMP else tag
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call,no-any-return]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Keys made strings as they are read: ``1`` and ``true`` are two keys, as in Go."""
        self.flatten_mapping(node)
        return {_key(self.construct_object(key, deep=deep)): self.construct_object(value, deep=deep)
                for key, value in node.value}


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return str(node.value) in _TRUE


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    plain = str(node.value).replace("_", "")
    return int(plain, 8) if _OCTAL.match(plain) else int(plain, 0)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    plain = str(node.value).replace("_", "").lower()
    return float(plain.replace(".inf", "inf").replace(".nan", "nan"))


_Loader.add_constructor(_BOOL, _construct_bool)
_Loader.add_constructor(_INT, _construct_int)
_Loader.add_constructor(_FLOAT, _construct_float)


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        return go_float(key)
    return str(key)


def _json(data: Any) -> Any:
    """As encoding/json leaves it in a map[string]interface{}: string keys, every number a float64."""
    if isinstance(data, dict):
        return {_key(k): _json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_json(item) for item in data]
    if isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    return data


def load(text: str) -> Any:
    """YAML as ``sigs.k8s.io/yaml.YAMLToJSON`` and ``json.Unmarshal`` into ``interface{}`` read it (flux create
    reads ``--values`` files so): YAML 1.1 words as go-yaml knows them, timestamps as strings, numbers as float64."""
    return _json(yaml.load(text, Loader=_Loader))


def dump(data: Any) -> str:
    """``data`` (JSON-like: dicts, lists, strings, numbers, booleans, None) as ``sigs.k8s.io/yaml.Marshal``
    writes it."""
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, allow_unicode=True, sort_keys=False, width=80)


def export(manifest: dict[str, Any]) -> str:
    """As ``flux create … --export`` prints one object: ``---``, the YAML, a newline."""
    return "---\n" + dump(manifest).strip() + "\n"
