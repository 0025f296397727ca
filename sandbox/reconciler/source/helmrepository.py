"""HelmRepository: download an HTTP chart repository's ``index.yaml`` (``spec.secretRef`` basic auth,
``spec.certSecretRef`` TLS, ``spec.timeout``; through the sandbox's Helm mirrors), revision
``sha256:<digest of the downloaded index>``, and store the validated index (JSON, as source-controller stores it)
as the artifact ``helmrepository/<ns>/<name>/index-<hex>.yaml`` with ``index.yaml`` linked to it (status.url).

``type: oci`` repositories are static, as in source-controller v1.9.5: not fetched, no artifact, no finalizer and
no status (a former HTTP repository's artifact, finalizer and status are removed); HelmCharts resolve their charts in
the registry directly. Conditions, reasons, messages and events follow source-controller's
HelmRepositoryReconciler."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sandbox.errors import SandboxError
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import FINALIZER, Context, Result, interval_of
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.timeutil import parse_duration, rfc3339
from sandbox.reconciler.source import failure, gc, helmgetter, helmindex
from sandbox.reconciler.source.failure import (
    ARCHIVE_OPERATION_FAILED,
    ARTIFACT_OUTDATED,
    STORAGE_OPERATION_FAILED,
    URL_INVALID,
    Failure,
)
from sandbox.reconciler.source.mirrors import MIRROR_METADATA_KEY, MirrorMapFile, OfflineRefused, served_by
from sandbox.reconciler.source.storage import Storage
from sandbox.reconciler.unsupported import refuse_unsupported_fields

log = logging.getLogger(__name__)

Obj = dict[str, Any]
API_VERSION = "source.toolkit.fluxcd.io/v1"
KIND = "HelmRepository"
TYPE_OCI = "oci"
RETRY_AFTER_FAILURE = 30.0
INDEX_LINK = "index.yaml"

# source-controller's reasons (api/v1/condition_types.go)
INDEXATION_FAILED = "IndexationFailed"


def is_oci(obj: Obj) -> bool:
    return (obj.get("spec") or {}).get("type") == TYPE_OCI


def human_size(size: float) -> str:
    """go-units ``HumanSize``: decimal units, four significant digits (``1.234kB``)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000.0
        index += 1
    return f"{size:.4g}{units[index]}"


def directory_of(meta: Obj) -> str:
    return f"helmrepository/{meta['namespace']}/{meta['name']}"


class HelmRepositoryReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = "source-controller"
    status_manager = "gotk-source-controller"

    def __init__(self, storage: Storage, *, mirror_map: MirrorMapFile | None = None) -> None:
        self.storage = storage
        self.mirror_map = mirror_map or MirrorMapFile(None)

    @staticmethod
    def uses_finalizer(obj: Obj) -> bool:
        return not is_oci(obj)

    def resource_info(self, obj: Obj) -> dict[str, str]:
        artifact = (obj.get("status") or {}).get("artifact") or {}
        return {"revision": str(artifact.get("revision", "")), "url": str((obj.get("spec") or {}).get("url", ""))}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        self.storage.remove(directory_of(obj["metadata"]))

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        if is_oci(obj):
            return self._static(obj, ctx)
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        gc.collect(self.storage, obj, ctx, self.controller_name)  # as source-controller: first, each time
        meta, spec = obj["metadata"], obj.get("spec") or {}
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        conditions = list(status.get("conditions") or [])
        interval = interval_of(obj)
        url = str(spec.get("url", ""))
        was_failing = any(cond.is_true(conditions, kind) for kind in (cond.FETCH_FAILED, STORAGE_OPERATION_FAILED))
        artifact: Obj = dict(status.get("artifact") or {})
        if artifact and not self._stored(artifact):
            status.pop("artifact", None)
            status.pop("url", None)
            artifact = {}
            conditions = cond.remove(conditions, cond.ARTIFACT_IN_STORAGE)
            conditions = self._progress(obj, ctx, conditions, "building artifact: disappeared from storage",
                                        generation)
        elif not artifact:
            conditions = self._progress(obj, ctx, cond.remove(conditions, cond.ARTIFACT_IN_STORAGE),
                                        "building artifact", generation)
        try:
            index_data, served, mirror_url = self._fetch(obj, ctx, url)
            revision = "sha256:" + hashlib.sha256(index_data).hexdigest()
            if artifact.get("revision") == revision:
                conditions = cond.remove(cond.remove(conditions, cond.FETCH_FAILED), ARTIFACT_OUTDATED)
                status["conditions"] = self._ready(conditions, revision, generation, served)
                status["observedGeneration"] = generation
                ctx.events.record(obj, NORMAL, cond.ARTIFACT_UP_TO_DATE,
                                  f"artifact up-to-date with remote revision: '{revision}'",
                                  controller=self.controller_name)
                if was_failing:
                    self._announce(obj, ctx, cond.SUCCEEDED, artifact, served)
                return Result(status, interval)
            try:
                index = helmindex.parse_index(index_data)
            except helmindex.IndexError_ as err:
                raise Failure(cond.FETCH_FAILED, INDEXATION_FAILED,
                              f"failed to load Helm repository from index YAML: failed to load index: {err}") \
                    from err
            conditions = cond.remove(conditions, cond.FETCH_FAILED)
            news = f"new index revision '{revision}'"
            if artifact:
                conditions = cond.set_condition(conditions, ARTIFACT_OUTDATED, "True", cond.NEW_REVISION, news,
                                                generation)
            conditions = self._progress(obj, ctx, conditions, f"building artifact: {news}", generation)
            new = self._store(meta, index, revision, mirror_url)
        except Failure as err:
            return self._fail(obj, ctx, status, conditions, err, generation, interval)
        status["artifact"] = new
        status["url"] = self.storage.url_for(f"{directory_of(meta)}/{INDEX_LINK}")
        status["observedGeneration"] = generation
        conditions = cond.remove(cond.remove(conditions, ARTIFACT_OUTDATED), STORAGE_OPERATION_FAILED)
        status["conditions"] = self._ready(conditions, revision, generation, served)
        if artifact.get("digest") != new["digest"]:
            self._announce(obj, ctx, "NewArtifact", new, served)
        elif was_failing:
            self._announce(obj, ctx, cond.SUCCEEDED, new, served)
        return Result(status, interval)

    # --- steps --------------------------------------------------------------------------------------------------

    def _static(self, obj: Obj, ctx: Context) -> Result:
        """``migrationToStatic``: an OCI repository keeps no artifact, finalizer nor status."""
        meta = obj["metadata"]
        if FINALIZER in (meta.get("finalizers") or []):
            self.storage.remove(directory_of(meta))
            ctx.kube.patch(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"),
                           {"metadata": {"finalizers": [f for f in meta["finalizers"] if f != FINALIZER],
                                         "resourceVersion": meta["resourceVersion"]}})
        return Result({}, None)

    def _fetch(self, obj: Obj, ctx: Context, url: str) -> tuple[bytes, str, str | None]:
        """The index bytes, the status suffix naming a mirror that served them, and the mirror's URL."""
        spec = obj.get("spec") or {}
        if url.startswith(helmindex.OCI_SCHEME):
            raise Failure(cond.FETCH_FAILED, URL_INVALID, "invalid Helm repository URL: 'oci' URL scheme cannot be "
                          "used with 'default' HelmRepository type", stalled=True)
        if not url.startswith(("http://", "https://")):
            raise Failure(cond.FETCH_FAILED, URL_INVALID,
                          f"invalid Helm repository URL: unsupported protocol scheme in '{url}'", stalled=True)
        try:
            route = self.mirror_map.current().route_helm(url)
        except OfflineRefused as err:
            raise Failure(cond.FETCH_FAILED, cond.FAILED, f"failed to fetch Helm repository index: {err}") from err
        timeout = parse_duration(spec.get("timeout") or "60s", field="spec.timeout")
        fetch_url = helmindex.normalize_url(route.url)
        served, mirror_url = "", None
        if route.mirror is not None:
            # The sandbox chart repository: no credentials (the object's are for the real one).
            served, mirror_url = served_by(url), route.url
            options = helmgetter.HTTPOptions(fetch_url, timeout)
            return self._download(fetch_url, options), served, mirror_url
        try:
            with helmgetter.http_options(ctx.kube, obj, fetch_url, timeout) as options:
                return self._download(fetch_url, options), served, mirror_url
        except helmgetter.SecretError as err:
            raise Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED, str(err)) from err

    def _download(self, url: str, options: helmgetter.HTTPOptions) -> bytes:
        try:
            return helmgetter.get(helmindex.index_url(url), options, limit=helmindex.MAX_INDEX_SIZE)
        except helmgetter.FetchError as err:
            raise Failure(cond.FETCH_FAILED, cond.FAILED, "failed to fetch Helm repository index: failed to cache "
                          f"index to temporary file: {err}") from err

    def _store(self, meta: Obj, index: Obj, revision: str, mirror_url: str | None) -> Obj:
        directory = directory_of(meta)
        relative = f"{directory}/index-{revision.removeprefix('sha256:')}.yaml"
        try:
            stored = self.storage.store_bytes(helmindex.to_json(index), relative)
        except (OSError, SandboxError) as err:
            raise Failure(STORAGE_OPERATION_FAILED, ARCHIVE_OPERATION_FAILED,
                          f"unable to save artifact to storage: {err}") from err
        try:
            self.storage.symlink(relative, INDEX_LINK)
        except (OSError, SandboxError) as err:
            log.debug("failed to update status URL symlink: %s", err)
        new: Obj = {"path": stored.path, "url": self.storage.url_for(stored.path), "revision": revision,
                    "digest": stored.digest, "lastUpdateTime": rfc3339(), "size": stored.size}
        if mirror_url:
            new["metadata"] = {MIRROR_METADATA_KEY: mirror_url}
        return new

    def _announce(self, obj: Obj, ctx: Context, reason: str, artifact: Obj, served: str) -> None:
        size = artifact.get("size")
        described = f"size {human_size(float(size))}" if size is not None else "unknown size"
        message = f"stored fetched index of {described} from '{(obj.get('spec') or {}).get('url', '')}'{served}"
        ctx.events.record(obj, NORMAL, reason, message, controller=self.controller_name,
                          metadata={"source.toolkit.fluxcd.io/revision": str(artifact.get("revision", "")),
                                    "source.toolkit.fluxcd.io/digest": str(artifact.get("digest", ""))})

    # --- status -------------------------------------------------------------------------------------------------

    def _progress(self, obj: Obj, ctx: Context, conditions: list[Obj], message: str, generation: int) -> list[Obj]:
        return failure.progress(obj, ctx, conditions, message, generation, self.status_manager)

    def _ready(self, conditions: list[Obj], revision: str, generation: int, served: str) -> list[Obj]:
        message = f"stored artifact: revision '{revision}'{served}"
        updated = cond.set_condition(conditions, cond.ARTIFACT_IN_STORAGE, "True", cond.SUCCEEDED, message,
                                     generation)
        return cond.mark_ready(updated, cond.SUCCEEDED, message, generation)

    def _fail(self, obj: Obj, ctx: Context, status: Obj, conditions: list[Obj], err: Failure, generation: int,
              interval: float) -> Result:
        """Ready=False with the reason, the step's condition True; the last good artifact stays served."""
        message = failure.mark_failed(status, conditions, err, generation)
        ctx.events.record(obj, WARNING, err.reason, message, controller=self.controller_name)
        return Result(status, None if err.stalled else min(interval, RETRY_AFTER_FAILURE))

    def _stored(self, artifact: Obj) -> bool:
        try:
            return bool(artifact.get("path")) and self.storage.local_path(str(artifact["path"])).is_file()
        except SandboxError:
            return False
