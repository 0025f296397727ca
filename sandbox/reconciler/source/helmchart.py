"""HelmChart: resolve ``spec.chart`` and ``spec.version`` in a HelmRepository (the newest version matching a
Masterminds range, in the HTTP index or the OCI registry's tags), or take the chart at the path ``spec.chart`` in
another source's artifact (GitRepository, or any source kind registered in ``Sources``); merge ``valuesFiles`` into
its values, set the build metadata (``<version>+<generation>`` with valuesFiles, ``+<12 digits of the source
revision>`` with ``reconcileStrategy: Revision``) and store the packaged chart as the artifact
``helmchart/<ns>/<name>/<chart>-<version>.tgz`` (``latest.tar.gz`` links to it), revision = the chart version.
Conditions, reasons, messages and events follow source-controller's HelmChartReconciler."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.errors import NotFound, SandboxError
from sandbox.reconciler import support
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Result, interval_of
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.timeutil import parse_duration, rfc3339
from sandbox.reconciler.source import chartbuild, failure, gc, helmgetter, helmindex, helmoci
from sandbox.reconciler.source.artifact import (
    Artifact,
    NoArtifact,
    SourceError,
    Sources,
    UnsupportedSourceKind,
    resolve,
)
from sandbox.reconciler.source.failure import (
    ARCHIVE_OPERATION_FAILED,
    ARTIFACT_OUTDATED,
    STORAGE_OPERATION_FAILED,
)
from sandbox.reconciler.source.helmrepository import TYPE_OCI
from sandbox.reconciler.source.mirrors import MirrorMapFile, OfflineRefused, served_by
from sandbox.reconciler.source.storage import Storage
from sandbox.reconciler.unsupported import refuse_unsupported_fields

log = logging.getLogger(__name__)

Obj = dict[str, Any]
API_VERSION = "source.toolkit.fluxcd.io/v1"
KIND = "HelmChart"
RETRY_AFTER_FAILURE = 30.0
# Upstream requeues with back-off; the source's watch wakes the chart as soon as it publishes an artifact, so this
# is only the fallback (and bounds the Normal events a source that never gets one causes).
NO_ARTIFACT_REQUEUE = 30.0
LATEST = "latest.tar.gz"
REVISION_STRATEGY = "Revision"

# source-controller's reasons (api/v1/condition_types.go)
BUILD_FAILED = "BuildFailed"
SOURCE_UNAVAILABLE = "SourceUnavailable"
UNSUPPORTED_SOURCE_KIND = "UnsupportedSourceKind"
NO_SOURCE_ARTIFACT = "NoSourceArtifact"
CHART_PULL_SUCCEEDED = "ChartPullSucceeded"
CHART_PACKAGE_SUCCEEDED = "ChartPackageSucceeded"
AUTH_HINTS = ("401", "unauthorized", "authentication required", "tls", "unknown certificate authority")


class Failure(SandboxError):
    """A reconcile step failed: ``condition`` True with ``reason``; ``stalled`` when retrying cannot help."""

    def __init__(self, condition: str, reason: str, message: str, *, stalled: bool = False,
                 build: chartbuild.Build | None = None) -> None:
        super().__init__(message)
        self.condition = condition
        self.reason = reason
        self.stalled = stalled
        self.build = build


def directory_of(meta: Obj) -> str:
    return f"helmchart/{meta['namespace']}/{meta['name']}"


def reason_for(build: chartbuild.Build) -> str:
    return CHART_PACKAGE_SUCCEEDED if build.packaged else CHART_PULL_SUCCEEDED


def _build_failure(err: chartbuild.BuildError) -> Failure:
    """observeChartBuild: metadata, values, dependency and packaging errors are BuildFailed, the rest
    FetchFailed; reference, metadata and values errors stall."""
    condition = BUILD_FAILED if err.reason in chartbuild.BUILD_FAILED_REASONS else cond.FETCH_FAILED
    return Failure(condition, err.reason.reason, str(err), stalled=err.persistent, build=err.build)


class HelmChartReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = "source-controller"
    status_manager = "gotk-source-controller"

    def __init__(self, storage: Storage, sources: Sources, *, mirror_map: MirrorMapFile | None = None,
                 dependencies: Callable[[Path, Callable[[str], str]], int] | None = None) -> None:
        self.storage = storage
        self.sources = sources
        self.mirror_map = mirror_map or MirrorMapFile(None)
        self.dependencies = dependencies

    def resource_info(self, obj: Obj) -> dict[str, str]:
        artifact = (obj.get("status") or {}).get("artifact") or {}
        spec = obj.get("spec") or {}
        return {"revision": str(artifact.get("revision", "")),
                "source_name": str((spec.get("sourceRef") or {}).get("name", ""))}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        self.storage.remove(directory_of(obj["metadata"]))

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        gc.collect(self.storage, obj, ctx, self.controller_name)  # as source-controller: first, each time
        meta = obj["metadata"]
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        conditions = list(status.get("conditions") or [])
        interval = interval_of(obj)
        was_failing = any(cond.is_true(conditions, kind)
                          for kind in (BUILD_FAILED, cond.FETCH_FAILED, STORAGE_OPERATION_FAILED))
        artifact: Obj = dict(status.get("artifact") or {})
        if artifact and not self._stored(artifact):
            for key in ("artifact", "url"):
                status.pop(key, None)
            artifact = {}
            conditions = self._progress(obj, ctx, cond.remove(conditions, cond.ARTIFACT_IN_STORAGE),
                                        "building artifact: disappeared from storage", generation)
        elif not artifact:
            conditions = self._progress(obj, ctx, cond.remove(conditions, cond.ARTIFACT_IN_STORAGE),
                                        "building artifact", generation)
        status["artifact"] = artifact or None
        try:
            source, source_artifact = self._source(obj, ctx)
            if source_artifact is not None:
                status["observedSourceArtifactRevision"] = source_artifact.revision
            with tempfile.TemporaryDirectory(prefix="helmchart-") as scratch:
                output = Path(scratch) / "chart.tgz"
                try:
                    build, served = self._build(obj, ctx, status, source, source_artifact, output)
                except chartbuild.BuildError as err:
                    raise _build_failure(err) from err
                conditions = cond.remove(cond.remove(conditions, cond.FETCH_FAILED), BUILD_FAILED)
                if build.complete and build.resolved_dependencies:
                    ctx.events.record(obj, NORMAL, "ResolvedDependencies",
                                      f"resolved {build.resolved_dependencies} chart dependencies",
                                      controller=self.controller_name)
                if build.name != status.get("observedChartName") or artifact.get("revision") != build.version:
                    if artifact:
                        conditions = cond.set_condition(conditions, ARTIFACT_OUTDATED, "True", "NewChart",
                                                        build.summary(), generation)
                    conditions = self._progress(obj, ctx, conditions, f"building artifact: {build.summary()}",
                                                generation)
                stored = self._store(obj, ctx, status, build)
        except Failure as err:
            if status.get("artifact") is None:
                status.pop("artifact", None)
            return self._fail(obj, ctx, status, conditions, err, generation, interval)
        status["observedGeneration"] = generation
        conditions = cond.remove(cond.remove(conditions, ARTIFACT_OUTDATED), STORAGE_OPERATION_FAILED)
        message = build.summary() + served
        conditions = cond.set_condition(conditions, cond.ARTIFACT_IN_STORAGE, "True", reason_for(build), message,
                                        generation)
        status["conditions"] = cond.mark_ready(conditions, reason_for(build), message, generation)
        if artifact.get("digest") != stored["digest"] or was_failing:
            ctx.events.record(obj, NORMAL, reason_for(build), message, controller=self.controller_name,
                              metadata={"source.toolkit.fluxcd.io/revision": str(stored["revision"]),
                                        "source.toolkit.fluxcd.io/digest": str(stored["digest"])})
        return Result(status, interval)

    # --- the source ---------------------------------------------------------------------------------------------

    def _source(self, obj: Obj, ctx: Context) -> tuple[Obj, Artifact | None]:
        """The source object and its artifact (None for an OCI HelmRepository, which has none)."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        source_ref = spec.get("sourceRef") or {}
        kind, name = str(source_ref.get("kind", "")), str(source_ref.get("name", ""))
        if kind == kinds.HELMREPOSITORY.kind:
            try:
                repository = ctx.kube.get(kinds.HELMREPOSITORY.api_version, kind, name, meta["namespace"])
            except NotFound as err:
                raise Failure(cond.FETCH_FAILED, SOURCE_UNAVAILABLE, f"failed to get source: "
                              f"{kinds.HELMREPOSITORY.crd_name} \"{name}\" not found") from err
            repository_artifact = Artifact.of(repository)
            if (repository.get("spec") or {}).get("type") == TYPE_OCI:
                return repository, None
            if repository_artifact is None or not self._stored(
                    {"path": repository_artifact.path}):
                raise self._no_artifact(obj, ctx, kind, name)
            return repository, repository_artifact
        try:
            # A HelmChart's source is in its own namespace (the CRD's sourceRef has no namespace).
            source, source_artifact = resolve(ctx.kube, self.sources, {"kind": kind, "name": name},
                                              meta["namespace"])
        except UnsupportedSourceKind as err:
            raise Failure(cond.FETCH_FAILED, UNSUPPORTED_SOURCE_KIND, f"failed to get source: {err}",
                          stalled=True) from err
        except NoArtifact as err:
            raise self._no_artifact(obj, ctx, kind, name) from err
        except SourceError as err:
            # SourceNotFound quotes the API server: "unable to get source 'ns/name': <kind> "name" not found"
            detail = str(err).removeprefix(f"unable to get source '{meta['namespace']}/{name}': ")
            raise Failure(cond.FETCH_FAILED, SOURCE_UNAVAILABLE, f"failed to get source: {detail}") from err
        if not self._stored({"path": source_artifact.path}):
            raise self._no_artifact(obj, ctx, kind, name)
        return source, source_artifact

    def _no_artifact(self, obj: Obj, ctx: Context, kind: str, name: str) -> Failure:
        message = f"no artifact available for {kind} source '{name}'"
        ctx.events.record(obj, NORMAL, NO_SOURCE_ARTIFACT, message, controller=self.controller_name)
        return Failure(cond.FETCH_FAILED, NO_SOURCE_ARTIFACT, message)

    # --- building -----------------------------------------------------------------------------------------------

    def _options(self, obj: Obj, status: Obj, version_metadata: str) -> chartbuild.Options:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        generation = int(meta.get("generation", 1))
        values_files = tuple(str(item) for item in spec.get("valuesFiles") or ())
        options = chartbuild.Options(values_files=values_files,
                                     ignore_missing_values_files=bool(spec.get("ignoreMissingValuesFiles")))
        if options.effective_values_files():
            version_metadata = f"{version_metadata}.{generation}" if version_metadata else str(generation)
        cached = (status.get("artifact") or {}).get("path")
        observed = status.get("observedValuesFiles")
        return chartbuild.Options(
            version_metadata=version_metadata, values_files=values_files,
            ignore_missing_values_files=options.ignore_missing_values_files,
            cached_chart=str(self.storage.local_path(str(cached))) if cached else "",
            cached_values_files=tuple(observed) if observed is not None else None,
            force=generation != int(status.get("observedGeneration") or 0))

    def _build(self, obj: Obj, ctx: Context, status: Obj, source: Obj, source_artifact: Artifact | None,
               output: Path) -> tuple[chartbuild.Build, str]:
        spec = obj.get("spec") or {}
        if source.get("kind") == kinds.HELMREPOSITORY.kind:
            options = self._options(obj, status, "")
            if source_artifact is None:
                return self._from_oci_repository(obj, ctx, source, options, output)
            return self._from_http_repository(obj, ctx, source, source_artifact, options, output)
        if source_artifact is None:  # only an OCI HelmRepository has none, handled above
            raise Failure(cond.FETCH_FAILED, NO_SOURCE_ARTIFACT, f"no artifact available for {source.get('kind')} "
                          f"source '{source['metadata'].get('name')}'")
        metadata = ""
        if spec.get("reconcileStrategy") == REVISION_STRATEGY:
            metadata = chartbuild.revision_metadata(source_artifact.revision)
        options = self._options(obj, status, metadata)
        try:
            work_dir = self.storage.unpacked(source_artifact.path, source_artifact.digest)
        except (OSError, SandboxError) as err:
            raise Failure(cond.FETCH_FAILED, cond.FAILED, f"artifact untar error: {err}") from err
        resolve_dependencies = self.dependencies
        dependencies = None if resolve_dependencies is None \
            else (lambda chart_dir: resolve_dependencies(chart_dir, self._dependency_route))
        return chartbuild.local_build(work_dir, str(spec.get("chart", "")), options, output, dependencies), ""

    def _dependency_route(self, url: str) -> str:
        """Where a chart dependency's repository is fetched from: its sandbox mirror, else itself (refused while
        offline, unless on loopback)."""
        current = self.mirror_map.current()
        try:
            return current.route_oci(url).url if url.startswith(helmindex.OCI_SCHEME) else current.route_helm(url).url
        except OfflineRefused as err:
            raise SandboxError(f"dependency repository {url}: {err}") from err

    def _from_http_repository(self, obj: Obj, ctx: Context, repository: Obj, repository_artifact: Artifact,
                              options: chartbuild.Options, output: Path) -> tuple[chartbuild.Build, str]:
        spec = obj.get("spec") or {}
        chart, version = str(spec.get("chart", "")), str(spec.get("version") or "*")
        url = str((repository.get("spec") or {}).get("url", ""))
        try:
            helmindex.validate_chart_name(chart)
        except helmindex.ReferenceError_ as err:
            raise chartbuild.BuildError(chartbuild.CHART_REFERENCE, str(err)) from err
        try:
            index = helmindex.parse_index(self.storage.local_path(repository_artifact.path).read_bytes())
        except (OSError, SandboxError) as err:
            raise chartbuild.BuildError(chartbuild.CHART_PULL, "failed to get chart version for remote reference: "
                                        f"failed to load index: {err}") from err
        try:
            entry = helmindex.chart_version(index, chart, version)
        except helmindex.ReferenceError_ as err:
            raise chartbuild.BuildError(chartbuild.CHART_REFERENCE,
                                        f"failed to get chart version for remote reference: {err}") from err
        try:
            route = self.mirror_map.current().route_helm(url)
        except OfflineRefused as err:
            raise chartbuild.BuildError(chartbuild.CHART_PULL, str(err)) from err
        served = served_by(url) if route.mirror is not None else ""
        base = helmindex.normalize_url(route.url)
        timeout = parse_duration((repository.get("spec") or {}).get("timeout") or "60s", field="spec.timeout")

        def download() -> bytes:
            if not entry.urls:
                raise chartbuild.BuildError(chartbuild.CHART_PULL, "failed to download chart for remote reference: "
                                            f"chart '{entry.name}' has no downloadable URLs")
            target = helmindex.chart_url(base, entry.urls[0])
            try:
                if route.mirror is not None:
                    return helmgetter.get(target, helmgetter.HTTPOptions(base, timeout))
                with helmgetter.http_options(ctx.kube, repository, base, timeout) as http:
                    return helmgetter.get(target, http)
            except helmgetter.SecretError as err:
                raise Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED, str(err)) from err
            except helmgetter.FetchError as err:
                message = f"failed to download chart for remote reference: {err}"
                if any(hint in str(err) for hint in AUTH_HINTS):
                    raise Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED,
                                  f"failed to authenticate with the Helm repository: {chartbuild.CHART_PULL.summary}"
                                  f": {message}") from err
                raise chartbuild.BuildError(chartbuild.CHART_PULL, message) from err

        return chartbuild.remote_build(entry.name, entry.version, download, options, output), served

    def _from_oci_repository(self, obj: Obj, ctx: Context, repository: Obj, options: chartbuild.Options,
                             output: Path) -> tuple[chartbuild.Build, str]:
        spec = obj.get("spec") or {}
        chart, version = str(spec.get("chart", "")), str(spec.get("version") or "*")
        try:
            helmindex.validate_chart_name(chart)
        except helmindex.ReferenceError_ as err:
            raise chartbuild.BuildError(chartbuild.CHART_REFERENCE, str(err)) from err
        unsupported = support.unsupported_fields_set(repository)
        if unsupported:
            # A static OCI repository has no status to say so: its charts do.
            meta = repository["metadata"]
            raise Failure(cond.FETCH_FAILED, support.NOT_SUPPORTED, f"HelmRepository/{meta['namespace']}/"
                          f"{meta['name']}: {support.unsupported_fields_message(repository, unsupported)}",
                          stalled=True)
        timeout = parse_duration((repository.get("spec") or {}).get("timeout") or "60s", field="spec.timeout")
        served = ""
        try:
            with helmoci.OCIChartRepository(ctx.kube, repository, timeout, self.mirror_map) as registry:
                try:
                    located = registry.locate(chart, version)
                except helmoci.ChartLookupError as err:
                    raise chartbuild.BuildError(chartbuild.CHART_PULL,
                                                f"failed to get chart version for remote reference: {err}") from err

                def download() -> bytes:
                    nonlocal served
                    try:
                        data, served = registry.download(located)
                    except helmoci.ChartLookupError as err:
                        raise chartbuild.BuildError(chartbuild.CHART_PULL,
                                                    f"failed to download chart for remote reference: {err}") \
                            from err
                    return data

                build = chartbuild.remote_build(located.name, located.version, download, options, output)
                return build, served or located.served
        except helmoci.ConfigError as err:
            raise Failure(cond.FETCH_FAILED, cond.FAILED, str(err), stalled=True) from err
        except helmoci.CredentialsError as err:
            raise Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED, str(err)) from err
        except chartbuild.BuildError as err:
            if any(hint in str(err) for hint in AUTH_HINTS):
                raise Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED,
                              f"failed to authenticate with the Helm repository: {err}") from err
            raise

    # --- the artifact -------------------------------------------------------------------------------------------

    def _store(self, obj: Obj, ctx: Context, status: Obj, build: chartbuild.Build) -> Obj:
        """``reconcileArtifact``: the build as the artifact (kept as is when it is the current one)."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        current = status.get("artifact") or {}
        if current and str(self.storage.local_path(str(current["path"]))) == build.path:
            ctx.events.record(obj, NORMAL, cond.ARTIFACT_UP_TO_DATE,
                              f"artifact up-to-date with remote revision: '{build.version}'",
                              controller=self.controller_name)
            return dict(current)
        directory = directory_of(meta)
        relative = f"{directory}/{build.name}-{build.version}.tgz"
        try:
            stored = self.storage.store_bytes(Path(build.path).read_bytes(), relative)
        except (OSError, SandboxError) as err:
            raise Failure(STORAGE_OPERATION_FAILED, ARCHIVE_OPERATION_FAILED,
                          f"unable to copy Helm chart to storage: {err}") from err
        try:
            status["url"] = self.storage.url_for(self.storage.symlink(relative, LATEST))
        except (OSError, SandboxError) as err:
            log.debug("failed to update status URL symlink: %s", err)
        new = {"path": stored.path, "url": self.storage.url_for(stored.path), "revision": build.version,
               "digest": stored.digest, "lastUpdateTime": rfc3339(), "size": stored.size}
        status["artifact"] = new
        status["observedChartName"] = build.name
        if spec.get("ignoreMissingValuesFiles"):
            status["observedValuesFiles"] = list(build.values_files or [])
        else:
            status.pop("observedValuesFiles", None)
        return new

    # --- status -------------------------------------------------------------------------------------------------

    def _progress(self, obj: Obj, ctx: Context, conditions: list[Obj], message: str, generation: int) -> list[Obj]:
        return failure.progress(obj, ctx, conditions, message, generation, self.status_manager)

    def _fail(self, obj: Obj, ctx: Context, status: Obj, conditions: list[Obj], err: Failure, generation: int,
              interval: float) -> Result:
        """Ready=False with the reason, the step's condition True (the other failure condition removed); the last
        good artifact stays served."""
        updated = conditions
        if err.condition == BUILD_FAILED:
            updated = cond.remove(updated, cond.FETCH_FAILED)
        elif err.condition == cond.FETCH_FAILED:
            updated = cond.remove(updated, BUILD_FAILED)
        message = failure.mark_failed(status, updated, err, generation)
        if err.reason == NO_SOURCE_ARTIFACT:
            return Result(status, min(interval, NO_ARTIFACT_REQUEUE))
        ctx.events.record(obj, WARNING, err.reason, message, controller=self.controller_name)
        return Result(status, None if err.stalled else min(interval, RETRY_AFTER_FAILURE))

    def _stored(self, artifact: Obj) -> bool:
        try:
            return bool(artifact.get("path")) and self.storage.local_path(str(artifact["path"])).is_file()
        except SandboxError:
            return False
