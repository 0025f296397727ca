"""A HelmRelease's values, composed as helm-controller composes them (fluxcd/pkg chartutil
``ChartValuesFromReferences``): ``spec.valuesFrom`` merged in order, ``spec.values`` on top, then the references
with a ``targetPath`` set at their path (Helm's ``--set`` parser), each over everything else; the config digest is
the sha256 of the values as sorted YAML (chartutil ``DigestValues``).

Pure: the ConfigMaps and Secrets come from an injected ``lookup``, so the controller (reading the cluster) and
``sandbox build|diff helmrelease`` (reading a folder) share this one code path.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import helm_python as helm
import yaml

from sandbox.errors import InputError

Obj = dict[str, Any]
# (kind, namespace, name) -> the ConfigMap or Secret, or None when it does not exist
Lookup = Callable[[str, str, str], Obj | None]

DEFAULT_VALUES_KEY = "values.yaml"
CONFIG_MAP = "ConfigMap"
SECRET = "Secret"
# Values shorter than this would mask ordinary words of a message (as the Kustomization's substituteFrom scrubbing).
MIN_SECRET_LENGTH = 3
EMPTY_DIGEST = "sha256:" + hashlib.sha256(b"").hexdigest()

RESOURCE_NOT_FOUND = "resource not found"
KEY_NOT_FOUND = "key not found"
UNSUPPORTED_KIND = "unsupported values reference kind"
VALUES_DATA_READ = "failed to read values data"
VALUE_MERGE = "failed to merge value"


class ValuesReferenceError(InputError):
    """A ``valuesFrom`` reference that cannot be resolved, worded as chartutil's ErrValuesReference."""

    def __init__(self, reference: Mapping[str, Any], namespace: str, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.kind = str(reference.get("kind", ""))
        self.name = f"{namespace}/{reference.get('name', '')}"
        self.optional = bool(reference.get("optional"))
        self.missing = reason in (RESOURCE_NOT_FOUND, KEY_NOT_FOUND)
        words = "could not resolve" + (" optional" if self.optional else "")
        words += f" {self.kind}" if self.kind else ""
        words += f" chart values reference '{self.name}' with key '{values_key(reference)}'"
        super().__init__(f"{words}: {detail or reason}")


@dataclass(frozen=True)
class Values:
    """Composed values, their config digest, and the strings that came from Secrets (to scrub from messages)."""

    values: Obj
    digest: str
    secrets: frozenset[str] = field(default_factory=frozenset)
    # (kind, name) of every ConfigMap and Secret read (found or not): what a watch must follow
    references: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def scrub(self, text: str) -> str:
        """``text`` with every Secret-sourced string replaced by ``***`` (longest first)."""
        return scrub_all(text, self.secrets)


def values_key(reference: Mapping[str, Any]) -> str:
    return str(reference.get("valuesKey") or DEFAULT_VALUES_KEY)


def references(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of the ConfigMaps and Secrets ``spec.valuesFrom`` names, in order."""
    return [(str(ref.get("kind", "")), str(ref.get("name", ""))) for ref in spec.get("valuesFrom") or []]


def merge_maps(base: Mapping[str, Any], top: Mapping[str, Any]) -> Obj:
    """chartutil ``MergeMaps``: nested maps merge key by key; anything else in ``top`` replaces."""
    out: Obj = dict(base)
    for key, value in top.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = merge_maps(current, value)
        else:
            out[key] = value
    return out


def _read_data(obj: Obj, key: str) -> str | None:
    """The text at ``key`` of a ConfigMap's ``data`` or a Secret's ``data`` (base64) / ``stringData``."""
    if obj.get("kind") == SECRET or "stringData" in obj:
        string_data = obj.get("stringData") or {}
        if key in string_data:
            return str(string_data[key])
        encoded = (obj.get("data") or {}).get(key)
        if encoded is None:
            return None
        try:
            return base64.b64decode(str(encoded), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return str(encoded)
    data = obj.get("data") or {}
    return str(data[key]) if key in data else None


def _parse_values(text: str) -> Obj:
    """Helm's ReadValues: a YAML mapping (empty text is no values)."""
    loaded = yaml.safe_load(text) if text.strip() else None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(f"error unmarshaling JSON: json: cannot unmarshal {type(loaded).__name__} into Go value "
                         "of type map[string]interface {}")
    return {str(k): v for k, v in loaded.items()}


_LITERAL_ESCAPES = (("\\", "\\\\"), (",", "\\,"), ("[", "\\["), ("]", "\\]"), ("{", "\\{"), ("}", "\\}"))


def _merge_set(base: Any, parsed: Any) -> Any:
    """Set what a ``--set`` expression parsed (a fresh tree) into ``base`` the way strvals.ParseInto writes into
    existing values: maps key by key, list items by index (a None item, the parser's filler, keeps the old one)."""
    if isinstance(base, dict) and isinstance(parsed, dict):
        out = dict(base)
        for key, value in parsed.items():
            out[key] = _merge_set(base.get(key), value)
        return out
    if isinstance(base, list) and isinstance(parsed, list):
        merged = list(base) + [None] * max(0, len(parsed) - len(base))
        for index, value in enumerate(parsed):
            if value is not None:
                merged[index] = _merge_set(merged[index], value)
        return merged
    return parsed


def set_path(values: Obj, path: str, value: str, *, literal: bool = False) -> Obj:
    """chartutil ``ReplacePathValue`` / ``ReplacePathLiteralValue``: ``path=value`` through Helm's strvals parser
    (a quoted value and a literal one stay strings)."""
    if literal:
        for old, new in _LITERAL_ESCAPES:
            value = value.replace(old, new)
        parsed = helm.parse_set_string_values(f"{path}={value}")
    elif len(value) >= 1 and ((value.startswith("'") and value.endswith("'"))
                              or (value.startswith('"') and value.endswith('"'))):
        parsed = helm.parse_set_string_values(f"{path}={value.strip(chr(39) + chr(34))}")
    else:
        parsed = helm.parse_set_string(f"{path}={value}")
    result = _merge_set(values, parsed)
    assert isinstance(result, dict)
    return result


def _secret_strings(text: str, parsed: Any) -> set[str]:
    """The raw text of a Secret's values and every string leaf in it: what a message must never carry."""
    found = {text.strip()} if len(text.strip()) >= MIN_SECRET_LENGTH else set()
    stack = [parsed]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and len(item) >= MIN_SECRET_LENGTH:
            found.add(item)
            found.update(line.strip() for line in item.splitlines() if len(line.strip()) >= MIN_SECRET_LENGTH)
    return found


def compose_values(spec: Mapping[str, Any], namespace: str, lookup: Lookup) -> Values:
    """The values of a HelmRelease ``spec`` in ``namespace``; raises ValuesReferenceError for a reference that
    cannot be resolved (an ``optional`` one that is missing is skipped)."""
    result: Obj = {}
    secrets: set[str] = set()
    read: set[tuple[str, str]] = set()
    fetched: dict[tuple[str, str], Obj | None] = {}
    with_path: list[tuple[Mapping[str, Any], str]] = []
    for reference in spec.get("valuesFrom") or []:
        kind, name = str(reference.get("kind", "")), str(reference.get("name", ""))
        if kind not in (CONFIG_MAP, SECRET):
            raise ValuesReferenceError(reference, namespace, UNSUPPORTED_KIND)
        read.add((kind, name))
        if (kind, name) not in fetched:  # one version of each object, as upstream
            fetched[(kind, name)] = lookup(kind, namespace, name)
        obj = fetched[(kind, name)]
        if obj is None:
            if reference.get("optional"):
                continue
            raise ValuesReferenceError(reference, namespace, RESOURCE_NOT_FOUND)
        text = _read_data({**obj, "kind": kind}, values_key(reference))
        if text is None:
            if reference.get("optional"):
                continue
            raise ValuesReferenceError(reference, namespace, KEY_NOT_FOUND)
        if kind == SECRET:
            secrets.update(_secret_strings(text, None))
        if reference.get("targetPath"):
            with_path.append((reference, text))
            continue
        try:
            ref_values = _parse_values(text)
        except (yaml.YAMLError, ValueError) as err:
            # The parser's message may quote the text: never a Secret's.
            detail = f"{VALUES_DATA_READ}: {err}" if kind != SECRET else VALUES_DATA_READ
            raise ValuesReferenceError(reference, namespace, VALUES_DATA_READ, detail) from None
        if kind == SECRET:
            secrets.update(_secret_strings(text, ref_values))
        result = merge_maps(result, ref_values)
    result = merge_maps(result, spec.get("values") or {})
    if with_path:
        result = copy.deepcopy(result)
        for reference, text in with_path:
            try:
                result = set_path(result, str(reference["targetPath"]), text, literal=bool(reference.get("literal")))
            except helm.HelmError as err:
                detail = VALUE_MERGE if reference.get("kind") == SECRET else f"{VALUE_MERGE}: {err}"
                raise ValuesReferenceError(reference, namespace, VALUE_MERGE, detail) from None
    return Values(values=result, digest=digest_values(result), secrets=frozenset(secrets),
                  references=frozenset(read))


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def encode(values: Mapping[str, Any]) -> str:
    """The values as chartutil ``Encode(..., SortMapSlice)`` writes them: block YAML, keys sorted."""
    return yaml.safe_dump(_sorted(dict(values)), default_flow_style=False, sort_keys=False, allow_unicode=True,
                          width=1 << 30)


def digest_values(values: Mapping[str, Any] | None) -> str:
    """chartutil ``DigestValues(sha256, values)``: empty values digest as nothing."""
    if not values:
        return EMPTY_DIGEST
    return "sha256:" + hashlib.sha256(encode(values).encode()).hexdigest()


def scrub_all(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ``***`` (longest first)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text
