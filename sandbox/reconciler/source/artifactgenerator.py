"""ArtifactGenerator (source-watcher's ``source.extensions.fluxcd.io/v1beta1``): read the artifacts of its sources
through the ``Sources`` registry, build each output artifact from them (``copying``) into the shared storage, and
publish it as an ExternalArtifact owned by the generator. Revisions, digests, conditions, reasons, messages and
events follow source-watcher's controller.

An output artifact's revision is ``latest@<digest of its archive>`` — so a change in a source that touches none of
its files leaves it as it was, and its consumers idle — or, with ``revision: "@<alias>"``, that source's revision.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import APIError, SandboxError
from sandbox.kube.informer import object_key
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Controller, Result
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.manager import Manager
from sandbox.reconciler.runtime.timeutil import rfc3339
from sandbox.reconciler.source import artifact as artifacts
from sandbox.reconciler.source.copying import CopyError, CopyOperation, apply_copies
from sandbox.reconciler.source.externalartifact import ExternalArtifactReconciler
from sandbox.reconciler.source.storage import Storage
from sandbox.reconciler.unsupported import refuse_unsupported_fields

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CONTROLLER = "source-watcher"
GENERATOR_LABEL = "source.extensions.fluxcd.io/generator"
RECONCILE_ANNOTATION = "source.extensions.fluxcd.io/reconcile"
MANAGED_BY = "app.kubernetes.io/managed-by"
# Reasons of source-watcher (and fluxcd/pkg's meta) for the Ready condition.
SOURCE_FETCH_FAILED = "SourceFetchFailed"
VALIDATION_FAILED = "ValidationFailed"
RECONCILIATION_DISABLED = "ReconciliationDisabled"
MSG_IN_PROGRESS = "Reconciliation in progress"
REQUEUE_AFTER = 3600.0  # source-watcher reconciles every generator hourly besides on change
DEPENDENCY_REQUEUE = 30.0  # a missing source or artifact is looked at again after this (and on its change)
RETRY_AFTER_FAILURE = 30.0


@dataclass(frozen=True)
class ObservedSource:
    """The artifact of one source of a generator, as it was read."""

    artifact: artifacts.Artifact

    def describe(self) -> str:
        return f"digest={self.artifact.digest},revision={self.artifact.revision},url={self.artifact.url}"


def observed_sources_digest(observed: Mapping[str, ObservedSource]) -> str:
    """source-watcher's ``HashObservedSources``: sha256 over the sorted ``alias=[digest=…,revision=…,url=…]``."""
    parts = sorted(f"{alias}=[{source.describe()}]" for alias, source in observed.items())
    return "sha256:" + hashlib.sha256("|".join(parts).encode()).hexdigest()


def contents_hash(directory: Path, prefix: str) -> str:
    """source-watcher's name for an artifact file: Go's ``dirhash.HashDir`` of the staged files (named
    ``<prefix>/<path>``) with Adler-32 — a line ``<adler32 hex>  <name>`` per file in sorted order, hashed again."""
    names = sorted(f"{prefix}/{path.relative_to(directory).as_posix()}" for path in directory.rglob("*")
                   if path.is_file())
    summary = 1  # Adler-32's initial value
    for name in names:
        if "\n" in name:
            raise CopyError("filenames with newlines are not supported")
        content = (directory / name[len(prefix) + 1:]).read_bytes()
        summary = zlib.adler32(f"{zlib.adler32(content):x}  {name}\n".encode(), summary)
    return str(summary)


def artifact_revisions(output: Obj, observed: Mapping[str, ObservedSource], digest: str) -> tuple[str, str | None]:
    """The revision of an output artifact (``latest@<digest>``, or the ``revision: "@alias"`` source's) and the
    origin revision recorded in its metadata (None when ``originRevision`` names no known source)."""
    revision = f"latest@{digest}"
    alias = str(output.get("revision") or "").removeprefix("@")
    if alias and alias in observed:
        revision = observed[alias].artifact.revision
    origin = None
    origin_alias = str(output.get("originRevision") or "").removeprefix("@")
    if origin_alias and origin_alias in observed:
        source = observed[origin_alias].artifact
        origin = source.origin_revision or source.revision
    return revision, origin


def validation_error(spec: Obj) -> str | None:
    """What source-watcher refuses as terminal (ValidationFailed): duplicate aliases or artifact names, and a
    ``revision`` naming no source."""
    aliases: set[str] = set()
    for source in spec.get("sources") or []:
        alias = str(source.get("alias", ""))
        if alias in aliases:
            return f"duplicate source alias '{alias}' found"
        aliases.add(alias)
    names: set[str] = set()
    for output in spec.get("artifacts") or []:
        name = str(output.get("name", ""))
        if name in names:
            return f"duplicate artifact name '{name}' found"
        revision = str(output.get("revision") or "").removeprefix("@")
        if revision and revision not in aliases:
            return f"artifact {name} revision source alias '{revision}' not found"
        names.add(name)
    return None


class BuildFailed(SandboxError):
    pass


class ArtifactGeneratorReconciler:
    api_version = kinds.ARTIFACTGENERATOR.api_version
    kind = kinds.ARTIFACTGENERATOR.kind
    controller_name = CONTROLLER
    status_manager = CONTROLLER

    def __init__(self, storage: Storage, sources: artifacts.Sources, workdir: Path, *,
                 requeue_dependency: float = DEPENDENCY_REQUEUE) -> None:
        self.storage = storage
        self.sources = sources
        self.workdir = workdir
        self.requeue_dependency = requeue_dependency

    def resource_info(self, obj: Obj) -> dict[str, str]:
        return {}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        """Remove the generated ExternalArtifacts and their files (the ownerReferences would also let Kubernetes'
        garbage collector delete the objects)."""
        for entry in (obj.get("status") or {}).get("inventory") or []:
            self._remove(ctx, str(entry.get("namespace")), str(entry.get("name")))

    def _remove(self, ctx: Context, namespace: str, name: str) -> None:
        ctx.kube.delete(kinds.EXTERNALARTIFACT.api_version, kinds.EXTERNALARTIFACT.kind, name, namespace)
        self.storage.remove(f"externalartifact/{namespace}/{name}")

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        meta, spec = obj["metadata"], obj.get("spec") or {}
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        conditions = list(status.get("conditions") or [])
        if str((meta.get("annotations") or {}).get(RECONCILE_ANNOTATION, "")).lower() == "disabled":
            ctx.events.record(obj, WARNING, RECONCILIATION_DISABLED, "Reconciliation is disabled",
                              controller=self.controller_name)
            return Result(status, None)
        invalid = validation_error(spec)
        if invalid is not None:
            status["conditions"] = cond.mark_failed(conditions, VALIDATION_FAILED, invalid, generation, stalled=True)
            ctx.events.record(obj, WARNING, VALIDATION_FAILED, invalid, controller=self.controller_name)
            return Result(status, None)

        namespace = str(meta["namespace"])
        try:
            observed = self._observe(ctx, namespace, spec)
        except artifacts.SourceError as err:
            return self._fail(obj, ctx, status, SOURCE_FETCH_FAILED, f"get sources failed: {err}",
                              self.requeue_dependency)
        digest = observed_sources_digest(observed)
        if not self._drifted(obj, ctx, status, digest):
            message = f"No drift detected, {len(status.get('inventory') or [])} artifact(s) up to date"
            ctx.events.record(obj, NORMAL, cond.READY, message, controller=self.controller_name)
            return Result(status, REQUEUE_AFTER)

        status["conditions"] = cond.mark_reconciling(conditions, cond.PROGRESSING, MSG_IN_PROGRESS, generation)
        obj = {**obj, **ctx.patch_status(obj, status, self.status_manager)}
        try:
            local = {alias: self.storage.unpacked(source.artifact.path, source.artifact.digest)
                     for alias, source in observed.items()}
        except SandboxError as err:
            return self._fail(obj, ctx, status, SOURCE_FETCH_FAILED, f"fetch sources failed: {err}",
                              self.requeue_dependency)

        inventory: list[Obj] = []
        previous = {(e.get("namespace"), e.get("name")): e.get("digest") for e in status.get("inventory") or []}
        for output in spec.get("artifacts") or []:
            name = str(output.get("name", ""))
            try:
                built = self._build(output, local, observed, namespace)
            except (CopyError, SandboxError, OSError) as err:
                return self._fail(obj, ctx, status, cond.BUILD_FAILED, f"{name} build failed: {err}",
                                  RETRY_AFTER_FAILURE)
            try:
                self._publish(obj, ctx, spec, name, built)
            except APIError as err:
                return self._fail(obj, ctx, status, cond.RECONCILIATION_FAILED, f"{name} reconcile failed: {err}",
                                  RETRY_AFTER_FAILURE)
            if previous.get((namespace, name)) != built["digest"]:
                ctx.events.record(obj, NORMAL, cond.READY, f"ExternalArtifact/{namespace}/{name} reconciled with "
                                  f"revision {built['revision']}", controller=self.controller_name)
            inventory.append({"name": name, "namespace": namespace, "digest": built["digest"],
                              "filename": os.path.basename(built["path"])})

        current = {(e["namespace"], e["name"]) for e in inventory}
        for entry in status.get("inventory") or []:
            if (entry.get("namespace"), entry.get("name")) not in current:
                try:
                    self._remove(ctx, str(entry.get("namespace")), str(entry.get("name")))
                except APIError as err:
                    log.warning("could not delete orphaned ExternalArtifact %s/%s: %s", entry.get("namespace"),
                                entry.get("name"), err)
        status["inventory"] = inventory
        status["observedSourcesDigest"] = digest
        message = f"reconciliation succeeded, generated {len(inventory)} artifact(s)"
        status["conditions"] = cond.mark_ready(status["conditions"], cond.SUCCEEDED, message, generation)
        ctx.events.record(obj, NORMAL, cond.READY, message, controller=self.controller_name)
        return Result(status, REQUEUE_AFTER)

    def _fail(self, obj: Obj, ctx: Context, status: Obj, reason: str, message: str, requeue: float) -> Result:
        """Ready=False with ``reason``: the ExternalArtifacts keep serving the last artifacts that were built."""
        generation = int(obj["metadata"].get("generation", 1))
        status["conditions"] = cond.mark_failed(status.get("conditions"), reason, message, generation)
        ctx.events.record(obj, WARNING, reason, message, controller=self.controller_name)
        return Result(status, requeue)

    def _observe(self, ctx: Context, namespace: str, spec: Obj) -> dict[str, ObservedSource]:
        observed = {}
        for source in spec.get("sources") or []:
            reference = {"kind": source.get("kind"), "name": source.get("name"),
                         "namespace": source.get("namespace")}
            _, artifact = artifacts.resolve(ctx.kube, self.sources, reference, namespace)
            observed[str(source.get("alias"))] = ObservedSource(artifact)
        return observed

    def _drifted(self, obj: Obj, ctx: Context, status: Obj, digest: str) -> bool:
        """source-watcher's drift detection: anything but a Ready generator whose sources, artifact list, stored
        files and ExternalArtifacts are all as last built."""
        ready = cond.find(status.get("conditions"), cond.READY)
        if ready is None or ready.get("status") == "False":
            return True
        if ready.get("observedGeneration") != int(obj["metadata"].get("generation", 1)):
            return True
        inventory = status.get("inventory") or []
        if status.get("observedSourcesDigest") != digest or len(inventory) != len(obj["spec"].get("artifacts") or []):
            return True
        for entry in inventory:
            path = f"externalartifact/{entry.get('namespace')}/{entry.get('name')}/{entry.get('filename')}"
            try:
                self.storage.verify(path, str(entry.get("digest")))
            except SandboxError:
                return True
        try:
            listed = ctx.kube.list(kinds.EXTERNALARTIFACT.api_version, kinds.EXTERNALARTIFACT.kind,
                                   obj["metadata"]["namespace"],
                                   label_selector=f"{GENERATOR_LABEL}={obj['metadata'].get('uid', '')}")
        except APIError:
            return True
        items = listed.items
        expected = {(e.get("namespace"), e.get("name"), e.get("digest")) for e in inventory}
        found = {(item["metadata"].get("namespace"), item["metadata"].get("name"),
                  ((item.get("status") or {}).get("artifact") or {}).get("digest")) for item in items}
        return found != expected

    def _build(self, output: Obj, local: Mapping[str, Path], observed: Mapping[str, ObservedSource],
               namespace: str) -> Obj:
        """Stage the copies of ``output``, store the archive as ``externalartifact/<ns>/<name>/<hash>.tar.gz``
        and return the artifact (path, url, revision, digest, metadata)."""
        name = str(output.get("name", ""))
        operations = [CopyOperation.parse(raw) for raw in output.get("copy") or []]
        self.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ag-", dir=self.workdir) as scratch:
            staging = Path(scratch) / name
            staging.mkdir()
            try:
                apply_copies(operations, local, staging)
            except CopyError as err:
                raise BuildFailed(f"failed to apply copy operations: {err}") from err
            directory = f"externalartifact/{namespace}/{name}"
            relative = f"{directory}/{contents_hash(staging, name)}.tar.gz"
            stored = self.storage.store_directory(staging, relative, "")
        self.storage.garbage_collect(directory, {relative})
        revision, origin = artifact_revisions(output, observed, stored.digest)
        built: Obj = {"path": stored.path, "url": self.storage.url_for(stored.path), "revision": revision,
                      "digest": stored.digest, "lastUpdateTime": rfc3339(), "size": stored.size}
        if origin is not None:
            built["metadata"] = {artifacts.ORIGIN_REVISION_KEY: origin}
        return built

    def _publish(self, obj: Obj, ctx: Context, spec: Obj, name: str, built: Obj) -> None:
        """Apply the ExternalArtifact (owned by the generator) and write its status."""
        meta = obj["metadata"]
        common = spec.get("commonMetadata") or {}
        labels = {**(common.get("labels") or {}), MANAGED_BY: CONTROLLER, GENERATOR_LABEL: str(meta.get("uid", ""))}
        metadata: Obj = {"name": name, "namespace": meta["namespace"], "labels": labels,
                         "ownerReferences": [{"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                                              "name": meta["name"], "uid": meta.get("uid", ""), "controller": True}]}
        if common.get("annotations"):
            metadata["annotations"] = dict(common["annotations"])
        external = ctx.kube.apply({
            "apiVersion": kinds.EXTERNALARTIFACT.api_version, "kind": kinds.EXTERNALARTIFACT.kind,
            "metadata": metadata,
            "spec": {"sourceRef": {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"],
                                   "namespace": meta["namespace"]}},
        }, field_manager=CONTROLLER)
        existing = external.get("status") or {}
        if _same_artifact(existing.get("artifact") or {}, built) and cond.is_true(existing.get("conditions"),
                                                                                  cond.READY):
            return  # unchanged: keep its lastUpdateTime
        conditions = cond.set_condition(existing.get("conditions"), cond.READY, "True", cond.SUCCEEDED,
                                        "Artifact is ready", int(external["metadata"].get("generation", 1)))
        ctx.kube.patch_status(external, {"artifact": built, "conditions": conditions}, field_manager=CONTROLLER)


def _same_artifact(published: Obj, built: Obj) -> bool:
    return all(published.get(key) == built.get(key) for key in ("path", "url", "revision", "digest", "metadata"))


class _RevisionChanges:
    """Which source updates carry a new artifact revision (source-watcher's ``sourceChangePredicate``)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()

    def changed(self, source: Obj) -> bool:
        revision = artifacts.revision_of(source)
        key = artifacts.key_of(source)
        with self._lock:
            before = self._seen.get(key)
            self._seen[key] = revision
        return bool(revision) and revision != before


def register(manager: Manager, ctx: Context, sources: artifacts.Sources, storage: Storage, data_dir: Path, *,
             workers: int = 2) -> Controller:
    """Serve ExternalArtifacts as a source kind, and add the ArtifactGenerator controller, re-run when a source it
    reads publishes a new artifact revision. Call it after every other source kind is registered."""
    external = manager.add(Controller(ExternalArtifactReconciler(), ctx, workers=1))
    sources.register(kinds.EXTERNALARTIFACT, external.informer)
    reconciler = ArtifactGeneratorReconciler(storage, sources, data_dir / "generator-builds")
    controller = manager.add(Controller(reconciler, ctx, workers=workers))
    changes = _RevisionChanges()

    def by_source(source: Obj) -> list[str]:
        if not changes.changed(source):
            return []
        meta = source.get("metadata", {})
        keys = []
        for generator in controller.informer.items():
            namespace = generator["metadata"].get("namespace")
            for ref in (generator.get("spec") or {}).get("sources") or []:
                if (ref.get("kind") == source.get("kind") and ref.get("name") == meta.get("name")
                        and (ref.get("namespace") or namespace) == meta.get("namespace")):
                    keys.append(object_key(generator))
                    break
        return keys

    sources.watch(controller.watch, by_source)
    return controller
