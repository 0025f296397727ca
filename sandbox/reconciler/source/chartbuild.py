"""Building a HelmChart's artifact as source-controller's chart builders do (internal/helm/chart): from a chart
downloaded from a repository (remote) or from a path in a source's artifact (local) — the version with build
metadata (``<version>+<metadata>``), ``valuesFiles`` merged in order over nothing and written as the chart's
``values.yaml``, the previous artifact reused when it already is that chart and version. Charts are loaded,
unpacked and packaged with the Helm SDK; this module only decides what goes in."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import SandboxError
from sandbox.reconciler.source.semver import SemverError, Version

VALUES_FILE = "values.yaml"


@dataclass(frozen=True)
class Reason:
    """A ``BuildErrorReason``: the condition reason and the summary prefixed to the message."""

    reason: str
    summary: str


CHART_REFERENCE = Reason("InvalidChartReference", "invalid chart reference")
CHART_PULL = Reason("ChartPullError", "chart pull error")
METADATA_PATCH = Reason("MetadataPatchError", "chart metadata patch error")
VALUES_FILES_MERGE = Reason("ValuesFilesError", "values files merge error")
DEPENDENCY_BUILD = Reason("DependencyBuildError", "dependency build error")
CHART_PACKAGE = Reason("ChartPackageError", "chart package error")
UNKNOWN = Reason("Unknown", "unknown build error")
# The reasons a retry cannot fix (IsPersistentBuildErrorReason): Stalled
PERSISTENT = (CHART_REFERENCE, METADATA_PATCH, VALUES_FILES_MERGE)
# The reasons reported as BuildFailed; the others are FetchFailed (observeChartBuild)
BUILD_FAILED_REASONS = (METADATA_PATCH, VALUES_FILES_MERGE, DEPENDENCY_BUILD, CHART_PACKAGE)


class BuildError(SandboxError):
    """``chart.BuildError``: ``<summary>: <error>``."""

    def __init__(self, reason: Reason, message: str, build: Build | None = None) -> None:
        super().__init__(f"{reason.summary}: {message}")
        self.reason = reason
        self.build = build  # what was known (name, version) before the failure

    @property
    def persistent(self) -> bool:
        return self.reason in PERSISTENT


@dataclass
class Build:
    """``chart.Build``: what was built, where the package is, and how."""

    name: str = ""
    version: str = ""
    path: str = ""
    values_files: list[str] | None = None
    resolved_dependencies: int = 0
    packaged: bool = False

    @property
    def has_metadata(self) -> bool:
        return bool(self.name and self.version)

    @property
    def complete(self) -> bool:
        return self.has_metadata and bool(self.path)

    def summary(self) -> str:
        if not self.has_metadata:
            return "no chart build"
        action = "new"
        if self.path:
            action = "packaged" if self.packaged else "pulled"
        text = f"{action} '{self.name}' chart with version '{self.version}'"
        if self.values_files:
            text += f" and merged values files [{' '.join(self.values_files)}]"
        return text


@dataclass(frozen=True)
class Options:
    """``chart.BuildOptions``."""

    version_metadata: str = ""
    values_files: tuple[str, ...] = ()
    ignore_missing_values_files: bool = False
    cached_chart: str = ""  # the current artifact's local path
    cached_values_files: tuple[str, ...] | None = None  # status.observedValuesFiles
    force: bool = False  # a new generation: never reuse the cached chart

    def effective_values_files(self) -> tuple[str, ...]:
        """``GetValuesFiles``: ``[values.yaml]`` alone means the chart's defaults, i.e. nothing to merge."""
        if len(self.values_files) == 1 and os.path.normpath(self.values_files[0]) == VALUES_FILE:
            return ()
        return self.values_files


def merge_maps(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``transform.MergeMaps``: maps merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_maps(merged[key], value)
        else:
            merged[key] = value
    return merged


def with_metadata(version: str, metadata: str) -> str:
    """``setBuildMetaData``: ``version`` with ``+metadata`` (replacing any it had). Raises BuildError."""
    try:
        parsed = Version.parse(version)
    except SemverError as err:
        raise BuildError(METADATA_PATCH, f"failed to parse version from chart metadata as SemVer: {err}") from err
    try:
        return str(parsed.with_metadata(metadata))
    except SemverError as err:
        raise BuildError(METADATA_PATCH, f"failed to set SemVer metadata on chart version: {err}") from err


def revision_metadata(revision: str) -> str:
    """The build metadata a ``Revision`` reconcile strategy adds: the first 12 hex digits of the source
    revision's digest (``main@sha1:<sha>``, ``sha256:<hex>``, ``<tag>@sha256:<hex>``), else the revision itself
    (which then has to be valid semver metadata)."""
    digest = revision.rsplit("@", 1)[-1]
    algorithm, _, encoded = digest.partition(":")
    if encoded and algorithm in ("sha1", "sha256", "sha384", "sha512", "blake3"):
        return encoded[:12]
    return revision


def chart_metadata(path: Path) -> dict[str, Any]:
    """Chart.yaml of a chart directory or archive, read by the Helm SDK."""
    import helm_python as helm

    with helm.Chart.load(path) as chart:
        return dict(chart.metadata)


def cached_build(name: str, version: str, options: Options, requires_packaging: bool) -> Build | None:
    """The current artifact as the build, when it is this chart and version and the spec has not changed."""
    if not options.cached_chart or options.force or not Path(options.cached_chart).is_file():
        return None
    try:
        metadata = chart_metadata(Path(options.cached_chart))
    except Exception:
        return None
    if metadata.get("name") != name or str(metadata.get("version")) != version:
        return None
    files = list(options.effective_values_files())
    if options.cached_values_files is not None:
        files = list(options.cached_values_files)
    return Build(name, version, options.cached_chart, files, packaged=requires_packaging)


# --- values ------------------------------------------------------------------------------------------------------

def _load_values(data: bytes, reference: str) -> dict[str, Any]:
    try:
        values = yaml.safe_load(data) or {}
    except yaml.YAMLError as err:
        raise BuildError(VALUES_FILES_MERGE, f"unmarshaling values from '{reference}' failed: {err}") from err
    if not isinstance(values, dict):
        raise BuildError(VALUES_FILES_MERGE, f"unmarshaling values from '{reference}' failed: not a map")
    return values


def merge_files_in_chart(chart_dir: Path, paths: tuple[str, ...],
                         ignore_missing: bool) -> tuple[dict[str, Any], list[str]]:
    """``mergeChartValues``: values files inside a downloaded chart (``values.yaml`` is the chart's defaults)."""
    merged: dict[str, Any] = {}
    found = []
    for reference in paths:
        name = os.path.normpath(reference)
        target = (chart_dir / name).resolve()
        inside = str(target).startswith(str(chart_dir.resolve()) + os.sep)
        if not inside or not target.is_file():
            if ignore_missing:
                continue
            raise BuildError(VALUES_FILES_MERGE,
                             f"failed to merge chart values: no values file found at path '{reference}'")
        merged = merge_maps(merged, _load_values(target.read_bytes(), reference))
        found.append(reference)
    return merged, found


def merge_files_in_source(work_dir: Path, paths: tuple[str, ...],
                          ignore_missing: bool) -> tuple[dict[str, Any], list[str]]:
    """``mergeFileValues``: values files relative to the source's root (paths cannot leave it)."""
    merged: dict[str, Any] = {}
    found = []
    for reference in paths:
        relative = secure_join(work_dir, reference)
        target = work_dir / relative
        if not target.exists() and ignore_missing:
            continue
        if not target.is_file():
            raise BuildError(VALUES_FILES_MERGE,
                             f"no values file found at path '/{relative}' (reference '{reference}')")
        merged = merge_maps(merged, _load_values(target.read_bytes(), reference))
        found.append(reference)
    return merged, found


def secure_join(root: Path, path: str) -> str:
    """``securejoin.SecureJoin`` for paths without symlinks: ``path`` under ``root`` with ``..`` unable to climb
    out (a lexical clean from ``/``); returned relative to ``root``."""
    return os.path.normpath("/" + path).lstrip("/")


def overwrite_values(chart_dir: Path, values: dict[str, Any]) -> bool:
    """``OverwriteChartDefaultValues``: write ``values`` as the chart's ``values.yaml``; False when it already
    says exactly that. Raises BuildError when the chart has no values.yaml."""
    target = chart_dir / VALUES_FILE
    if not target.is_file():
        raise BuildError(VALUES_FILES_MERGE, f"failed to locate values file: {VALUES_FILE}")
    encoded = yaml.safe_dump(values, sort_keys=True, default_flow_style=False).encode() if values else b""
    if target.read_bytes() == encoded:
        return False
    target.write_bytes(encoded)
    return True


# --- packaging ---------------------------------------------------------------------------------------------------

def package(chart_dir: Path, version: str, destination: Path) -> Path:
    """``helm package`` of ``chart_dir`` with ``version``, into ``destination``. Raises BuildError."""
    import helm_python as helm

    try:
        return Path(helm.package(chart_dir, destination=destination, version=version))
    except helm.HelmError as err:
        raise BuildError(CHART_PACKAGE, f"failed to package chart: {err}") from err


def remote_build(name: str, version: str, download: Callable[[], bytes], options: Options,
                 output: Path) -> Build:
    """``remoteChartBuilder.Build`` after the version was chosen: reuse, copy or repackage the chart ``download``
    returns. ``output`` is where the package goes."""
    import helm_python as helm

    build = Build(name=name, version=version)
    if options.version_metadata:
        build.version = with_metadata(version, options.version_metadata)
    requires_packaging = bool(options.effective_values_files()) or bool(options.version_metadata)
    cached = cached_build(build.name, build.version, options, requires_packaging)
    if cached is not None:
        return cached
    data = download()
    try:
        with helm.Chart.load_archive(data) as chart:
            metadata = dict(chart.metadata)
    except helm.HelmError as err:
        reason = CHART_PACKAGE if requires_packaging else CHART_PULL
        what = "failed to load downloaded chart" if requires_packaging \
            else "failed to load chart metadata from written chart"
        raise BuildError(reason, f"{what}: {err}", build) from err
    if not requires_packaging:
        if not metadata.get("name") or not metadata.get("version"):
            raise BuildError(CHART_PULL, "failed to validate metadata of written chart: chart.metadata.name and "
                             "version are required", build)
        output.write_bytes(data)
        build.path = str(output)
        return build
    with tempfile.TemporaryDirectory(prefix="chart-build-") as scratch:
        archive = Path(scratch) / "chart.tgz"
        archive.write_bytes(data)
        unpacked = Path(scratch) / "unpacked"
        try:
            helm.expand(unpacked, archive)
        except helm.HelmError as err:
            raise BuildError(CHART_PACKAGE, f"failed to load downloaded chart: {err}", build) from err
        chart_dir = _only_child(unpacked)
        values, files = merge_files_in_chart(chart_dir, options.values_files, options.ignore_missing_values_files) \
            if options.values_files else ({}, [])
        if options.values_files and overwrite_values(chart_dir, values):
            build.values_files = files
        packaged = package(chart_dir, build.version, Path(scratch) / "out")
        shutil.move(str(packaged), output)
    build.path, build.packaged = str(output), True
    return build


def local_build(work_dir: Path, chart_path: str, options: Options, output: Path,
                dependencies: Callable[[Path], int] | None = None) -> Build:
    """``localChartBuilder.Build``: the chart at ``chart_path`` in the unpacked source ``work_dir`` (a directory
    or a packaged ``.tgz``). ``dependencies(chart_dir)`` resolves what Chart.yaml declares and returns how many
    were resolved."""
    relative = secure_join(work_dir, chart_path)
    source_path = work_dir / relative
    if not source_path.exists():
        raise BuildError(CHART_REFERENCE, f"stat {relative}: no such file or directory")
    try:
        metadata = chart_metadata(source_path)
    except Exception as err:
        raise BuildError(CHART_REFERENCE, str(err)) from err
    name, version = str(metadata.get("name") or ""), str(metadata.get("version") or "")
    if not name or not version:
        raise BuildError(CHART_REFERENCE, "validation: chart.metadata.name and chart.metadata.version are required")
    build = Build(name=name, version=version)
    if options.version_metadata:
        build.version = with_metadata(version, options.version_metadata)
    is_dir = source_path.is_dir()
    requires_packaging = is_dir or bool(options.version_metadata) or bool(options.effective_values_files())
    cached = cached_build(build.name, build.version, options, requires_packaging)
    if cached is not None:
        return cached
    if not requires_packaging:
        shutil.copyfile(source_path, output)
        build.path = str(output)
        return build
    values: dict[str, Any] | None = None
    files: list[str] = []
    if options.effective_values_files():
        values, files = merge_files_in_source(work_dir, options.values_files, options.ignore_missing_values_files)
    with tempfile.TemporaryDirectory(prefix="chart-build-") as scratch:
        chart_dir = _writable_copy(source_path, Path(scratch), build)
        if values is not None and overwrite_values(chart_dir, values):
            build.values_files = files
        if is_dir and dependencies is not None:
            try:
                build.resolved_dependencies = dependencies(chart_dir)
            except SandboxError as err:
                raise BuildError(DEPENDENCY_BUILD, str(err), build) from err
        packaged = package(chart_dir, build.version, Path(scratch) / "out")
        shutil.move(str(packaged), output)
    build.path, build.packaged = str(output), True
    return build


def _writable_copy(source_path: Path, scratch: Path, build: Build) -> Path:
    """A private copy of the chart (the unpacked source is shared by every consumer and read-only)."""
    import helm_python as helm

    if source_path.is_dir():
        target = scratch / "chart"
        shutil.copytree(source_path, target, symlinks=False)
        return target
    unpacked = scratch / "unpacked"
    try:
        helm.expand(unpacked, source_path)
    except helm.HelmError as err:
        raise BuildError(CHART_PACKAGE, str(err), build) from err
    return _only_child(unpacked)


def _only_child(folder: Path) -> Path:
    children = [child for child in folder.iterdir() if child.is_dir()]
    if len(children) != 1:
        raise BuildError(CHART_PACKAGE, f"the chart archive unpacked into {len(children)} folders, expected one")
    return children[0]



def resolve_dependencies(chart_dir: Path, route: Callable[[str], str] | None = None) -> int:
    """The dependencies Chart.yaml declares and ``charts/`` lacks, fetched by the Helm SDK (``helm dependency
    update``: repositories named by URL, ``file://`` paths inside the source); returns how many were missing.
    ``route(url)`` names where a repository URL is fetched from (a sandbox mirror) or raises SandboxError (offline);
    Chart.yaml is left as it was. Raises SandboxError with Helm's message."""
    import helm_python as helm

    try:
        declared = helm.dependency_list(chart_dir)
    except helm.HelmError as err:
        raise SandboxError(str(err)) from err
    missing = [dependency for dependency in declared if dependency.get("status") != "ok"]
    if not missing:
        return 0
    chart_file, lock_file = chart_dir / "Chart.yaml", chart_dir / "Chart.lock"
    original, had_lock = chart_file.read_bytes(), lock_file.exists()
    plain_http = False
    if route is not None:
        metadata = yaml.safe_load(original) or {}
        for dependency in metadata.get("dependencies") or []:
            url = str(dependency.get("repository") or "")
            if url.startswith(("http://", "https://", "oci://")):
                target = route(url)
                plain_http = plain_http or (target != url and target.startswith("oci://"))
                dependency["repository"] = target
        chart_file.write_text(yaml.safe_dump(metadata, sort_keys=False))
    try:
        helm.dependency_update(chart_dir, plain_http=plain_http)
    except helm.HelmError as err:
        raise SandboxError(str(err)) from err
    finally:
        chart_file.write_bytes(original)
        if not had_lock:
            lock_file.unlink(missing_ok=True)
    return len(missing)
