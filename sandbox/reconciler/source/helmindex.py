"""Helm repository indexes and chart version selection as source-controller reads them (its
internal/helm/repository): parse an ``index.yaml`` (JSON or YAML), drop invalid entries, sort each chart's versions
newest first, and pick the version a ``spec.version`` names — an exact version first, else the newest match of the
Masterminds constraint (``*`` or empty: the newest stable). Pure logic."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import yaml

from sandbox.errors import InputError
from sandbox.reconciler.source.semver import Constraints, SemverError, Version, parse_version

Obj = dict[str, Any]
MAX_INDEX_SIZE = 50 * 1024 * 1024  # source-controller's default --helm-index-max-size
OCI_SCHEME = "oci://"
# Helm's chart name rule (RemoteReference.Validate)
_CHART_NAME = re.compile(r"^([-a-z0-9]+/?\.?)+\Z")


class IndexError_(InputError):  # noqa: N801 - IndexError is a builtin
    """An index that cannot be loaded (Helm's words)."""


class ReferenceError_(InputError):  # noqa: N801 - ReferenceError is a builtin
    """The chart or version a HelmChart names is not in the repository (``ErrReference``: persistent)."""


def normalize_url(url: str) -> str:
    """``repository.NormalizeURL``: an HTTP repository URL with exactly one trailing ``/``; an OCI one without."""
    if not url:
        return ""
    parts = urlsplit(url)
    if url.startswith(OCI_SCHEME):
        return urlunsplit(parts._replace(path=parts.path.rstrip("/")))
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/"))


def index_url(repository_url: str) -> str:
    """Where the index of a repository is (``DownloadIndex``: ``index.yaml`` joined to the URL's path)."""
    parts = urlsplit(repository_url)
    path = parts.path.rstrip("/") + "/index.yaml"
    return urlunsplit(parts._replace(path=path))


def chart_url(repository_url: str, reference: str) -> str:
    """``repo.ResolveReferenceURL``: an entry's URL, absolute or relative to the repository URL."""
    if urlsplit(reference).scheme:
        return reference
    parts = urlsplit(repository_url)
    # Helm resolves against the repository URL with a trailing slash and keeps its query (e.g. a token).
    base = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/", query=""))
    resolved = urlsplit(urljoin(base, reference))
    return urlunsplit(resolved._replace(query=resolved.query or parts.query))


@dataclass(frozen=True)
class ChartVersion:
    """One entry of an index (or an OCI tag): the chart's name, version and where to download it."""

    name: str
    version: str
    urls: tuple[str, ...]
    digest: str = ""
    created: str = ""


def parse_index(data: bytes) -> Obj:
    """``IndexFromBytes``: the index as a dict, entries without a valid name and version dropped and each chart's
    versions sorted newest first. Raises IndexError_ with Helm's message."""
    if not data:
        raise IndexError_("empty index.yaml file")
    if len(data) > MAX_INDEX_SIZE:
        raise IndexError_(f"index exceeds the maximum index file size of {MAX_INDEX_SIZE} bytes")
    try:
        document = json.loads(data)
    except ValueError:
        try:
            # Public indexes run to tens of megabytes: libyaml's loader when it is there.
            document = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as err:
            raise IndexError_(f"error converting YAML to JSON: {err}") from err
    if not isinstance(document, dict):
        raise IndexError_("error unmarshaling JSON: the index is not a mapping")
    if not document.get("apiVersion"):
        raise IndexError_("no API version specified")
    entries = document.get("entries") or {}
    if not isinstance(entries, dict):
        raise IndexError_("error unmarshaling JSON: 'entries' is not a mapping")
    cleaned: dict[str, list[Obj]] = {}
    for name, versions in entries.items():
        valid = [dict(item) for item in (versions or []) if isinstance(item, dict) and _valid_entry(item)]
        for item in valid:
            item.setdefault("apiVersion", "v1")
        cleaned[str(name)] = sort_newest_first(valid)
    return {**document, "entries": cleaned}


def _valid_entry(item: Obj) -> bool:
    """Helm's ``Metadata.Validate`` in short: a name and a semver version."""
    if not item.get("name") or not item.get("version"):
        return False
    try:
        Version.parse(str(item["version"]))
    except SemverError:
        return False
    return True


def sort_newest_first(versions: list[Obj]) -> list[Obj]:
    """``IndexFile.SortEntries``: highest version first; versions that do not parse go last."""
    def key(item: Obj) -> tuple[int, Version]:
        try:
            return 1, Version.parse(str(item.get("version", "")))
        except SemverError:
            return 0, Version(0, 0, 0)

    return sorted(versions, key=key, reverse=True)


def to_json(index: Obj) -> bytes:
    """The index as stored for HelmCharts (source-controller stores it as indented JSON)."""
    return json.dumps(index, indent=2, default=_json_default).encode()


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def validate_chart_name(name: str) -> None:
    """``RemoteReference.Validate``; raises ReferenceError_."""
    if not name:
        raise ReferenceError_("no name set for remote chart reference")
    if not _CHART_NAME.match(name):
        raise ReferenceError_(f"invalid chart name '{name}': a valid name must be lower case letters and numbers "
                              "and MAY be separated with dashes (-), slashes (/) or periods (.)")


def _constraint(version: str) -> Constraints:
    try:
        return Constraints.parse(version if version and version != "*" else "*")
    except SemverError as err:
        raise ReferenceError_(str(err)) from err


def chart_version(index: Obj, name: str, version: str) -> ChartVersion:
    """``getChartVersion``: the entry of chart ``name`` that ``version`` names. Raises ReferenceError_."""
    versions = (index.get("entries") or {}).get(name)
    if versions is None:
        raise ReferenceError_("no chart name found")
    if not versions:
        raise ReferenceError_("no chart version found")
    if version:
        for item in versions:
            if str(item.get("version")) == version:
                return _entry(item)
    constraint = _constraint(version)
    matches: list[tuple[Version, str, Obj]] = []
    for item in versions:
        try:
            parsed = parse_version(str(item.get("version", "")))
        except SemverError:
            continue
        if constraint.check(parsed):
            matches.append((parsed, str(item.get("created") or ""), item))
    if not matches:
        raise ReferenceError_(f"no '{name}' chart with version matching '{version}' found")
    # Newest version first; among equal versions (build metadata) the one created last.
    best = max(matches, key=lambda match: (match[0], _created(match[1])))
    return _entry(best[2])


def _created(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _entry(item: Obj) -> ChartVersion:
    return ChartVersion(str(item.get("name", "")), str(item.get("version", "")),
                        tuple(str(url) for url in item.get("urls") or ()), str(item.get("digest") or ""),
                        str(item.get("created") or ""))


def newest_tag(tags: Iterable[str], version: str) -> str:
    """``getLastMatchingVersionOrConstraint`` of an OCI repository's tags. Raises InputError."""
    tags = list(tags)
    if version and version in tags:
        return version
    try:
        constraint = Constraints.parse(version if version and version != "*" else "*")
    except SemverError as err:
        raise InputError(str(err)) from err
    matches = []
    for tag in tags:
        try:
            parsed = parse_version(tag)
        except SemverError:
            continue
        if constraint.check(parsed):
            matches.append((parsed, tag))
    if not matches:
        raise InputError(f"could not locate a version matching provided version string {version}")
    return max(matches, key=lambda match: match[0])[1]


def is_exact_version(version: str) -> bool:
    """Whether ``version`` parses as a version (an OCI HelmChart then pulls that tag without listing tags)."""
    try:
        parse_version(version)
    except SemverError:
        return False
    return True
