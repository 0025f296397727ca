"""Kustomization: fetch the source artifact, build with kustomize, substitute variables, validate, apply in
stages with server-side apply, prune, check health, and report it all in status and events as Flux does."""

from __future__ import annotations

import base64
import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox.errors import APIError, Forbidden, InputError, SandboxError, WaitTimeout
from sandbox.kube.client import KubeClient, ref
from sandbox.kube.informer import Informer, object_key
from sandbox.reconciler import lockdown
from sandbox.reconciler.kustomize import changeset, decrypt, health, inventory, pipeline, substitute
from sandbox.reconciler.kustomize.apply import DEADLINE_EXCEEDED, Applier, ApplyError, PruneError
from sandbox.reconciler.kustomize.changeset import Action, Change
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.runtime import cel, history, remote, targets
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import REQUESTED_AT, Context, Controller, Mapper, Result, interval_of
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.jsondiff import IgnoreRules
from sandbox.reconciler.runtime.manager import Manager
from sandbox.reconciler.runtime.timeutil import go_duration, parse_duration
from sandbox.reconciler.source import artifact as artifacts
from sandbox.reconciler.source.artifact import Artifact, Sources
from sandbox.reconciler.source.storage import Storage
from sandbox.reconciler.support import NOT_SUPPORTED
from sandbox.reconciler.unsupported import refuse_unsupported_fields
from sandbox.tools.run import mask
from sandbox.tools.sops import Keys
from sandbox.waiting import wait_until

log = logging.getLogger(__name__)

Obj = dict[str, Any]
API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
KIND = "Kustomization"
DEPENDENCY_REQUEUE = 30.0  # kustomize-controller's --requeue-dependency default
HEALTH_POLL = 0.25
WATCH_LABEL = "reconcile.fluxcd.io/watch"
WATCH_ENABLED = "Enabled"
# kustomize-controller's prefix for a failure retrying cannot fix (an invalid CEL expression)
TERMINAL_ERROR_MESSAGE = "Reconciliation failed terminally due to configuration error"


class ReconcileFailure(SandboxError):
    """A failed step: its Flux reason and message go into Ready=False."""

    def __init__(self, reason: str, message: str, *, requeue: float | None = None, stalled: bool = False,
                 detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message  # what the Healthy condition says (Ready's message adds the context)
        self.reason = reason
        self.requeue = requeue
        self.stalled = stalled


MIN_TIMEOUT = 30.0
MIN_SECRET_LENGTH = 3  # shorter values would mask ordinary words of the message


def secret_values(fetched: dict[tuple[str, str], Obj | None]) -> list[str]:
    """The decoded values of the Secrets among ``fetched`` (only those long enough to be told apart from words)."""
    values: list[str] = []
    for (kind, _), secret in fetched.items():
        if kind != "Secret" or not secret:
            continue
        for encoded in (secret.get("data") or {}).values():
            try:
                values.append(base64.b64decode(str(encoded)).decode())
            except (ValueError, UnicodeDecodeError):
                continue
        values += [str(v) for v in (secret.get("stringData") or {}).values()]
    return sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def built_secret_values(objects: list[Obj]) -> list[str]:
    """The values of the Secrets a build produced (decrypted ones among them), and their lines: masked wherever a
    message could quote them."""
    values = secret_values({("Secret", str(i)): o for i, o in enumerate(objects) if o.get("kind") == "Secret"})
    lines = {line.strip() for value in values for line in value.splitlines() if len(line.strip()) >= 8}
    return sorted(set(values) | lines, key=len, reverse=True)


class HealthCheckCanceled(ReconcileFailure):
    """A new reconcile was asked for while health checks ran (a new source revision, a change of the
    Kustomization, a reconcile request, its deletion): the wait stops at once, as under Flux's
    ``CancelHealthCheckOnNewRevision`` (on here by default), and the Kustomization is reconciled again."""

    def __init__(self, trigger: str) -> None:
        super().__init__(cond.HEALTH_CHECK_CANCELED, f"New reconciliation triggered by {trigger}")
        self.trigger = trigger


class SourceNotReady(ReconcileFailure):
    """The source is not there yet, or has no artifact yet: Ready=False (ArtifactFailed), no event, looked at
    again later (the retry interval when the source is missing, the dependency requeue interval otherwise)."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(cond.ARTIFACT_FAILED, message)
        self.missing = missing


def timeout_of(obj: Obj) -> float:
    """As kustomize-controller's GetTimeout: ``spec.timeout``, else the interval less 30 s — never under 30 s."""
    spec = obj.get("spec", {})
    if spec.get("timeout"):
        return max(parse_duration(spec["timeout"], field="spec.timeout"), MIN_TIMEOUT)
    return max(interval_of(obj) - 30.0, MIN_TIMEOUT)


def retry_interval_of(obj: Obj) -> float:
    spec = obj.get("spec", {})
    if spec.get("retryInterval"):
        return parse_duration(spec["retryInterval"], field="spec.retryInterval")
    return interval_of(obj)


class KustomizationReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = "kustomize-controller"
    status_manager = "gotk-kustomize-controller"

    def __init__(self, storage: Storage, workdir: Path, applier: Applier, *, sources: Sources | None = None,
                 strict_substitution: bool = True, requeue_dependency: float = DEPENDENCY_REQUEUE,
                 additive_cel_dependency_check: bool = False) -> None:
        self.storage = storage
        self.sources = sources or Sources()  # the source kinds with a controller: what a sourceRef may name
        # Flux's AdditiveCELDependencyCheck feature gate (off by default): a readyExpr adds to the built-in
        # dependency check instead of replacing it.
        self.additive_cel_dependency_check = additive_cel_dependency_check
        self.requeue_dependency = requeue_dependency
        self.workdir = workdir
        self.applier = applier
        self.strict_substitution = strict_substitution
        # The controller's caches (set by ``register``): what tells a health wait that it is superseded.
        self.own_cache: Informer | None = None
        self.renders = pipeline.RenderCache()
        self.no_remote_bases = False  # kustomize-controller's --no-remote-bases
        self._remote_appliers: dict[int, Applier] = {}  # spec.kubeConfig: an Applier per remote cluster's client

    def resource_info(self, obj: Obj) -> dict[str, str]:
        status, spec = obj.get("status", {}), obj.get("spec", {})
        return {"revision": status.get("lastAppliedRevision", ""),
                "source_name": spec.get("sourceRef", {}).get("name", "")}

    def applier_for(self, target: targets.Target) -> Applier:
        """The applier of ``target``'s cluster (a remote one has its own), acting as its identity. An impersonating
        one dry-runs every object each time: what the ServiceAccount may do is the API server's to say, never a
        memory of an earlier identity's apply."""
        if target.remote:  # one per client: its memory is of that cluster (and identity)
            return self._remote_appliers.setdefault(
                id(target.kube), Applier(target.kube, remember_in_sync=not target.impersonated))
        if not target.impersonated:
            return self.applier
        return dataclasses.replace(self.applier, kube=target.kube, remember_in_sync=False)

    # --- deletion ------------------------------------------------------------------------------------------
    def finalize(self, obj: Obj, ctx: Context) -> None:
        """As kustomize-controller: prune the inventory by ``deletionPolicy`` (MirrorPrune follows ``prune``,
        Delete and WaitForTermination always prune, Orphan never; a suspended Kustomization prunes nothing), say
        what was deleted in an event, and with WaitForTermination wait up to the timeout for it to be gone. A
        prune that fails raises, so the deletion is retried (the finalizer stays)."""
        spec, meta, status = obj.get("spec", {}), obj["metadata"], obj.get("status") or {}
        self.applier.memory.forget((meta["name"], meta["namespace"]))
        self.renders.forget((meta["name"], meta["namespace"]))
        entries = (status.get("inventory") or {}).get("entries", [])
        policy = spec.get("deletionPolicy") or "MirrorPrune"
        if spec.get("suspend") or not entries or policy == "Orphan" or (policy == "MirrorPrune"
                                                                         and not spec.get("prune")):
            return
        revision = str(status.get("lastAppliedRevision", ""))
        metadata = dict(changeset.event_metadata(revision, str(status.get("lastAppliedOriginRevision", ""))))
        # As kustomize-controller's events here: the reason is the Ready condition's, else the severity.
        ready_reason = str((cond.find(status.get("conditions"), cond.READY) or {}).get("reason") or "")
        resolver = targets.of(ctx.services, ctx.kube)
        if not resolver.can_impersonate(obj):
            # As kustomize-controller: the account to impersonate is gone (looked up where the reconciler runs, even
            # for a remote cluster's Kustomization); say what stays, and let it go.
            listed = "\n".join(ref(inventory.reference(entry)) for entry in entries)
            log.error("skipping pruning of Kustomization %s/%s: failed to find account to impersonate",
                      meta["namespace"], meta["name"])
            ctx.events.record(obj, WARNING, ready_reason or "error", f"unable to prune objects: \n{listed}",
                              controller=self.controller_name, metadata=metadata)
            return
        # As Flux: a remote cluster whose kubeconfig cannot be read keeps the finalizer (KubeConfigError, retried).
        applier = self.applier_for(resolver.resolve(obj))
        try:
            result = applier.prune(entries, owner=(meta["name"], meta["namespace"]))
        except PruneError:
            ctx.events.record(obj, WARNING, ready_reason or "error", "pruning for deleted resource failed",
                              controller=self.controller_name, metadata=metadata)
            raise
        deleted = [change for change in result.changes if change.action is Action.DELETED]
        log.info("Kustomization %s/%s deleted; garbage collected: %s", meta["namespace"], meta["name"],
                 result.summary() or "nothing")
        if not deleted:
            return
        ctx.events.record(obj, NORMAL, ready_reason or "info", result.applied_message(),
                          controller=self.controller_name, metadata=metadata)
        if policy == "WaitForTermination":
            try:
                applier.wait_for_termination(deleted, timeout=timeout_of(obj),
                                                  stop=ctx.stop)
            except SandboxError as err:  # as Flux: said, and the finalizer is removed all the same
                log.error("failed to wait for resources termination of Kustomization %s/%s: %s", meta["namespace"],
                          meta["name"], err)
                ctx.events.record(obj, WARNING, ready_reason or "error", "failed to wait for resources termination",
                                  controller=self.controller_name, metadata=metadata)

    # --- reconcile -----------------------------------------------------------------------------------------
    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        try:
            return self._reconcile(obj, ctx)
        except WaitTimeout as err:
            # Every wait is bounded by spec.timeout and reported where it happens; should one still escape, it
            # ends the reconcile as a failure in status, never as an error of the worker.
            status: Obj = dict(obj.get("status") or {})
            return self._failed(obj, ctx, status, ReconcileFailure(cond.RECONCILIATION_FAILED, str(err),
                                                                   requeue=retry_interval_of(obj)))

    def _reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        meta = obj["metadata"]
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        started = time.monotonic()
        was_ready = cond.is_true(status.get("conditions"), cond.READY)
        previous_revision = status.get("lastAppliedRevision")
        try:
            interval = interval_of(obj)
            retry = retry_interval_of(obj)
            timeout = timeout_of(obj)
            ignore_rules = IgnoreRules.parse(obj["spec"].get("ignore"), where="spec.ignore")
        except InputError as err:
            return self._failed(obj, ctx, status, ReconcileFailure(cond.RECONCILIATION_FAILED, str(err),
                                                                   stalled=True))
        # spec.timeout bounds the whole reconcile: fetch, build, dry-run, apply (its stage waits included) and
        # health checks share it.
        deadline = started + timeout
        try:
            custom_checks = health.custom_health_checks(obj["spec"].get("healthCheckExprs"))
        except cel.CELParseError as err:
            return self._invalid_cel(obj, ctx, status, err)
        try:
            source, artifact = self._source_artifact(
                obj, ctx.kube, no_cross_namespace_refs=lockdown.of(ctx.services).no_cross_namespace_refs)
            revision, origin = artifact.revision, artifact.origin_revision
        except SourceNotReady as waiting:
            # As kustomize-controller: not a failure to report, a wait (no event), checked again later.
            return self._waiting(obj, status, waiting, retry if waiting.missing else self.requeue_dependency)
        except ReconcileFailure as failure:
            if failure.requeue is None:
                failure.requeue = retry
            return self._failed(obj, ctx, status, failure)
        try:
            self._check_dependencies(obj, ctx.kube, source)
        except cel.CELParseError as err:
            return self._invalid_cel(obj, ctx, status, err, revision, origin)
        except ReconcileFailure as failure:
            return self._waiting_for_dependencies(obj, ctx, status, failure, revision, origin)

        status["conditions"] = cond.mark_reconciling(
            status.get("conditions"), cond.PROGRESSING,
            f"Fetching manifests for revision {revision} with a timeout of {go_duration(timeout)}", generation)
        obj = self._progress(obj, ctx, status, "conditions")
        status["lastAttemptedRevision"] = revision
        status["conditions"] = cond.mark_reconciling(
            status.get("conditions"), cond.PROGRESSING,
            f"Building manifests for revision {revision} with a timeout of {go_duration(timeout)}", generation)
        obj = self._progress(obj, ctx, status, "conditions", "lastAttemptedRevision")

        try:
            fetched = self._fetch_substitutions(obj, ctx.kube)
        except ReconcileFailure as failure:
            return self._failed(obj, ctx, status, failure, revision=revision, origin=origin)
        # Values of the Secrets substituteFrom reads: an error the API server quotes must not carry them into the
        # status, events or logs.
        secrets = secret_values(fetched)
        try:
            keys = self._fetch_keys(obj, ctx.kube)
            objects = self._build(obj, artifact, fetched, keys)
        except ReconcileFailure as failure:
            failure.requeue = retry
            return self._failed(obj, ctx, status, failure, revision=revision, secrets=secrets, origin=origin)
        if decrypt.configured(obj.get("spec") or {}):
            # Decrypted values go only into the API server: never into a message.
            secrets = sorted({*secrets, *built_secret_values(objects)}, key=len, reverse=True)
        # From here on every outcome is recorded in status.history, keyed by the digest of the built manifests.
        origin_revision = origin
        snapshot_metadata = {"revision": revision, **({"originRevision": origin_revision} if origin_revision else {})}
        digest = history.digest_of(objects)

        def record(outcome: str) -> None:
            status["history"] = history.upsert(status.get("history"), digest, outcome, time.monotonic() - started,
                                               snapshot_metadata)

        status["conditions"] = cond.mark_reconciling(
            status.get("conditions"), cond.PROGRESSING,
            f"Detecting drift for revision {revision} with a timeout of {go_duration(timeout)}", generation)
        obj = self._progress(obj, ctx, status, "conditions")
        encrypted = decrypt.encrypted_left(objects)
        if encrypted:
            record(cond.RECONCILIATION_FAILED)
            return self._failed(obj, ctx, status, ReconcileFailure(cond.RECONCILIATION_FAILED, encrypted,
                                                                   requeue=retry),
                                revision=revision, secrets=secrets, origin=origin)
        try:
            # As kustomize-controller: spec.kubeConfig's cluster (else this one), where spec.serviceAccountName
            # (else --default-service-account) applies, prunes and checks health; a ServiceAccount that does not
            # exist is refused by the API server like any other.
            target = targets.of(ctx.services, ctx.kube).resolve(obj)
        except remote.KubeConfigError as err:  # (configMapRef of a cloud provider: NotSupported; it may change)
            reason = NOT_SUPPORTED if err.not_supported else cond.RECONCILIATION_FAILED
            return self._failed(obj, ctx, status, ReconcileFailure(reason, str(err), requeue=retry),
                                revision=revision, secrets=secrets, origin=origin)
        applier = self.applier_for(target)
        try:
            dry_runs = applier.validate(objects, force=bool(obj["spec"].get("force")),
                                        owner=(meta["name"], meta["namespace"]))
        except (ApplyError, Forbidden) as err:
            record(cond.RECONCILIATION_FAILED)
            return self._failed(obj, ctx, status, ReconcileFailure(cond.RECONCILIATION_FAILED, str(err),
                                                                   requeue=retry),
                                revision=revision, secrets=secrets, origin=origin)

        owner = (meta["name"], meta["namespace"])
        old_inventory = (status.get("inventory") or {}).get("entries", [])
        if time.monotonic() >= deadline:
            return self._failed(obj, ctx, status, ReconcileFailure(
                cond.RECONCILIATION_FAILED, f"timeout after {go_duration(timeout)} building and validating the "
                f"manifests, nothing applied: {DEADLINE_EXCEEDED}", requeue=retry),
                revision=revision, secrets=secrets, origin=origin)
        try:
            changes = applier.apply_all(objects, owner=owner, force=bool(obj["spec"].get("force")),
                                        dry_run_results=dry_runs, deadline=deadline, ignore_rules=ignore_rules)
        except (ApplyError, Forbidden) as err:
            record(cond.RECONCILIATION_FAILED)
            return self._failed(obj, ctx, status, ReconcileFailure(cond.RECONCILIATION_FAILED, str(err),
                                                                   requeue=retry),
                                revision=revision, secrets=secrets, origin=origin)
        new_entries = inventory.entries(objects)
        status["inventory"] = {"entries": new_entries}
        event_metadata = dict(changeset.event_metadata(revision, origin_revision))
        if changes.changed:
            ctx.events.record(obj, NORMAL, cond.PROGRESSING, changes.applied_message(),
                              controller=self.controller_name, metadata=event_metadata)

        pruned = None
        if obj["spec"].get("prune"):
            stale = inventory.diff(old_inventory, objects)
            if stale:
                try:
                    pruned = applier.prune(stale, owner=owner)
                except PruneError as err:
                    # What could not be deleted stays in the inventory: the next reconcile prunes it again.
                    status["inventory"] = {"entries": new_entries + err.failed}
                    record(cond.PRUNE_FAILED)
                    return self._failed(obj, ctx, status,
                                        ReconcileFailure(cond.PRUNE_FAILED, str(err), requeue=retry),
                                        revision=revision, secrets=secrets, origin=origin)
                if pruned.changed:
                    ctx.events.record(obj, NORMAL, cond.PROGRESSING, pruned.applied_message(),
                                      controller=self.controller_name, metadata=event_metadata)

        checks_health = bool(obj["spec"].get("wait") or obj["spec"].get("healthChecks"))
        was_healthy = cond.is_true(status.get("conditions"), cond.HEALTHY)
        if checks_health:
            checking = f"Running health checks for revision {revision} with a timeout of {go_duration(timeout)}"
            status["conditions"] = cond.set_condition(
                cond.mark_reconciling(status.get("conditions"), cond.PROGRESSING, checking, generation),
                cond.HEALTHY, "Unknown", cond.PROGRESSING, checking, generation)
            obj = self._progress(obj, ctx, status, "conditions")
        health_started = time.monotonic()
        try:
            # Skipped objects (ssa: IfNotPresent/Ignore, reconcile: disabled) are not waited for, as under Flux.
            skipped = {change.subject for change in changes.changes if change.action is Action.SKIPPED}
            self._check_health(obj, ctx, [o for o in objects if Change.of(o, Action.SKIPPED).subject not in skipped],
                               max(deadline - time.monotonic(), 0.0), source, custom_checks, kube=target.kube)
        except HealthCheckCanceled as canceled:
            return self._canceled(obj, ctx, status, canceled, revision, origin_revision)
        except ReconcileFailure as failure:
            failure.requeue = retry
            status["conditions"] = cond.set_condition(status.get("conditions"), cond.HEALTHY, "False",
                                                      failure.reason, mask(failure.detail, secrets), generation)
            record(cond.HEALTH_CHECK_FAILED)
            return self._failed(obj, ctx, status, failure, revision=revision, secrets=secrets, origin=origin)

        message = changeset.applied_revision(revision)
        updated = status.get("conditions")
        if checks_health:
            passed = f"Health check passed in {go_duration(time.monotonic() - health_started)}"
            updated = cond.set_condition(updated, cond.HEALTHY, "True", cond.SUCCEEDED, passed, generation)
            # Like kustomize-controller: an event when health is regained, or a new revision changed something.
            if not was_healthy or (previous_revision != revision and changes.changed):
                ctx.events.record(obj, NORMAL, cond.PROGRESSING, passed, controller=self.controller_name,
                                  metadata=event_metadata)
        else:
            updated = cond.remove(updated, cond.HEALTHY)
        status["conditions"] = cond.mark_ready(updated, cond.RECONCILIATION_SUCCEEDED, message, generation)
        status["lastAppliedRevision"] = revision
        if origin_revision:
            status["lastAppliedOriginRevision"] = origin_revision
        else:
            status.pop("lastAppliedOriginRevision", None)
        status["observedGeneration"] = generation
        record(cond.RECONCILIATION_SUCCEEDED)
        if changes.changed or (pruned and pruned.changed) or not was_ready or previous_revision != revision:
            ctx.events.record(obj, NORMAL, cond.RECONCILIATION_SUCCEEDED,
                              changeset.reconciliation_finished(time.monotonic() - started, interval),
                              controller=self.controller_name,
                              metadata=dict(changeset.event_metadata(revision, origin_revision,
                                                                     commit_status=True)))
        return Result(status, interval)

    def _failed(self, obj: Obj, ctx: Context, status: Obj, failure: ReconcileFailure,
                revision: str | None = None, secrets: Sequence[str] = (), origin: str = "") -> Result:
        generation = int(obj["metadata"].get("generation", 1))
        message = mask(str(failure), secrets)
        status["conditions"] = cond.mark_failed(status.get("conditions"), failure.reason, message, generation,
                                                stalled=failure.stalled)
        if revision:
            status["lastAttemptedRevision"] = revision
        # (with the source's origin revision, as kustomize-controller's failure events)
        metadata = dict(changeset.event_metadata(revision, origin)) if revision else {}
        ctx.events.record(obj, WARNING, failure.reason, message, controller=self.controller_name,
                          metadata=metadata)
        return Result(status, None if failure.stalled else failure.requeue)

    def _progress(self, obj: Obj, ctx: Context, status: Obj, *fields: str) -> Obj:
        """Write ``fields`` of the status as they are now, as kustomize-controller patches its progress at each
        phase (Fetching, Building with lastAttemptedRevision, Detecting drift, Running health checks)."""
        try:
            return ctx.patch_status(obj, {name: status[name] for name in fields if name in status},
                                    self.status_manager)
        except APIError as err:
            log.warning("could not report the progress of %s: %s", ref(obj), err)
            return obj

    def _canceled(self, obj: Obj, ctx: Context, status: Obj, canceled: HealthCheckCanceled, revision: str,
                  origin_revision: str) -> Result:
        """As kustomize-controller: Ready=False (HealthCheckCanceled), an informational event, reconciled again
        at once (nothing recorded in history: the attempt did not finish)."""
        result = self._waiting(obj, status, canceled, 0.0)
        status["lastAttemptedRevision"] = revision
        ctx.events.record(obj, NORMAL, cond.HEALTH_CHECK_CANCELED,
                          f"Health checks canceled due to new reconciliation triggered by {canceled.trigger}",
                          controller=self.controller_name,
                          metadata=dict(changeset.event_metadata(revision, origin_revision)))
        return result

    def superseded(self, obj: Obj, source: Obj) -> str | None:
        """What asks for a new reconcile of ``obj`` (``Kind/namespace/name``) while the artifact of ``source`` (as
        read when this reconcile began) is checked, if anything: the Kustomization was changed, deleted or got a
        reconcile request, or its source has a new revision. Read from the controller's caches, so cheap enough to
        ask on every poll; a cache that lags behind what this reconcile read is never taken for a change."""
        meta = obj["metadata"]
        this = f"{KIND}/{meta['namespace']}/{meta['name']}"
        cached = self.own_cache.get(object_key(obj)) if self.own_cache is not None else None
        if cached is not None and cached["metadata"].get("uid") == meta.get("uid"):
            cached_meta = cached["metadata"]
            if cached_meta.get("deletionTimestamp") or int(cached_meta.get("generation", 0)) > int(
                    meta.get("generation", 0)):
                return this
            requested = (cached_meta.get("annotations") or {}).get(REQUESTED_AT)
            if requested != (meta.get("annotations") or {}).get(REQUESTED_AT) and _newer(cached, obj):
                return this
        source_meta = source.get("metadata", {})
        cached_source = self.sources.cached(str(source.get("kind")), source_meta.get("namespace", ""),
                                            source_meta.get("name", ""))
        if cached_source is not None and _newer(cached_source, source):
            current = artifacts.revision_of(cached_source)
            if current and current != artifacts.revision_of(source):
                return artifacts.key_of(source)
        return None

    def _invalid_cel(self, obj: Obj, ctx: Context, status: Obj, err: cel.CELParseError,
                     revision: str | None = None, origin: str = "") -> Result:
        """As kustomize-controller: an invalid CEL expression is a terminal configuration error — Ready=False and
        Stalled=True (InvalidCELExpression), the generation observed, a Warning event, no retry until the spec
        changes."""
        generation = int(obj["metadata"].get("generation", 1))
        message = f"{TERMINAL_ERROR_MESSAGE}: {err}"
        status["conditions"] = cond.mark_failed(status.get("conditions"), cond.INVALID_CEL_EXPRESSION, message,
                                                generation, stalled=True)
        status["observedGeneration"] = generation
        metadata = dict(changeset.event_metadata(revision, origin)) if revision else {}
        ctx.events.record(obj, WARNING, cond.INVALID_CEL_EXPRESSION, message, controller=self.controller_name,
                          metadata=metadata)
        return Result(status, None)

    def _waiting(self, obj: Obj, status: Obj, failure: ReconcileFailure, requeue: float) -> Result:
        """Ready=False with the reason, nothing else marked: waiting (for a source, a dependency) is not failing."""
        generation = int(obj["metadata"].get("generation", 1))
        status["conditions"] = cond.set_condition(cond.remove(status.get("conditions"), cond.RECONCILING),
                                                  cond.READY, "False", failure.reason, str(failure), generation)
        return Result(status, requeue)

    def _waiting_for_dependencies(self, obj: Obj, ctx: Context, status: Obj, failure: ReconcileFailure,
                                  revision: str, origin: str = "") -> Result:
        """As kustomize-controller: Ready=False (DependencyNotReady) with the reason and an informational event."""
        result = self._waiting(obj, status, failure, self.requeue_dependency)
        retrying = f"retrying in {go_duration(self.requeue_dependency)}"
        ctx.events.record(obj, NORMAL, cond.DEPENDENCY_NOT_READY,
                          f"Dependencies do not meet ready condition, {retrying}",
                          controller=self.controller_name,
                          metadata=dict(changeset.event_metadata(revision, origin)))
        return result

    # --- steps ---------------------------------------------------------------------------------------------
    def _source_artifact(self, obj: Obj, kube: KubeClient, *, no_cross_namespace_refs: bool = False
                         ) -> tuple[Obj, Artifact]:
        """The source the Kustomization follows, read fresh, and its artifact — whatever the source kind."""
        source_ref = obj.get("spec", {}).get("sourceRef") or {}
        namespace = source_ref.get("namespace") or obj["metadata"]["namespace"]
        if no_cross_namespace_refs and namespace != obj["metadata"]["namespace"]:
            # As kustomize-controller with --no-cross-namespace-refs: stalled until the spec changes.
            raise ReconcileFailure(lockdown.ACCESS_DENIED, lockdown.cross_namespace_kustomization(
                str(source_ref.get("kind", "")), namespace, str(source_ref.get("name", ""))), stalled=True)
        try:
            return artifacts.resolve(kube, self.sources, obj.get("spec", {}).get("sourceRef") or {},
                                     obj["metadata"]["namespace"])
        except artifacts.UnsupportedSourceKind as err:
            raise ReconcileFailure(cond.ARTIFACT_FAILED, str(err), stalled=True) from err
        except artifacts.SourceNotFound as err:
            raise SourceNotReady(str(err), missing=True) from err
        except artifacts.NoArtifact as err:
            raise SourceNotReady(f"Source artifact not found, retrying in {go_duration(self.requeue_dependency)}") \
                from err

    def _check_dependencies(self, obj: Obj, kube: KubeClient, source: Obj) -> None:
        """As kustomize-controller's checkDependencies: each dependency must exist; its ``readyExpr`` (``self`` the
        Kustomization, ``dep`` the dependency), when set, must be true and then replaces the built-in check (unless
        the AdditiveCELDependencyCheck gate is on); the built-in check wants the generation observed, Ready=True and,
        with the same source, the source's revision applied. Raises ReconcileFailure (DependencyNotReady), or
        CELParseError for an invalid readyExpr."""
        meta = obj["metadata"]
        source_ref = obj["spec"].get("sourceRef", {})
        for dependency in obj.get("spec", {}).get("dependsOn") or []:
            namespace = dependency.get("namespace") or meta["namespace"]
            name = dependency["name"]
            label = f"{namespace}/{name}"
            dep = kube.get_or_none(API_VERSION, KIND, name, namespace)
            if dep is None:  # worded as the API server's NotFound, which Flux quotes
                raise ReconcileFailure(cond.DEPENDENCY_NOT_READY, f"dependency '{label}' not found: "
                                       f"kustomizations.{inventory.GROUP} \"{name}\" not found")
            ready_expr = dependency.get("readyExpr")
            if ready_expr:
                if not self._ready_by_expression(str(ready_expr), obj, dep):
                    raise ReconcileFailure(cond.DEPENDENCY_NOT_READY,
                                           f"dependency '{label}' is not ready according to readyExpr eval")
                if not self.additive_cel_dependency_check:
                    continue
            dep_status = dep.get("status") or {}
            ready = cond.is_true(dep_status.get("conditions"), cond.READY)
            current = dep_status.get("observedGeneration") == dep["metadata"].get("generation")
            if not (ready and current):
                raise ReconcileFailure(cond.DEPENDENCY_NOT_READY, f"dependency '{label}' is not ready")
            dep_ref = dep.get("spec", {}).get("sourceRef", {})
            same_source = (dep_ref.get("kind") == source_ref.get("kind") and dep_ref.get("name") ==
                           source_ref.get("name") and (dep_ref.get("namespace") or namespace) ==
                           (source_ref.get("namespace") or meta["namespace"]))
            if same_source and dep_status.get("lastAppliedRevision") != artifacts.revision_of(source):
                raise ReconcileFailure(cond.DEPENDENCY_NOT_READY,
                                       f"dependency '{label}' revision is not up to date")

    @staticmethod
    def _ready_by_expression(source: str, obj: Obj, dep: Obj) -> bool:
        """The value of a dependency's readyExpr. An invalid expression raises CELParseError (terminal, as Flux); one
        that fails on these objects is a DependencyNotReady wait, retried like any other."""
        try:
            expression = cel.compile_with(source, ("self", "dep"))
        except cel.CELParseError as err:
            raise cel.CELParseError(f"failed to evaluate dependency {dep['metadata']['name']}: {err}",
                                    err.expression) from err
        try:
            return expression.evaluate_bool({"self": obj, "dep": dep})
        except cel.CELEvaluationError as err:
            raise ReconcileFailure(cond.DEPENDENCY_NOT_READY, str(err)) from err

    def _fetch_substitutions(self, obj: Obj, kube: KubeClient) -> dict[tuple[str, str], Obj | None]:
        """The ConfigMaps and Secrets ``postBuild.substituteFrom`` names (None for those that do not exist)."""
        fetched: dict[tuple[str, str], Obj | None] = {}
        try:
            for reference in substitute.references(obj.get("spec", {})):
                fetched[(reference.kind, reference.name)] = kube.get_or_none("v1", reference.kind, reference.name,
                                                                             obj["metadata"]["namespace"])
        except BuildError as err:
            raise ReconcileFailure(err.reason, str(err), stalled=True) from err
        return fetched

    def _fetch_keys(self, obj: Obj, kube: KubeClient) -> Keys:
        """The SOPS keys of ``spec.decryption.secretRef`` (none when decryption is not configured)."""
        spec, namespace = obj.get("spec") or {}, obj["metadata"]["namespace"]
        name = decrypt.secret_name(spec)
        if name is None:
            return Keys()
        try:
            return decrypt.keys_from_secret(kube.get_or_none("v1", "Secret", name, namespace), name, namespace)
        except BuildError as err:
            raise ReconcileFailure(err.reason, str(err)) from err

    def _build(self, obj: Obj, artifact: Artifact, fetched: dict[tuple[str, str], Obj | None],
               keys: Keys | None = None) -> list[Obj]:
        meta = obj["metadata"]
        try:
            source_root = self.storage.unpacked(artifact.path, artifact.digest)
        except SandboxError as err:
            raise ReconcileFailure(cond.ARTIFACT_FAILED, f"failed to extract artifact: {err}") from err
        owner = (meta["name"], meta["namespace"])
        key = pipeline.RenderCache.key(source_root, obj, fetched, self.strict_substitution, keys)
        cached = self.renders.get(owner, key)
        if cached is not None:
            return cached
        self.workdir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"{meta['namespace']}-{meta['name']}-", dir=self.workdir))
        try:
            rendered = pipeline.render(source_root, obj, scratch, fetched=fetched, strict=self.strict_substitution,
                                       keys=keys, allow_remote_bases=not self.no_remote_bases)
        except BuildError as err:
            raise ReconcileFailure(err.reason, str(err)) from err
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.renders.put(owner, key, rendered.objects)
        return rendered.objects

    def _check_health(self, obj: Obj, ctx: Context, objects: list[Obj], timeout: float, source: Obj,
                      custom_checks: dict[str, health.CustomHealthCheck] | None = None, *,
                      kube: KubeClient | None = None) -> None:
        reader = kube or ctx.kube  # the target's client: impersonating, and in spec.kubeConfig's cluster
        spec = obj.get("spec", {})
        if spec.get("wait"):
            targets = [inventory.reference(inventory.entry(o)) for o in objects]
        elif spec.get("healthChecks"):
            default_namespace = obj["metadata"]["namespace"]
            targets = [{"apiVersion": h.get("apiVersion", "v1"), "kind": h["kind"],
                        "metadata": {"name": h["name"], "namespace": h.get("namespace") or default_namespace}}
                       for h in spec["healthChecks"]]
        else:
            return
        statuses: dict[str, health.Health | None] = {}

        def check(target: Obj) -> tuple[str, health.Health | None]:
            meta = target["metadata"]
            try:
                live = reader.get_or_none(target["apiVersion"], target["kind"], meta["name"], meta.get("namespace"))
            except APIError:
                return ref(target), None
            return ref(target), health.status_of(live, custom=custom_checks)

        failed_early: list[str] = []
        canceled: list[HealthCheckCanceled] = []  # a new reconcile asked for: handed out, not raised, likewise

        def settled() -> bool:
            trigger = self.superseded(obj, source)
            if trigger:
                canceled.append(HealthCheckCanceled(trigger))
                return True
            statuses.clear()
            statuses.update(self.applier.parallel(check, targets))
            # A Failed object ends the wait (Flux's fail-fast). It is recorded, not raised: wait_until takes an
            # exception from its probe for a state to poll again, which would wait out the whole timeout.
            early = health.wait_error(statuses, timed_out=False)
            if early:
                failed_early.append(early)
                return True
            return health.all_current(statuses)

        started = time.monotonic()
        try:
            wait_until(settled, timeout=timeout, what="health checks", interval=HEALTH_POLL,
                       max_interval=1.0, stop=ctx.stop)
        except SandboxError as err:
            detail = health.wait_error(statuses, timed_out=True) or str(err)
            raise ReconcileFailure(cond.HEALTH_CHECK_FAILED,
                                   f"health check failed after {go_duration(time.monotonic() - started)}: {detail}",
                                   detail=detail) from err
        if canceled:
            raise canceled[0]
        if failed_early:
            raise ReconcileFailure(cond.HEALTH_CHECK_FAILED, f"health check failed after "
                                   f"{go_duration(time.monotonic() - started)}: {failed_early[0]}",
                                   detail=failed_early[0])


def _ignore(_event: str, _obj: Obj) -> None:
    """The handler of an informer that only feeds ``Controller.watch``."""


def _newer(cached: Obj, seen: Obj) -> bool:
    """Whether ``cached`` is a later version of the object than ``seen`` (resourceVersions are etcd revisions:
    comparable as numbers, though clients are told not to rely on it — when they are not numbers, say no)."""
    try:
        return int(cached["metadata"]["resourceVersion"]) > int(seen["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return False


def register(manager: Manager, ctx: Context, sources: Sources, data_dir: Path, *, workers: int = 4,
             requeue_dependency: float = DEPENDENCY_REQUEUE, additive_cel_dependency_check: bool = False) -> Controller:
    """Add the Kustomization controller, re-queued when the artifact of its source (any kind in ``sources``)
    changes."""
    storage: Storage = ctx.services["storage"]
    reconciler = KustomizationReconciler(storage, data_dir / "builds", Applier(ctx.kube), sources=sources,
                                         requeue_dependency=requeue_dependency,
                                         additive_cel_dependency_check=additive_cel_dependency_check)
    reconciler.no_remote_bases = lockdown.of(ctx.services).no_remote_bases
    controller = manager.add(Controller(reconciler, ctx, workers=workers))
    reconciler.own_cache = controller.informer

    changes = artifacts.RevisionChanges()

    def by_source(source: Obj) -> list[str]:
        if not changes.new_revision(source):
            return []
        meta = source.get("metadata", {})
        keys = []
        for ks in controller.informer.items():
            source_ref = ks.get("spec", {}).get("sourceRef", {})
            if (source_ref.get("kind") == source.get("kind") and source_ref.get("name") == meta.get("name")
                    and (source_ref.get("namespace") or ks["metadata"]["namespace"]) == meta.get("namespace")):
                applied = ks.get("status", {}).get("lastAppliedRevision")
                revision = artifacts.revision_of(source)
                if revision and revision != applied:
                    keys.append(f"{ks['metadata']['namespace']}/{ks['metadata']['name']}")
        return keys

    def by_config(kind: str) -> Mapper:
        def kustomizations_reading(config: Obj) -> list[str]:
            """The Kustomizations whose postBuild.substituteFrom reads this ConfigMap or Secret."""
            meta = config.get("metadata", {})
            keys = []
            for ks in controller.informer.items():
                if ks["metadata"].get("namespace") != meta.get("namespace"):
                    continue
                try:
                    read = substitute.references(ks.get("spec", {}))
                except BuildError:
                    continue  # reported by its own reconcile
                if any(r.kind == kind and r.name == meta.get("name") for r in read):
                    keys.append(object_key(ks))
            return keys
        return kustomizations_reading

    # As kustomize-controller's --watch-configs-label-selector default: a change to a ConfigMap or Secret labelled
    # reconcile.fluxcd.io/watch=Enabled reconciles the Kustomizations that substitute variables from it at once
    # (without the label, they see it at their next interval).
    for config_kind in ("ConfigMap", "Secret"):
        configs = Informer(ctx.kube, "v1", config_kind, _ignore, label_selector=f"{WATCH_LABEL}={WATCH_ENABLED}",
                           stop=ctx.stop)
        controller.watch(configs, by_config(config_kind))

    # Dependents are not woken when a dependency becomes ready: like kustomize-controller, a Kustomization waiting
    # on one checks again after the dependency requeue interval (--requeue-dependency, 30 s by default).
    sources.watch(controller.watch, by_source)
    return controller
