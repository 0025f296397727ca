"""CEL expressions as Flux evaluates them (fluxcd/pkg ``runtime/cel``): parsed once, evaluated against plain dicts,
and every failure a typed error whose message quotes the expression in Flux's words.

The engine is PyPI ``common-expression-language`` (cel-rust), with cel-go's ``strings``, ``sets`` and ``encoders``
extension functions that Flux's environment enables. Flux also enables optional field selection (``a.?b``); the
engine cannot parse it, so such an expression is a parse error that says so and suggests ``has()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel
from cel import stdlib

from sandbox.errors import InputError, SandboxError

# The extension libraries Flux's CEL environment loads (ext.Strings, ext.Sets, ext.Encoders).
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: function for library in ("strings", "sets", "encoders")
    for name, function in stdlib.EXTENSIONS[library].items()
}
_ENGINE_PREFIX = re.compile(r"^Failed to parse expression '.*?': ", re.S)
# Identifiers a comprehension macro binds (``list.all(x, …)``): references to them are not free variables.
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|existsOne|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")
_OPTIONAL_HINT = ("; optional field selection (`.?`, `optional.of`) is not supported by the sandbox's CEL engine: "
                  "guard the field with has() instead, e.g. `has(status.conditions) && status.conditions.exists(…)`")


class CELError(SandboxError):
    """A CEL expression could not be used; ``expression`` is its source text."""

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


class CELParseError(CELError, InputError):
    """The expression is not valid CEL (or names a variable that is not declared): a configuration error."""


class CELEvaluationError(CELError):
    """The expression failed on this data (a missing key, a type mismatch, a result that is not a bool)."""


@dataclass(frozen=True)
class Expression:
    """A parsed CEL expression, evaluated as often as needed."""

    source: str
    _program: Any = field(repr=False, compare=False)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value of the expression with ``variables`` bound (an object's top-level fields, or named objects)."""
        context = cel.Context(variables=dict(variables), functions=_FUNCTIONS)
        try:
            return self._program.execute(context)
        except KeyError as err:  # cel-go's wording for a field that is not there
            detail = f"no such key: {err.args[0] if err.args else err}"
        except Exception as err:  # the engine raises plain built-in errors: all are evaluation errors
            detail = str(err) or type(err).__name__
        raise CELEvaluationError(f"failed to evaluate the CEL expression '{self.source}': {detail}", self.source)

    def evaluate_bool(self, variables: Mapping[str, Any]) -> bool:
        """As ``evaluate``, for an expression that must yield a bool (anything else is an evaluation error)."""
        value = self.evaluate(variables)
        if not isinstance(value, bool):
            raise CELEvaluationError(f"failed to evaluate CEL expression as boolean: '{self.source}'", self.source)
        return value


def parse(source: str) -> Expression:
    """Check the syntax of ``source`` (as Flux's NewExpression without compiling: names are resolved only when
    it is evaluated). Raises CELParseError with the engine's position and caret."""
    try:
        program = cel.compile(source)
    except Exception as err:  # the engine reports syntax errors as ValueError
        detail = _ENGINE_PREFIX.sub("", str(err)).strip()
        if "'.?'" in detail or "optional." in source:
            detail += _OPTIONAL_HINT
        raise CELParseError(f"failed to parse the CEL expression '{source}': {detail}", source) from err
    return Expression(source, program)


def compile_with(source: str, variables: Iterable[str]) -> Expression:
    """Parse ``source`` and check that it refers to no variable but ``variables`` (as Flux's WithCompile and
    WithStructVariables), so a misspelt name is a configuration error rather than a failure at each evaluation."""
    expression = parse(source)
    declared = set(variables) | set(_BOUND.findall(source))
    undeclared = sorted(set(expression._program.variables()) - declared)
    if undeclared:
        names = ", ".join(f"'{name}'" for name in undeclared)
        raise CELParseError(f"failed to parse the CEL expression '{source}': ERROR: <input>: undeclared reference to "
                            f"{names} (declared: {', '.join(sorted(set(variables)))})", source)
    return expression
