"""``postBuild`` variable substitution with Flux's semantics (fluxcd/pkg ``envsubst`` and ``kustomize`` varsub).

Supported expressions, as Flux's parser accepts them: ``${var}``, ``${var:=default}``, ``${var=default}``,
``${var:-default}`` (every default form uses the default when the variable is unset *or empty*), ``${#var}``,
``${var^}``, ``${var^^}``, ``${var,}``, ``${var,,}``, ``${var:offset}``, ``${var:offset:length}``,
``${var#glob}``, ``${var##glob}``, ``${var%glob}``, ``${var%%glob}``, ``${var/from/to}``, ``${var//from/to}``,
``${var/#from/to}``, ``${var/%from/to}``; defaults may nest (``${a:=${b}}``). ``$var`` without braces is left
alone and ``$${var}`` is written out as ``${var}``. Substitution works on the YAML text kustomize printed, so
``"${port}"`` stays a string while an unquoted ``${replicas}`` becomes a number.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from sandbox.reconciler.kustomize import manifest
from sandbox.reconciler.kustomize.errors import SubstitutionError
from sandbox.reconciler.kustomize.manifest import Manifest, Obj

VARIABLE_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
VARIABLE_NAME_RULE = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"  # as Flux prints it in its error
DISABLED_KEY = "kustomize.toolkit.fluxcd.io/substitute"
DISABLED_VALUE = "disabled"

# kustomize-controller turned the StrictPostBuildSubstitutions feature gate on by default in v1.9.0: a
# ${var} without a default that no variable provides fails the build instead of becoming "".
STRICT_BY_DEFAULT = True

# Operators that supply their own value when the variable is unset; strict mode lets them through.
_DEFAULT_OPERATORS = frozenset({"-", "+", "=", "?", ":-", ":+", ":=", ":?"})


# --- the expression language ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Text:
    value: str


@dataclass(frozen=True)
class _Expression:
    operator: str  # "" for ${var}; otherwise ":=", "/", "##", ...
    variable: str
    arguments: tuple[_Text | _Expression, ...]
    offset: int  # where ``${`` starts, for messages


_Node = _Text | _Expression


class BadSubstitution(Exception):
    """A ``${...}`` expression Flux's parser rejects."""

    def __init__(self, problem: str, offset: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.offset = offset


class UnsetVariable(Exception):
    """Strict mode: an expression reads a variable nobody set and gives no default."""

    def __init__(self, variable: str, offset: int) -> None:
        super().__init__(variable)
        self.variable = variable
        self.offset = offset


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def fail(self, problem: str) -> BadSubstitution:
        return BadSubstitution(problem, self.pos)

    def template(self) -> list[_Node]:
        nodes: list[_Node] = []
        chunks: list[str] = []
        text = self.text
        while self.pos < len(text):
            dollar = text.find("$", self.pos)
            if dollar < 0:
                chunks.append(text[self.pos:])
                break
            chunks.append(text[self.pos:dollar])
            self.pos = dollar
            if text.startswith("${", dollar):
                if chunks:
                    nodes.append(_Text("".join(chunks)))
                    chunks = []
                self.pos += 2
                nodes.append(self.expression(dollar))
            elif text.startswith("$$", dollar):
                chunks.append("$")  # "$$" is an escaped dollar: "$${var}" prints "${var}"
                self.pos += 2
            else:
                chunks.append("$")
                self.pos += 1
        if chunks:
            nodes.append(_Text("".join(chunks)))
        return nodes

    def identifier(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        return self.text[start:self.pos]

    def close(self, offset: int, variable: str, operator: str,
              arguments: tuple[_Node, ...] = ()) -> _Expression:
        if self.peek() != "}":
            raise self.fail("bad substitution")
        self.pos += 1
        return _Expression(operator, variable, arguments, offset)

    def expression(self, offset: int) -> _Expression:
        if self.peek() == "#":
            self.pos += 1
            name = self.identifier()
            if not name:
                raise self.fail("bad substitution")
            return self.close(offset, name, "#")
        name = self.identifier()
        if not name:
            raise self.fail("unable to parse variable name")
        char = self.peek()
        if char == ":":
            if self.peek(1) and self.peek(1) in "=-?+":
                operator = ":" + self.peek(1)
                self.pos += 2
                return self.defaults(offset, name, operator)
            self.pos += 1
            position = self.parameter(stop=":}", escapes=False)
            if self.peek() == ":":
                self.pos += 1
                length = self.parameter(stop="}", escapes=False)
                return self.close(offset, name, ":", (position, length))
            return self.close(offset, name, ":", (position,))
        if char == "=":
            self.pos += 1
            return self.defaults(offset, name, "=")
        if char and char in ",^":
            operator = self.operator(",^")
            return self.close(offset, name, operator)
        if char == "/":
            self.pos += 1
            operator = "/"
            if self.peek() and self.peek() in "/#%":
                operator += self.peek()
                self.pos += 1
            pattern = _Text("") if self.peek() == "/" else self.parameter(stop="/", escapes=True)
            if self.peek() != "/":
                raise self.fail("bad substitution")
            self.pos += 1
            if self.peek() == "}":
                return self.close(offset, name, operator, (pattern,))
            replacement = self.parameter(stop="}", escapes=True)
            return self.close(offset, name, operator, (pattern, replacement))
        if char and char in "#%":
            operator = self.operator(char)
            return self.close(offset, name, operator, (self.parameter(stop="}", escapes=False),))
        if char == "}":
            self.pos += 1
            return _Expression("", name, (), offset)
        raise self.fail("missing closing brace")

    def operator(self, characters: str) -> str:
        start = self.pos
        while self.pos - start < 2 and self.peek() and self.peek() in characters:
            self.pos += 1
        return self.text[start:self.pos]

    def defaults(self, offset: int, name: str, operator: str) -> _Expression:
        arguments: list[_Node] = []
        while self.peek() != "}":
            arguments.append(self.parameter(stop="}", escapes=False))
        self.pos += 1
        return _Expression(operator, name, tuple(arguments), offset)

    def parameter(self, *, stop: str, escapes: bool) -> _Node:
        """One argument: a nested ``${...}`` or a run of text up to ``stop`` (or the next ``${``)."""
        text = self.text
        if text.startswith("${", self.pos):
            offset = self.pos
            self.pos += 2
            return self.expression(offset)
        chars: list[str] = []
        while self.pos < len(text) and not text.startswith("${", self.pos):
            char = text[self.pos]
            following = self.peek(1)
            if escapes and ((char == "$" and following == "$") or (char == "\\" and following in ("/", "\\"))):
                chars.append(following)
                self.pos += 2
                continue
            if char in stop:
                break
            chars.append(char)
            self.pos += 1
        if not chars:
            raise self.fail("unable to parse substitution within function")
        return _Text("".join(chars))


def _glob(pattern: str) -> re.Pattern[str] | None:
    """Flux's shell pattern as a regex (``*`` and ``?`` match any character, ``/`` included); None when the
    pattern is malformed, in which case the trim functions leave the value alone, as Flux does."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\":
            index += 1
            if index >= len(pattern):
                return None
            out.append(re.escape(pattern[index]))
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                return None
            body = pattern[index + 1:end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            if not body:
                return None
            escaped = "".join(c if c == "-" else re.escape(c) for c in body)
            out.append(f"[{'^' if negate else ''}{escaped}]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    try:
        return re.compile("".join(out), re.S)
    except re.error:
        return None


def _trim_prefix(value: str, pattern: str, *, longest: bool) -> str:
    regex = _glob(pattern)
    if regex is None:
        return value
    # Candidate prefixes from the longest to the shortest non-empty one.
    matches = [end for end in range(len(value), 0, -1) if regex.fullmatch(value[:end])]
    if not matches:
        return value
    return value[(matches[0] if longest else matches[-1]):]


def _trim_suffix(value: str, pattern: str, *, longest: bool) -> str:
    # Flux reverses the value and the pattern and trims a prefix; do the same, quirks included.
    return _trim_prefix(value[::-1], pattern[::-1], longest=longest)[::-1]


def _substring(value: str, args: Sequence[str]) -> str:
    data = value.encode()  # offsets count bytes, as in Go
    integer = re.compile(r"^[+-]?[0-9]+$")
    if not args or not integer.match(args[0]):
        return value
    position = int(args[0])
    if position < 0:
        position = max(len(data) + position, 0)
    if len(args) == 1:
        return data[position:].decode(errors="replace") if position < len(data) else ""
    if not integer.match(args[1]):
        return value
    length = int(args[1])
    if length < 0:
        end = len(data) + length
        return "" if end < position else data[position:end].decode(errors="replace")
    if position + length >= len(data):
        return data[position:].decode(errors="replace") if position < len(data) else ""
    return data[position:position + length].decode(errors="replace")


def _replace_prefix(value: str, args: Sequence[str]) -> str:
    if len(args) != 2 or not value.startswith(args[0]):
        return value
    return args[1] + value[len(args[0]):]


def _replace_suffix(value: str, args: Sequence[str]) -> str:
    if len(args) != 2 or not value.endswith(args[0]):
        return value
    return value[:len(value) - len(args[0])] + args[1]


def _replace(value: str, args: Sequence[str], count: int) -> str:
    if not args:
        return value
    return value.replace(args[0], args[1] if len(args) > 1 else "", count)


def _default(value: str, args: Sequence[str]) -> str:
    return "".join(args) if not value and args else value


def _function(operator: str, arity: int) -> Callable[[str, Sequence[str]], str]:
    simple: dict[str, Callable[[str, Sequence[str]], str]] = {
        ",": lambda v, a: v[:1].lower() + v[1:],
        ",,": lambda v, a: v.lower(),
        "^": lambda v, a: v[:1].upper() + v[1:],
        "^^": lambda v, a: v.upper(),
        "##": lambda v, a: _trim_prefix(v, a[0], longest=True) if a else v,
        "%": lambda v, a: _trim_suffix(v, a[0], longest=False) if a else v,
        "%%": lambda v, a: _trim_suffix(v, a[0], longest=True) if a else v,
        ":": _substring,
        "/#": _replace_prefix,
        "/%": _replace_suffix,
        "/": lambda v, a: _replace(v, a, 1),
        "//": lambda v, a: _replace(v, a, -1),
    }
    if operator == "#":
        if arity == 0:
            return lambda v, a: str(len(v.encode()))
        return lambda v, a: _trim_prefix(v, a[0], longest=False)
    return simple.get(operator, _default)


def _evaluate(nodes: Iterable[_Node], lookup: Callable[[str], str | None], strict: bool) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, _Text):
            parts.append(node.value)
            continue
        arguments = [_evaluate((argument,), lookup, strict) for argument in node.arguments]
        value = lookup(node.variable)
        if value is None:
            if strict and node.operator not in _DEFAULT_OPERATORS:
                raise UnsetVariable(node.variable, node.offset)
            value = ""
        parts.append(_function(node.operator, len(arguments))(value, arguments))
    return "".join(parts)


def expand(text: str, variables: Mapping[str, str], *, strict: bool = STRICT_BY_DEFAULT) -> str:
    """Expand every ``${...}`` in ``text``. Raises ``BadSubstitution`` for expressions Flux cannot parse and,
    in strict mode, ``UnsetVariable`` for a variable that is not set and has no default."""
    if "$" not in text:
        return text
    return _evaluate(_Parser(text).template(), variables.get, strict)


# --- where variables come from ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SubstituteReference:
    """One ``spec.postBuild.substituteFrom`` entry: a ConfigMap or Secret in the Kustomization's namespace."""

    kind: str
    name: str
    optional: bool = False


@dataclass(frozen=True)
class Variables:
    """The merged variables; ``secret_values`` lets messages be masked and never reaches any output."""

    values: Mapping[str, str] = field(default_factory=dict)
    secret_values: frozenset[str] = frozenset()

    def mask(self, text: str) -> str:
        for secret in sorted(self.secret_values, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text


def references(spec: Mapping[str, Any]) -> list[SubstituteReference]:
    """The ``substituteFrom`` references of a Kustomization spec, in order."""
    post_build = spec.get("postBuild") or {}
    result: list[SubstituteReference] = []
    for index, item in enumerate(post_build.get("substituteFrom") or []):
        if not isinstance(item, dict) or item.get("kind") not in ("ConfigMap", "Secret") or not item.get("name"):
            raise SubstitutionError(f"spec.postBuild.substituteFrom[{index}] needs kind ConfigMap or Secret and a "
                                    "name")
        result.append(SubstituteReference(item["kind"], str(item["name"]), bool(item.get("optional", False))))
    return result


def load_variables(spec: Mapping[str, Any], fetched: Mapping[tuple[str, str], Obj | None]) -> Variables:
    """Merge the variables as Flux does: ``substituteFrom`` in order (later references win), then the inline
    ``substitute`` map on top; newlines are removed from values.

    ``fetched`` maps ``(kind, name)`` of each reference to the object read from the cluster, or None when it
    does not exist. A missing reference is an error unless it is ``optional``. Names must match Flux's
    variable-name rule.
    """
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    secrets: set[str] = set()
    for reference in references(spec):
        obj = fetched.get((reference.kind, reference.name))
        where = f"{reference.kind}/{reference.name}"
        if obj is None:
            if reference.optional:
                continue
            raise SubstitutionError(f"substitute from '{where}' error: {reference.kind} {reference.name!r} not "
                                    "found in the Kustomization's namespace; create it, or mark the reference "
                                    "optional: true")
        for key, value in _data_of(reference, obj).items():
            values[key] = value.replace("\n", "")
            origins[key] = f"{where} key {key!r}"
            if reference.kind == "Secret" and values[key]:
                secrets.add(values[key])
    post_build = spec.get("postBuild") or {}
    for key, value in (post_build.get("substitute") or {}).items():
        values[str(key)] = str(value).replace("\n", "")
        origins[str(key)] = f"spec.postBuild.substitute key {str(key)!r}"
    for key in values:
        if not VARIABLE_NAME.match(key):
            raise SubstitutionError(f"'{key}' var name is invalid, must match '{VARIABLE_NAME_RULE}' "
                                    f"(from {origins[key]}); variable names are letters, digits and _")
    return Variables(values=values, secret_values=frozenset(secrets))


def _data_of(reference: SubstituteReference, obj: Obj) -> dict[str, str]:
    data = obj.get("data") or {}
    if reference.kind == "ConfigMap":
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    result: dict[str, str] = {}
    for key, encoded in data.items():
        try:
            result[str(key)] = base64.b64decode(str(encoded or ""), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError) as err:
            raise SubstitutionError(f"substitute from 'Secret/{reference.name}' error: key {key!r} is not valid "
                                    "base64") from err
    for key, value in (obj.get("stringData") or {}).items():
        result[str(key)] = str(value)
    return result


# --- substituting a build ---------------------------------------------------------------------------------

def is_disabled(obj: Obj) -> bool:
    """True when the object opts out with the ``kustomize.toolkit.fluxcd.io/substitute: disabled`` label or
    annotation."""
    return (manifest.string_map(obj, "labels").get(DISABLED_KEY) == DISABLED_VALUE
            or manifest.string_map(obj, "annotations").get(DISABLED_KEY) == DISABLED_VALUE)


def should_substitute(spec: Mapping[str, Any], variables: Variables) -> bool:
    """Flux substitutes only when ``postBuild`` is set and at least one variable resolved, unless
    ``substituteStrategy: Always``."""
    post_build = spec.get("postBuild")
    if not isinstance(post_build, dict):
        return False
    return bool(variables.values) or post_build.get("substituteStrategy") == "Always"


def substitute(manifests: Sequence[Manifest], spec: Mapping[str, Any], variables: Variables, *,
               strict: bool = STRICT_BY_DEFAULT) -> list[Obj]:
    """The built objects after ``postBuild`` substitution (unchanged when Flux would not substitute).

    Raises ``SubstitutionError`` naming the object, the line and the variable or problem; values are never
    part of a message.
    """
    if not should_substitute(spec, variables):
        return [item.obj for item in manifests]
    return [_substitute_one(item, variables, strict) for item in manifests]


def _substitute_one(item: Manifest, variables: Variables, strict: bool) -> Obj:
    if is_disabled(item.obj) or "$" not in item.text:
        return item.obj
    where = f"post build failed for '{item.subject}'"
    try:
        text = expand(item.text, variables.values, strict=strict)
    except UnsetVariable as err:
        line = _line(item.text, err.offset)
        raise SubstitutionError(
            f"{where}: variable not set (strict mode): \"{err.variable}\" (line {line} of the built object); "
            f"set it in spec.postBuild.substitute or substituteFrom, or give a default: "
            f"${{{err.variable}:=value}}") from None
    except BadSubstitution as err:
        line = _line(item.text, err.offset)
        raise SubstitutionError(f"{where}: {err.problem} at line {line} of the built object; write $${{...}} "
                                "for a literal ${...}") from None
    if text == item.text:
        return item.obj
    try:
        obj = manifest.load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise SubstitutionError(variables.mask(
            f"{where}: the YAML is invalid after substitution{at}: {problem}; a value that contains YAML "
            "syntax needs quotes around the ${...} expression")) from None
    if not isinstance(obj, dict):
        raise SubstitutionError(f"{where}: the object is no longer a YAML mapping after substitution")
    return obj


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
