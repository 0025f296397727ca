"""A Receiver's CEL filters (``spec.resourceFilter`` and each ``spec.resources[].filter``), as notification-controller
evaluates them: once per matched object, with the object's metadata as ``res`` and the JSON request body as ``req``;
an object is annotated only when every filter set returns true."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sandbox.errors import SandboxError
from sandbox.reconciler.runtime import cel

Obj = dict[str, Any]
VARIABLES = ("res", "req")
OIDC_VARIABLES = ("res", "req", "claims")  # generic-oidc: the verified token's claims too


class RequestBodyError(SandboxError):
    """A JSON request body a filter needs could not be decoded."""


@dataclass(frozen=True)
class Filters:
    """The parsed filters of one Receiver: ``top`` applies to every resource, ``per_resource[i]`` to entry i."""

    top: cel.Expression | None
    per_resource: tuple[cel.Expression | None, ...]

    @property
    def any(self) -> bool:
        return self.top is not None or any(f is not None for f in self.per_resource)

    def for_resource(self, index: int) -> tuple[cel.Expression, ...]:
        own = self.per_resource[index] if index < len(self.per_resource) else None
        return tuple(f for f in (self.top, own) if f is not None)


def compile_filters(spec: Obj) -> Filters:
    """Parse every filter of a Receiver spec; raises ``cel.CELParseError`` naming the field when one is invalid
    or refers to a variable other than ``res`` and ``req`` (and ``claims`` for ``generic-oidc``)."""
    variables = OIDC_VARIABLES if spec.get("type") == "generic-oidc" else VARIABLES
    top_source = str(spec.get("resourceFilter") or "")
    top = _compile(top_source, "spec.resourceFilter", variables) if top_source else None
    per_resource = []
    for index, resource in enumerate(spec.get("resources") or []):
        source = str(resource.get("filter") or "")
        per_resource.append(_compile(source, f"spec.resources[{index}].filter", variables) if source else None)
    return Filters(top, tuple(per_resource))


def _compile(source: str, field: str, variables: tuple[str, ...]) -> cel.Expression:
    try:
        return cel.compile_with(source, variables)
    except cel.CELParseError as err:
        raise cel.CELParseError(f"{field}: {err}", source) from err


def request_variable(headers: dict[str, str], body: bytes) -> Obj:
    """``req``: the body decoded as a JSON object when the Content-Type lists ``application/json``, else empty.
    Like Go's ``json.Decoder`` only the first JSON value counts. Raises RequestBodyError for an undecodable body."""
    if not _is_json(headers.get("content-type", "")):
        return {}
    try:
        value, _ = json.JSONDecoder().raw_decode(body.decode().lstrip())
    except (UnicodeDecodeError, ValueError) as err:
        raise RequestBodyError(f"failed to parse request body as JSON: {err}") from err
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestBodyError(f"failed to parse request body as JSON: a {type(value).__name__} is not an object")
    return value


def _is_json(content_type: str) -> bool:
    for part in content_type.split(","):
        media_type = part.split(";", 1)[0].strip().lower()
        if not media_type:
            return False
        if media_type == "application/json":
            return True
    return False


def resource_variable(obj: Obj) -> Obj:
    """``res``: the object as Kubernetes' PartialObjectMetadata (apiVersion, kind, metadata), no spec or status."""
    return {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
            "metadata": obj.get("metadata") or {}}


def accepts(filters: tuple[cel.Expression, ...], obj: Obj, req: Obj, claims: Obj | None = None) -> bool:
    """Whether every filter returns true for ``obj``; raises ``cel.CELEvaluationError`` (a missing key, a result
    that is not a bool) as notification-controller fails the request."""
    variables = {"res": resource_variable(obj), "req": req, **({"claims": claims} if claims is not None else {})}
    return all(expression.evaluate_bool(variables) for expression in filters)
