"""HelmRepository and HelmRelease objects built from CLI flags the way ``flux create source helm`` and ``flux create
helmrelease`` build them (flux2 v2.9.5 cmd/flux): same fields, same defaults, same error messages."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sandbox.cli import goyaml
from sandbox.errors import InputError
from sandbox.reconciler.runtime.timeutil import go_duration, parse_duration

Obj = dict[str, Any]

HELM_RELEASE_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
CHART_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")
CHART_REF_KINDS = ("OCIRepository", "HelmChart")
VALUES_FROM_KINDS = ("Secret", "ConfigMap")
RECONCILE_STRATEGIES = ("Revision", "ChartVersion")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9\-]){0,61}[a-z0-9]$")


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise InputError(f"name '{name}' is invalid, it should adhere to standard defined in RFC 1123, the name can "
                         "only contain alphanumeric characters or '-'")


def interval(value: str, flag: str = "--interval") -> str:
    """A Go duration flag as the object carries it: ``5m`` -> ``5m0s``."""
    return go_duration(parse_duration(value, field=flag))


def parse_kind_name_namespace(text: str) -> tuple[str, str, str]:
    """``<kind>/<name>.<namespace>`` -> (kind, name, namespace), as flux's ``utils.ParseObjectKindNameNamespace``."""
    kind, name = "", text
    parts = text.split("/")
    if len(parts) == 2:
        kind, name = parts
    namespace = ""
    if "." in name:
        name, namespace = name.rsplit(".", 1)
    return kind, name, namespace


def _metadata(name: str, namespace: str, labels: Sequence[str]) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    parsed: dict[str, str] = {}
    for label in labels:
        parts = label.split("=")
        if len(parts) != 2:
            raise InputError(f"invalid label format '{label}', must be key=value")
        parsed[parts[0]] = parts[1]
    if parsed:
        meta["labels"] = parsed
    return meta


def helm_repository(name: str, namespace: str, *, url: str, interval_text: str = "1m", secret_ref: str | None = None,
                    pass_credentials: bool = False, fetch_timeout: str | None = None, oci_provider: str | None = None,
                    labels: Sequence[str] = ()) -> Obj:
    """``flux create source helm NAME --url URL …``: an ``oci://`` URL makes ``type: oci``."""
    check_name(name)
    if not url:
        raise InputError("url is required")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https", "oci"):
        raise InputError(f"url scheme '{parsed.scheme}' not supported, can be: http, https and oci")
    if not parsed.hostname:
        raise InputError("url host is required")
    spec: Obj = {"url": url, "interval": interval(interval_text)}
    if parsed.scheme == "oci":
        spec["type"] = "oci"
        if oci_provider:
            spec["provider"] = oci_provider
    if fetch_timeout:
        seconds = parse_duration(fetch_timeout, field="--fetch-timeout")
        if seconds > 0:
            spec["timeout"] = go_duration(seconds)
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
        if pass_credentials:
            spec["passCredentials"] = True
    return {"apiVersion": SOURCE_API, "kind": "HelmRepository", "metadata": _metadata(name, namespace, labels),
            "spec": spec}


def _merge(base: Obj, over: Obj) -> Obj:
    """fluxcd/pkg/runtime/transform.MergeMaps: maps merge deeply, everything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_values_files(paths: Sequence[Path]) -> Obj:
    """The ``--values`` files merged in order, later files winning."""
    merged: Obj = {}
    for path in paths:
        try:
            data = goyaml.load(path.read_text()) or {}
        except OSError as err:
            raise InputError(f"reading values from {path} failed: {err.strerror}") from err
        except yaml.YAMLError as err:
            raise InputError(f"converting values to JSON from {path} failed: {err}") from err
        if not isinstance(data, dict):
            raise InputError(f"unmarshaling values from {path} failed: the file must hold a YAML mapping")
        merged = _merge(merged, data)
    return merged


def _chart_source(text: str) -> tuple[str, str, str]:
    if not text.strip():
        raise InputError("no helm chart source given, please specify source that contains the chart in the format "
                         "'<kind>/<name>.<namespace>', where kind must be one of: (HelmRepository, GitRepository, "
                         "Bucket)")
    kind, name, namespace = parse_kind_name_namespace(text)
    if not kind or not name:
        raise InputError(f"invalid helm chart source '{text}', must be in format <kind>/<name>")
    clean = next((k for k in CHART_SOURCE_KINDS if k.lower() == kind.lower()), None)
    if clean is None:
        raise InputError(f"source kind '{kind}' is not supported, must be one of: " + ", ".join(CHART_SOURCE_KINDS))
    return clean, name, namespace


def _depends_on(entries: Sequence[str]) -> list[Obj]:
    """fluxcd/pkg/apis/meta.MakeDependsOn (``[<namespace>/]<name>[@<readyExpr>]``); a HelmRelease keeps name and
    namespace only, as flux create does."""
    refs = []
    for entry in entries:
        dep = entry.split("@", 1)[0]
        namespace, sep, name = dep.partition("/")
        ref: Obj = {"name": name} if sep else {"name": dep}
        if sep and namespace:
            ref["namespace"] = namespace
        refs.append(ref)
    return refs


def _values_from(entries: Sequence[str]) -> list[Obj]:
    refs = []
    for entry in entries:
        parts = entry.split("/")
        kind, name = (parts[0], parts[1]) if len(parts) == 2 else ("", entry)
        if not kind:
            raise InputError(f"invalid Kubernetes object reference '{entry}', must be in format <kind>/<name>")
        clean = next((k for k in VALUES_FROM_KINDS if k.lower() == kind.lower()), None)
        if clean is None:
            raise InputError(f"reference kind '{kind}' is not supported, must be one of: "
                             + ", ".join(VALUES_FROM_KINDS))
        refs.append({"kind": clean, "name": name})
    return refs


def helm_release(name: str, namespace: str, *, chart: str | None = None, source: str | None = None,
                 chart_version: str | None = None, chart_ref: str | None = None, chart_interval: str | None = None,
                 reconcile_strategy: str = "ChartVersion", values_files: Sequence[Path] = (),
                 values_from: Sequence[str] = (), target_namespace: str | None = None,
                 storage_namespace: str | None = None, create_target_namespace: bool = False,
                 release_name: str | None = None, interval_text: str = "1m", depends_on: Sequence[str] = (),
                 service_account: str | None = None, crds: str | None = None, labels: Sequence[str] = ()) -> Obj:
    """``flux create helmrelease NAME …``: ``--chart`` with ``--source``, or ``--chart-ref``."""
    check_name(name)
    try:
        source_ref = _chart_source(source) if source is not None else None
    except InputError as err:
        raise InputError(f'invalid argument "{source}" for "--source" flag: {err}') from err
    if target_namespace and not storage_namespace:
        storage_namespace = target_namespace
    if not chart and not chart_ref:
        raise InputError("chart or chart-ref is required")
    if chart and chart_ref:
        raise InputError("cannot use --chart in combination with --chart-ref")
    if reconcile_strategy not in RECONCILE_STRATEGIES:
        raise InputError(f"'{reconcile_strategy}' is an invalid reconcile strategy(valid: Revision, ChartVersion)")
    spec: Obj = {"interval": interval(interval_text)}
    if release_name:
        spec["releaseName"] = release_name
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    if storage_namespace:
        spec["storageNamespace"] = storage_namespace
    if depends_on:
        spec["dependsOn"] = _depends_on(depends_on)
    if chart:
        if source_ref is None:
            raise InputError("--source is required with --chart, e.g. --source HelmRepository/podinfo")
        kind, source_name, source_namespace = source_ref
        ref: Obj = {"kind": kind, "name": source_name}
        if source_namespace:
            ref["namespace"] = source_namespace
        template: Obj = {"chart": chart, "sourceRef": ref, "reconcileStrategy": reconcile_strategy}
        if chart_version:
            template["version"] = chart_version
        if chart_interval and parse_duration(chart_interval, field="--chart-interval") > 0:
            template["interval"] = interval(chart_interval, "--chart-interval")
        spec["chart"] = {"spec": template}
    elif chart_ref:
        kind, ref_name, ref_namespace = parse_kind_name_namespace(chart_ref)
        if kind not in CHART_REF_KINDS:
            raise InputError(f"chart reference kind '{kind}' is not supported, must be one of: "
                             + ", ".join(CHART_REF_KINDS))
        ref = {"kind": kind, "name": ref_name}
        if ref_namespace:
            ref["namespace"] = ref_namespace
        spec["chartRef"] = ref
    if create_target_namespace:
        spec.setdefault("install", {})["createNamespace"] = True
    if service_account:
        spec["serviceAccountName"] = service_account
    if crds:
        spec.setdefault("install", {})["crds"] = "Create"
        spec["upgrade"] = {"crds": crds}
    if values_files:
        spec["values"] = read_values_files(values_files)
    if values_from:
        spec["valuesFrom"] = _values_from(values_from)
    return {"apiVersion": HELM_RELEASE_API, "kind": "HelmRelease", "metadata": _metadata(name, namespace, labels),
            "spec": spec}
