"""OCIRepository: resolve ``spec.ref`` (digest > semver > tag, default ``latest``) against the registry, pull the
manifest, take the layer ``spec.layerSelector`` names (default: the first) and either extract it (filtered by
``spec.ignore`` and ``.sourceignore`` files) or copy it as is into the artifact storage, with revision
``<tag>@sha256:<manifest digest>`` and the manifest's annotations as the artifact's metadata. Conditions, reasons,
messages and events follow source-controller's OCIRepositoryReconciler."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sandbox.errors import NotFound, SandboxError
from sandbox.oci import distribution
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Result, interval_of
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.timeutil import parse_duration, rfc3339
from sandbox.reconciler.source import failure, gc, ocirefs
from sandbox.reconciler.source.artifact import ORIGIN_REVISION_KEY
from sandbox.reconciler.source.failure import (
    ARCHIVE_OPERATION_FAILED,
    ARTIFACT_OUTDATED,
    STORAGE_OPERATION_FAILED,
    URL_INVALID,
    Failure,
)
from sandbox.reconciler.source.mirrors import MIRROR_METADATA_KEY, MirrorMapFile, OfflineRefused, served_by
from sandbox.reconciler.source.storage import Storage, StoredArtifact
from sandbox.reconciler.unsupported import refuse_unsupported_fields

log = logging.getLogger(__name__)

Obj = dict[str, Any]
API_VERSION = "source.toolkit.fluxcd.io/v1"
KIND = "OCIRepository"
RETRY_AFTER_FAILURE = 30.0
SOURCE_ANNOTATION = "org.opencontainers.image.source"

# source-controller's reasons (api/v1/condition_types.go)
OCI_PULL_FAILED = "OCIArtifactPullFailed"
OCI_LAYER_OPERATION_FAILED = "OCIArtifactLayerOperationFailed"
READ_OPERATION_FAILED = "ReadOperationFailed"
LATEST = "latest.tar.gz"


def credentials_from_secret(kube: Any, namespace: str, name: str, host: str) -> distribution.Credentials | None:
    """Basic credentials for ``host`` from a ``kubernetes.io/dockerconfigjson`` Secret (None when it names none
    for that host)."""
    try:
        secret = kube.get("v1", "Secret", name, namespace)
    except NotFound as err:
        raise Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED,
                      f"failed to get credential: failed to get secret '{namespace}/{name}': secrets \"{name}\" "
                      "not found") from err
    data = secret.get("data") or {}
    raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
    if not raw:
        raise Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED,
                      f"failed to get credential: secret '{namespace}/{name}' has no '.dockerconfigjson' key "
                      "(create it with `kubectl create secret docker-registry`)")
    try:
        config = json.loads(base64.b64decode(raw))
        auths = config.get("auths", config) if isinstance(config, dict) else {}
    except ValueError as err:
        raise Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED,
                      f"failed to get credential: secret '{namespace}/{name}': invalid docker config: {err}") from err
    for server, entry in auths.items():
        if _registry_host(str(server)) != host or not isinstance(entry, dict):
            continue
        username, password = str(entry.get("username", "")), str(entry.get("password", ""))
        if entry.get("auth") and not username:
            username, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        return distribution.Credentials(username, password)
    return None


@contextmanager
def tls_files(kube: Any, namespace: str, name: str, url: str) -> Iterator[dict[str, Any]]:
    """``ca_file``/``client_cert`` for the registry client from the certSecretRef Secret (``ca.crt``, and
    ``tls.crt`` with ``tls.key``), written to a private temporary folder for the duration of the reconcile."""
    def failed(detail: str) -> Failure:
        return Failure(cond.FETCH_FAILED, cond.AUTHENTICATION_FAILED,
                       f"failed to generate transport for '{url}': {detail}")

    try:
        secret = kube.get("v1", "Secret", name, namespace)
    except NotFound as err:
        raise failed(f"secrets \"{name}\" not found") from err
    data = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    if bool(data.get("tls.crt")) != bool(data.get("tls.key")):
        raise failed(f"secret '{namespace}/{name}' must contain both 'tls.crt' and 'tls.key', or neither")
    if not data.get("ca.crt") and not data.get("tls.crt"):
        raise failed(f"secret '{namespace}/{name}' must contain 'ca.crt', or 'tls.crt' and 'tls.key'")
    with tempfile.TemporaryDirectory(prefix="ocirepo-tls-") as scratch:
        options: dict[str, Any] = {}
        for key in ("ca.crt", "tls.crt", "tls.key"):
            if data.get(key):
                path = Path(scratch) / key
                path.write_bytes(data[key])
                path.chmod(0o600)
        if data.get("ca.crt"):
            options["ca_file"] = str(Path(scratch) / "ca.crt")
        if data.get("tls.crt"):
            options["client_cert"] = (str(Path(scratch) / "tls.crt"), str(Path(scratch) / "tls.key"))
        yield options


def _registry_host(server: str) -> str:
    for prefix in ("https://", "http://", "oci://"):
        server = server.removeprefix(prefix)
    return server.split("/", 1)[0]


def extract_layer(data: bytes, target: Path) -> None:
    """Untar the gzip-compressed ``data`` into ``target`` as fluxcd/pkg/tar does: regular files and directories
    only (symlinks skipped), nothing outside ``target``."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = [m for m in archive.getmembers() if m.isreg() or m.isdir()]
            archive.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise Failure(cond.FETCH_FAILED, OCI_LAYER_OPERATION_FAILED,
                      f"failed to extract layer contents from artifact: {err}") from err


class OCIRepositoryReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = "source-controller"
    status_manager = "gotk-source-controller"

    def __init__(self, storage: Storage, *, mirror_map: MirrorMapFile | None = None) -> None:
        self.storage = storage
        self.mirror_map = mirror_map or MirrorMapFile(None)

    def resource_info(self, obj: Obj) -> dict[str, str]:
        artifact = obj.get("status", {}).get("artifact") or {}
        return {"revision": artifact.get("revision", ""), "url": obj.get("spec", {}).get("url", "")}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        meta = obj["metadata"]
        self.storage.remove(_directory(meta))

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        gc.collect(self.storage, obj, ctx, self.controller_name)  # as source-controller: first, each time
        meta, spec = obj["metadata"], obj.get("spec", {})
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        conditions = list(status.get("conditions", []))
        interval = interval_of(obj)
        url = str(spec.get("url", ""))
        # source-controller tells a recovery from failure (the same artifact, Ready again) with a Succeeded event.
        was_failing = (cond.find(conditions, cond.READY) or {}).get("status") == "False"
        served = ""
        try:
            try:
                host, repository = distribution.split_url(url)
            except ValueError as err:
                raise Failure(cond.FETCH_FAILED, URL_INVALID, f"URL validation failed for '{url}': {err}",
                              stalled=True) from err
            try:
                route = self.mirror_map.current().route_oci(url)
            except OfflineRefused as err:
                # No network attempt: fails at once, and retries (a mirror added meanwhile serves the retry).
                raise Failure(cond.FETCH_FAILED, OCI_PULL_FAILED, f"failed to pull artifact from '{url}': {err}") \
                    from err
            timeout = parse_duration(spec.get("timeout") or "60s", field="spec.timeout")
            credentials = None
            cert_secret = str((spec.get("certSecretRef") or {}).get("name") or "")
            insecure = bool(spec.get("insecure"))
            if route.mirror is not None:
                # The sandbox registry: plain HTTP on loopback, no credentials (the object's are for the real one).
                try:
                    host, repository = distribution.split_url(route.url)
                except ValueError as err:
                    raise Failure(cond.FETCH_FAILED, OCI_PULL_FAILED,
                                  f"the sandbox mirror of '{url}' is not a valid OCI URL ({route.url}): {err}") \
                        from err
                served, cert_secret, insecure = served_by(url), "", True
            elif (spec.get("secretRef") or {}).get("name"):
                credentials = credentials_from_secret(ctx.kube, meta["namespace"], spec["secretRef"]["name"], host)
            tls_context: AbstractContextManager[dict[str, Any]] = \
                tls_files(ctx.kube, meta["namespace"], cert_secret, url) if cert_secret else nullcontext({})
            with tls_context as tls, distribution.RegistryClient(
                    host, insecure=insecure, credentials=credentials, timeout=timeout, **tls) as client:
                ref = self._artifact_ref(client, repository, spec, url)
                revision = self._revision(client, repository, ref)
                artifact = status.get("artifact") or {}
                if artifact.get("revision") == revision and not _content_config_changed(spec, status) \
                        and self._stored(artifact):
                    status["conditions"] = self._ready(cond.remove(cond.remove(conditions, cond.FETCH_FAILED),
                                                                   ARTIFACT_OUTDATED), revision, generation, served)
                    status["observedGeneration"] = generation
                    # source-controller's trace event: kept as a Normal Kubernetes event (not sent to notifications)
                    ctx.events.record(obj, NORMAL, cond.ARTIFACT_UP_TO_DATE,
                                      f"artifact up-to-date with remote revision: '{revision}'",
                                      controller=self.controller_name)
                    if was_failing:
                        self._announce(obj, ctx, cond.SUCCEEDED, revision, str(artifact.get("digest", "")),
                                       _metadata_of(artifact), served)
                    return Result(status, interval)
                if artifact.get("revision") != revision:
                    news = f"new revision '{revision}' for '{host}/{repository}{'@' if ref.digest else ':'}{ref}'"
                    if artifact:
                        conditions = cond.set_condition(conditions, ARTIFACT_OUTDATED, "True", cond.NEW_REVISION,
                                                        news, generation)
                    conditions = self._building(obj, ctx, conditions, f"building artifact: {news}", generation)
                stored, metadata = self._pull_and_store(client, repository, ref, revision, meta, spec)
                if route.mirror is not None:
                    metadata[MIRROR_METADATA_KEY] = route.url
        except Failure as err:
            return self._fail(obj, ctx, status, conditions, err, generation, interval)
        new = {"path": stored.path, "url": self.storage.url_for(stored.path), "revision": revision,
               "digest": stored.digest, "lastUpdateTime": rfc3339(), "size": stored.size}
        if metadata:
            new["metadata"] = metadata
        previous_digest = (status.get("artifact") or {}).get("digest")
        status["artifact"] = new
        status["url"] = self.storage.url_for(f"{_directory(meta)}/{LATEST}")
        status["observedGeneration"] = generation
        _set_observed(status, "observedIgnore", spec.get("ignore"))
        _set_observed(status, "observedLayerSelector", spec.get("layerSelector"))
        conditions = cond.remove(cond.remove(cond.remove(conditions, cond.FETCH_FAILED), ARTIFACT_OUTDATED),
                                 STORAGE_OPERATION_FAILED)
        status["conditions"] = self._ready(conditions, revision, generation, served)
        if previous_digest != stored.digest:
            self._announce(obj, ctx, "NewArtifact", revision, stored.digest, metadata, served)
        elif was_failing:
            self._announce(obj, ctx, cond.SUCCEEDED, revision, stored.digest, metadata, served)
        return Result(status, interval)

    def _announce(self, obj: Obj, ctx: Context, reason: str, revision: str, digest: str,
                  metadata: dict[str, str], served: str = "") -> None:
        """The Normal event of a new artifact (NewArtifact) or of a recovery (Succeeded), as source-controller's
        notify words it."""
        message = f"stored artifact with revision '{revision}' from '{obj.get('spec', {}).get('url', '')}'"
        if metadata.get(SOURCE_ANNOTATION) and metadata.get(ORIGIN_REVISION_KEY):
            message += (f", origin source '{metadata[SOURCE_ANNOTATION]}', "
                        f"origin revision '{metadata[ORIGIN_REVISION_KEY]}'")
        message += served
        ctx.events.record(obj, NORMAL, reason, message, controller=self.controller_name,
                          metadata={"source.toolkit.fluxcd.io/revision": revision,
                                    "source.toolkit.fluxcd.io/digest": digest})

    # --- steps --------------------------------------------------------------------------------------------------

    def _building(self, obj: Obj, ctx: Context, conditions: list[Obj], message: str, generation: int) -> list[Obj]:
        """Reconciling=True and Ready=Unknown with ``message`` while a new revision is pulled, written at once (as
        source-controller's ProgressiveStatus) so that watchers see the work start."""
        updated = cond.set_condition(conditions, cond.RECONCILING, "True", cond.PROGRESSING, message, generation)
        updated = cond.set_condition(updated, cond.READY, "Unknown", cond.PROGRESSING, message, generation)
        try:
            ctx.patch_status(obj, {"conditions": updated}, self.status_manager)
        except SandboxError as err:
            log.warning("could not mark OCIRepository %s/%s reconciling: %s", obj["metadata"].get("namespace"),
                        obj["metadata"].get("name"), err)
        return updated

    def _artifact_ref(self, client: distribution.RegistryClient, repository: str, spec: Obj,
                      url: str) -> ocirefs.ArtifactRef:
        ref_spec = spec.get("ref")
        selector = spec.get("layerSelector") or {}
        try:
            tags = client.tags(repository) if ocirefs.wants_tag_list(ref_spec) else None
            return ocirefs.resolve(ref_spec, tags, str(selector.get("mediaType") or ""))
        except (distribution.OCIError, ocirefs.RefError) as err:
            raise Failure(cond.FETCH_FAILED, READ_OPERATION_FAILED,
                          f"failed to determine the artifact tag for '{url}': {err}") from err

    def _revision(self, client: distribution.RegistryClient, repository: str, ref: ocirefs.ArtifactRef) -> str:
        if ref.digest:
            return ocirefs.revision(ref, ref.digest)
        try:
            return ocirefs.revision(ref, client.resolve(repository, ref.tag))
        except distribution.OCIError as err:
            raise Failure(cond.FETCH_FAILED, OCI_PULL_FAILED, f"failed to determine artifact digest: {err}") from err

    def _pull_and_store(self, client: distribution.RegistryClient, repository: str, ref: ocirefs.ArtifactRef,
                        revision: str, meta: Obj, spec: Obj) -> tuple[StoredArtifact, dict[str, str]]:
        url = str(spec.get("url", ""))
        digest = ocirefs.digest_of(revision)
        try:
            manifest = client.manifest(repository, digest)
        except distribution.OCIError as err:
            raise Failure(cond.FETCH_FAILED, OCI_PULL_FAILED,
                          f"failed to pull artifact from '{url}': {err}") from err
        try:
            document = manifest.document
        except ValueError as err:
            raise Failure(cond.FETCH_FAILED, OCI_LAYER_OPERATION_FAILED,
                          f"failed to parse artifact manifest: {err}") from err
        annotations = document.get("annotations") or {}
        metadata = {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}
        selector = spec.get("layerSelector")
        try:
            layer = ocirefs.select_layer(document, selector)
        except ocirefs.LayerError as err:
            raise Failure(cond.FETCH_FAILED, OCI_LAYER_OPERATION_FAILED, str(err)) from err
        try:
            blob = client.blob(repository, str(layer.get("digest", "")))
        except distribution.OCIError as err:
            raise Failure(cond.FETCH_FAILED, OCI_LAYER_OPERATION_FAILED,
                          f"failed to extract the first layer from artifact: {err}") from err
        directory = _directory(meta)
        relative = f"{directory}/{digest.removeprefix('sha256:')}.tar.gz"
        operation = ocirefs.layer_operation(selector)
        if operation == ocirefs.COPY:
            stored = self._store_bytes(blob, relative)
        elif operation == ocirefs.EXTRACT:
            with tempfile.TemporaryDirectory(prefix="ocirepo-") as scratch:
                tree = Path(scratch) / "tree"
                tree.mkdir()
                extract_layer(blob, tree)
                try:
                    # No spec.ignore: only .sourceignore files count (source-controller adds no defaults here).
                    stored = self.storage.store_directory(tree, relative, spec.get("ignore") or "")
                except (OSError, SandboxError) as err:
                    raise Failure(STORAGE_OPERATION_FAILED, ARCHIVE_OPERATION_FAILED,
                                  f"unable to archive artifact to storage: {err}") from err
        else:
            raise Failure(cond.FETCH_FAILED, OCI_LAYER_OPERATION_FAILED, f"unsupported layer operation: {operation}")
        self._link_latest(directory, relative)
        return stored, metadata

    def _link_latest(self, directory: str, relative: str) -> None:
        """``latest.tar.gz`` next to the artifact, pointing at it (status.url), on a best-effort basis as
        source-controller's symlink."""
        try:
            # The folder, not the link: resolving an existing link would name the artifact it points at.
            link = self.storage.local_path(directory) / LATEST
            scratch = link.with_name(f".{LATEST}.tmp")
            scratch.unlink(missing_ok=True)
            scratch.symlink_to(Path(relative).name)
            os.replace(scratch, link)
        except (OSError, SandboxError) as err:
            log.debug("failed to update status URL symlink: %s", err)

    def _store_bytes(self, data: bytes, relative: str) -> StoredArtifact:
        try:
            target = self.storage.local_path(relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, target)
        except (OSError, SandboxError) as err:
            raise Failure(STORAGE_OPERATION_FAILED, ARCHIVE_OPERATION_FAILED,
                          f"unable to copy artifact to storage: {err}") from err
        return StoredArtifact(relative, distribution.sha256_digest(data), len(data))

    # --- status -------------------------------------------------------------------------------------------------

    def _ready(self, conditions: list[Obj], revision: str, generation: int, served: str = "") -> list[Obj]:
        message = f"stored artifact for digest '{revision}'{served}"
        updated = cond.set_condition(conditions, cond.ARTIFACT_IN_STORAGE, "True", cond.SUCCEEDED, message,
                                     generation)
        return cond.mark_ready(updated, cond.SUCCEEDED, message, generation)

    def _fail(self, obj: Obj, ctx: Context, status: Obj, conditions: list[Obj], err: Failure, generation: int,
              interval: float) -> Result:
        """Ready=False with the reason, the step's condition True; the artifact in status (the last good one) is
        kept and still served."""
        message = failure.mark_failed(status, conditions, err, generation)
        ctx.events.record(obj, WARNING, err.reason, message, controller=self.controller_name)
        return Result(status, None if err.stalled else min(interval, RETRY_AFTER_FAILURE))

    def _stored(self, artifact: Obj) -> bool:
        try:
            return bool(artifact.get("path")) and self.storage.local_path(artifact["path"]).exists()
        except SandboxError:
            return False


def _metadata_of(artifact: Obj) -> dict[str, str]:
    return {str(k): str(v) for k, v in (artifact.get("metadata") or {}).items()}


def _directory(meta: Obj) -> str:
    return f"ocirepository/{meta['namespace']}/{meta['name']}"


def _content_config_changed(spec: Obj, status: Obj) -> bool:
    return (spec.get("ignore") != status.get("observedIgnore")
            or (spec.get("layerSelector") or None) != (status.get("observedLayerSelector") or None))


def _set_observed(status: Obj, field: str, value: Any) -> None:
    if value is None:
        status.pop(field, None)
    else:
        status[field] = value
