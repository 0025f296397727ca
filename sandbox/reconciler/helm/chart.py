"""Where a HelmRelease's chart comes from, and loading it: ``spec.chartRef`` (an OCIRepository, HelmChart or
ExternalArtifact, through the source-artifact interface) or ``spec.chart`` (the HelmChart
``<namespace>-<name>`` the controller keeps from the template, as helm-controller's helmchart_template.go).

A chart from an artifact whose revision carries a digest (an OCIRepository) gets ``+<first 12 hex of the
digest>`` appended to its version, so that a tag pushed again with other content is a new chart version
(helm-controller's mutateChartWithSourceRevision)."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import helm_python as helm
import yaml

from sandbox.errors import SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.helm import crds
from sandbox.reconciler.source.artifact import Artifact
from sandbox.reconciler.source.storage import Storage

Obj = dict[str, Any]
GROUP = "helm.toolkit.fluxcd.io"
NAME_LABEL = f"{GROUP}/name"
NAMESPACE_LABEL = f"{GROUP}/namespace"
FIELD_MANAGER = "helm-controller"
_SEMVER = re.compile(r"^v?(\d+)(\.\d+)?(\.\d+)?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


class ChartError(SandboxError):
    """The chart cannot be loaded or prepared (Ready=False ArtifactFailed / ChartMutateError)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LoadedChart:
    chart: helm.Chart
    name: str
    version: str  # as the release will record it (with the digest metadata for OCI sources)
    app_version: str
    oci_digest: str  # the artifact digest for digest-carrying sources ("" otherwise)
    has_crds: bool
    # the CustomResourceDefinitions of its crds/ folders: applied by the CRD policy, the chart Helm gets has none
    crds: tuple[Obj, ...] = ()


def chart_ref_target(obj: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of the source the chart comes from: ``spec.chartRef``, or the HelmChart made
    from ``spec.chart``."""
    spec, meta = obj.get("spec") or {}, obj["metadata"]
    if spec.get("chartRef"):
        ref = spec["chartRef"]
        return str(ref.get("kind")), str(ref.get("namespace") or meta["namespace"]), str(ref.get("name"))
    template = (spec.get("chart") or {}).get("spec") or {}
    namespace = str((template.get("sourceRef") or {}).get("namespace") or meta["namespace"])
    return kinds.HELMCHART.kind, namespace, helm_chart_name(obj)


def helm_chart_name(obj: Obj) -> str:
    return f"{obj['metadata']['namespace']}-{obj['metadata']['name']}"


def source_not_ready(source: Obj) -> str:
    """isReady: why ``source`` cannot give its chart yet ("" when it can)."""
    meta, status = source["metadata"], source.get("status") or {}
    label = f"{source.get('kind')} '{meta.get('namespace')}/{meta.get('name')}' is not ready"
    conditions = status.get("conditions") or []
    ready: Obj = next((c for c in conditions if c.get("type") == "Ready"), {})
    stalled = next((c for c in conditions if c.get("type") == "Stalled" and c.get("status") == "True"), None)
    if source.get("kind") != kinds.EXTERNALARTIFACT.kind:
        if status.get("observedGeneration") != meta.get("generation"):
            message = "latest generation of object has not been reconciled"
            if ready.get("status") == "False":
                message = str(ready.get("message", message))
            return f"{label}: {message}"
        if stalled is not None:
            return f"{label}: {stalled.get('message', '')}"
    if not status.get("artifact"):
        return f"{label}: does not have an artifact"
    return ""


def _digest_suffix(revision: str) -> str:
    algorithm_digest = revision.rsplit("@", 1)[-1]
    _, sep, digest = algorithm_digest.partition(":")
    if not sep or len(digest) < 12:
        raise ChartError("ChartMutateError", f"invalid artifact revision {revision}")
    return digest[:12]


def version_for(chart_version: str, source_kind: str, revision: str) -> tuple[str, str]:
    """(the chart version to release, the OCI digest) for a chart of ``chart_version`` from a source of
    ``source_kind`` at ``revision`` (mutateChartWithSourceRevision)."""
    if source_kind != kinds.OCIREPOSITORY.kind and not (source_kind == kinds.EXTERNALARTIFACT.kind
                                                         and ":" in revision):
        return chart_version, ""
    base = _SEMVER.match(chart_version)
    if base is None:
        raise ChartError("ChartMutateError", f"invalid chart version {chart_version}")
    core = chart_version.split("+", 1)[0]
    if "@" in revision:
        tag, digest = revision.rsplit("@", 1)
        semver_tag = tag.replace("_", "+")
        if _SEMVER.match(semver_tag) and semver_tag.split("+", 1)[0].lstrip("v") != core.lstrip("v"):
            raise ChartError("ChartMutateError", f"artifact revision {tag} does not match chart version "
                             f"{chart_version}")
        return f"{core}+{_digest_suffix(digest)}", digest
    return f"{core}+{_digest_suffix(revision)}", revision


def _with_version(archive: bytes, version: str) -> bytes:
    """The chart archive with ``version`` written into its top-level Chart.yaml."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as source, \
            gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            parts = member.name.split("/")
            if data is not None and len(parts) == 2 and parts[1] == "Chart.yaml":
                text = re.sub(r"(?m)^version:.*$", f"version: {version}", data.decode())
                data = text.encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def load_chart(archive: bytes, source_kind: str = "", revision: str = "") -> LoadedChart:
    """The chart in ``archive`` (a packaged chart, ``.tgz``) as the controller releases it: from a source of
    ``source_kind`` at ``revision``, its version gets the digest metadata (see ``version_for``). Raises
    ChartError with Helm's message."""
    try:
        with helm.Chart.load_archive(archive) as plain:
            name, version = str(plain.name), str(plain.version)
            app_version = str(plain.metadata.get("appVersion") or "")
        release_version, oci_digest = version_for(version, source_kind, revision)
        if release_version != version:
            archive = _with_version(archive, release_version)
        chart = helm.Chart.load_archive(archive)
        definitions = tuple(crds.definitions(chart.crds))
        if chart.crds:
            chart = helm.Chart.load_archive(crds.without_crds(archive))
    except helm.HelmError as err:
        raise ChartError("ArtifactFailed", f"Could not load chart: {err}") from err
    except (tarfile.TarError, OSError, EOFError, yaml.YAMLError) as err:
        raise ChartError("ArtifactFailed", f"Could not load chart: {err}") from err
    return LoadedChart(chart, name, release_version, app_version, oci_digest, bool(definitions), definitions)


class ChartLoader:
    """Loads charts from artifacts in the storage, keeping the last few loaded (a chart is immutable once
    loaded; the key is the artifact digest and revision)."""

    def __init__(self, storage: Storage, keep: int = 16) -> None:
        self.storage = storage
        self.keep = keep
        self._cache: OrderedDict[tuple[str, str], LoadedChart] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, source: Obj, artifact: Artifact) -> LoadedChart:
        key = (artifact.digest, artifact.revision)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            archive = self.storage.verify(artifact.path, artifact.digest).read_bytes()
        except (OSError, SandboxError) as err:
            raise ChartError("ArtifactFailed", f"Could not load chart: {err}") from err
        loaded = load_chart(archive, str(source.get("kind", "")), artifact.revision)
        with self._lock:
            self._cache[key] = loaded
            while len(self._cache) > self.keep:
                # Not closed here: a reconcile may still be releasing it; the SDK frees it once unreferenced.
                self._cache.popitem(last=False)
        return loaded


# --- spec.chart: the HelmChart template --------------------------------------------------------------------
def helm_chart_from_template(obj: Obj) -> Obj:
    """buildHelmChartFromTemplate: the HelmChart ``spec.chart`` describes, owned by labels."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    template = spec.get("chart") or {}
    tspec = template.get("spec") or {}
    source_ref = tspec.get("sourceRef") or {}
    chart_spec: Obj = {"chart": tspec.get("chart"), "version": tspec.get("version") or "*",
                       "sourceRef": {"kind": source_ref.get("kind"), "name": source_ref.get("name")},
                       "interval": tspec.get("interval") or spec.get("interval"),
                       "reconcileStrategy": tspec.get("reconcileStrategy") or "ChartVersion"}
    for key in ("valuesFiles", "ignoreMissingValuesFiles"):
        if tspec.get(key):
            chart_spec[key] = tspec[key]
    if tspec.get("verify"):
        chart_spec["verify"] = {k: v for k, v in tspec["verify"].items() if k in ("provider", "secretRef")}
    template_meta = template.get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}), NAME_LABEL: meta["name"], NAMESPACE_LABEL: meta["namespace"]}
    result: Obj = {"apiVersion": kinds.HELMCHART.api_version, "kind": kinds.HELMCHART.kind,
                   "metadata": {"name": helm_chart_name(obj),
                                "namespace": str(source_ref.get("namespace") or meta["namespace"]),
                                "labels": labels},
                   "spec": chart_spec}
    if template_meta.get("annotations"):
        result["metadata"]["annotations"] = dict(template_meta["annotations"])
    return result


def apply_helm_chart(kube: KubeClient, obj: Obj) -> tuple[str, Obj]:
    """Server-side apply the HelmChart of ``spec.chart``; returns ("created" | "configured" | "unchanged",
    the applied object)."""
    desired = helm_chart_from_template(obj)
    meta = desired["metadata"]
    existing = kube.get_or_none(desired["apiVersion"], desired["kind"], meta["name"], meta["namespace"])
    applied = kube.apply(desired, field_manager=FIELD_MANAGER)
    if existing is None:
        return "created", applied
    changed = existing.get("spec") != applied.get("spec") or \
        (existing["metadata"].get("labels") or {}) != (applied["metadata"].get("labels") or {})
    return ("configured" if changed else "unchanged"), applied


def delete_helm_chart(kube: KubeClient, reference: str) -> bool:
    """Delete the HelmChart ``namespace/name`` (status.helmChart); False when it was gone already."""
    namespace, _, name = reference.partition("/")
    if not name:
        return False
    if kube.get_or_none(kinds.HELMCHART.api_version, kinds.HELMCHART.kind, name, namespace) is None:
        return False
    kube.delete(kinds.HELMCHART.api_version, kinds.HELMCHART.kind, name, namespace)
    return True
