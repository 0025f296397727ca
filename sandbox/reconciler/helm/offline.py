"""A HelmRelease read from a local repository folder, with what it needs to be rendered without the controller:
the ConfigMaps and Secrets of the folder (or files given on the command line) as its ``valuesFrom`` lookup, and
its chart — a local chart folder or archive, or the artifact its source publishes in the running sandbox."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from sandbox.errors import InputError
from sandbox.reconciler.helm import values as helm_values
from sandbox.reconciler.kustomize import manifest

Obj = dict[str, Any]
HELMRELEASE = "HelmRelease"
YAML_SUFFIXES = (".yaml", ".yml")


def documents(folder: Path) -> Iterator[tuple[Path, Obj]]:
    """Every Kubernetes object in the YAML files under ``folder`` (hidden folders skipped), with its file."""
    if not folder.is_dir():
        raise InputError(f"invalid resource path {str(folder)!r}: not a directory")
    for path in sorted(folder.rglob("*")):
        if path.suffix not in YAML_SUFFIXES or not path.is_file() or \
                any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        try:
            loaded = list(manifest.load_all(path.read_text()))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue  # not a manifest (a chart's values file, say): nothing of ours in it
        for document in loaded:
            if isinstance(document, dict) and document.get("kind") and isinstance(document.get("metadata"), dict):
                yield path, document


@dataclass
class Folder:
    """The HelmRelease named ``name`` in ``folder`` and the ConfigMaps and Secrets beside it."""

    helmrelease: Obj
    source_file: Path
    configs: dict[tuple[str, str, str], Obj] = field(default_factory=dict)  # (kind, namespace, name)

    @classmethod
    def read(cls, folder: Path, name: str, namespace: str) -> Folder:
        found: list[tuple[Path, Obj]] = []
        configs: dict[tuple[str, str, str], Obj] = {}
        for path, obj in documents(folder):
            meta = obj["metadata"]
            obj_namespace = str(meta.get("namespace") or namespace)
            if obj.get("kind") == HELMRELEASE and meta.get("name") == name and obj_namespace == namespace:
                found.append((path, {**obj, "metadata": {**meta, "namespace": obj_namespace}}))
            elif obj.get("kind") in (helm_values.CONFIG_MAP, helm_values.SECRET) and obj.get("apiVersion") == "v1":
                configs[(str(obj["kind"]), obj_namespace, str(meta.get("name")))] = obj
        if not found:
            raise InputError(f"HelmRelease/{namespace}/{name} not found in {folder}: check the name and "
                             "-n/--namespace (a HelmRelease without a namespace counts as in -n)")
        if len(found) > 1:
            raise InputError(f"HelmRelease/{namespace}/{name} is defined more than once in {folder}: "
                             + ", ".join(str(path) for path, _ in found))
        path, helmrelease = found[0]
        return cls(helmrelease, path, configs)

    def add_values_file(self, reference: str, file: Path) -> None:
        """``--values-from-file KIND/NAME=FILE``: FILE stands for the ConfigMap or Secret's data at every key the
        HelmRelease reads from it."""
        kind, _, name = reference.partition("/")
        if kind not in (helm_values.CONFIG_MAP, helm_values.SECRET) or not name:
            raise InputError(f"--values-from-file {reference}={file}: expected ConfigMap/NAME=FILE or "
                             "Secret/NAME=FILE")
        try:
            text = file.read_text()
        except OSError as err:
            raise InputError(f"--values-from-file {reference}={file}: {err}") from err
        spec = self.helmrelease.get("spec") or {}
        keys = {helm_values.values_key(r) for r in spec.get("valuesFrom") or []
                if r.get("kind") == kind and r.get("name") == name} or {helm_values.DEFAULT_VALUES_KEY}
        namespace = self.helmrelease["metadata"]["namespace"]
        data = {key: base64.b64encode(text.encode()).decode() if kind == helm_values.SECRET else text
                for key in keys}
        self.configs[(kind, namespace, name)] = {"apiVersion": "v1", "kind": kind,
                                                 "metadata": {"name": name, "namespace": namespace}, "data": data}

    def lookup(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.configs.get((kind, namespace, name))


def load_chart(source: Path) -> helm.Chart:
    """A chart from a folder or a ``.tgz`` archive (``--chart``)."""
    try:
        return helm.Chart.load(source)
    except helm.HelmError as err:
        raise InputError(f"--chart {source}: not a chart Helm can load: {err}") from err


def load_chart_archive(data: bytes, where: str) -> helm.Chart:
    try:
        return helm.Chart.load_archive(data)
    except helm.HelmError as err:
        raise InputError(f"the artifact of {where} is not a chart Helm can load: {err}") from err


def chart_source(helmrelease: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object whose artifact is the HelmRelease's chart: the HelmChart
    source-controller generates for ``spec.chart`` (``<namespace>-<name>`` beside the chart's source), or
    ``spec.chartRef``."""
    spec, meta = helmrelease.get("spec") or {}, helmrelease["metadata"]
    if spec.get("chartRef"):
        ref: Mapping[str, Any] = spec["chartRef"]
        return str(ref.get("kind")), str(ref.get("namespace") or meta["namespace"]), str(ref.get("name"))
    template = (spec.get("chart") or {}).get("spec") or {}
    source_ref = template.get("sourceRef") or {}
    if not source_ref:
        raise InputError(f"HelmRelease/{meta['namespace']}/{meta['name']} has neither spec.chart nor "
                         "spec.chartRef: give the chart with --chart")
    return "HelmChart", str(source_ref.get("namespace") or meta["namespace"]), f"{meta['namespace']}-{meta['name']}"
