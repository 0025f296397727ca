"""HelmRelease (helm.toolkit.fluxcd.io/v2): helm-controller's reconcile — the HelmChart of ``spec.chart``,
dependencies, the chart's source, values, then the atomic release through the Helm SDK — reported in status and
events as helm-controller does; uninstall on deletion."""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import APIError, InputError, NotFound, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.kube.informer import Informer, object_key
from sandbox.reconciler import lockdown
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.helm import chart as charts
from sandbox.reconciler.helm import crds, history, state
from sandbox.reconciler.helm import health as release_health
from sandbox.reconciler.helm import values as helm_values
from sandbox.reconciler.helm.actions import ActionError, Helm, ReleaseNotFound
from sandbox.reconciler.helm.atomic import (
    FMT_UNINSTALL_FAILURE,
    FMT_UNINSTALL_SUCCESS,
    AtomicRelease,
    Hooks,
    Outcome,
    Request,
    event_metadata,
)
from sandbox.reconciler.helm.history import Release
from sandbox.reconciler.helm.support import unsupported_settings
from sandbox.reconciler.kustomize import health as kstatus
from sandbox.reconciler.kustomize.inventory import ObjMetadata
from sandbox.reconciler.runtime import cel, remote, targets
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Controller, Mapper, Result, interval_of
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.manager import Manager
from sandbox.reconciler.source import artifact as artifacts
from sandbox.reconciler.source.artifact import Sources
from sandbox.reconciler.source.storage import Storage
from sandbox.reconciler.support import NOT_SUPPORTED, unsupported_fields_message, unsupported_fields_set
from sandbox.reconciler.unsupported import stall

log = logging.getLogger(__name__)

Obj = dict[str, Any]
API_VERSION = kinds.HELMRELEASE.api_version
KIND = kinds.HELMRELEASE.kind
DEPENDENCY_REQUEUE = 30.0  # helm-controller's --requeue-dependency default
WATCH_LABEL = "reconcile.fluxcd.io/watch"
WATCH_ENABLED = "Enabled"
TERMINAL_ERROR_MESSAGE = "Reconciliation failed terminally due to configuration error"
MAX_BACKOFF = 300.0


class HelmReleaseReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = "helm-controller"
    status_manager = "helm-controller"

    def __init__(self, kube: KubeClient, storage: Storage, kubeconfig: Path, *, sources: Sources | None = None,
                 requeue_dependency: float = DEPENDENCY_REQUEUE) -> None:
        self.sources = sources or Sources()
        self.helm = Helm(kube, kubeconfig)
        # by client: the Helm SDK acting as a ServiceAccount, or in spec.kubeConfig's cluster (or both)
        self._impersonating: dict[int, Helm] = {}
        self.loader = charts.ChartLoader(storage)
        self.requeue_dependency = requeue_dependency
        self._errors: dict[str, int] = {}
        self._errors_lock = threading.Lock()

    def resource_info(self, obj: Obj) -> dict[str, str]:
        status = obj.get("status") or {}
        return {"revision": str(status.get("lastAttemptedRevision", "")),
                "chart_name": str(charts.chart_ref_target(obj)[2])}

    def helm_for(self, target: targets.Target) -> Helm:
        """The Helm SDK in ``target``'s cluster acting as its identity (helm-controller's REST client getter: the
        remote kubeconfig of spec.kubeConfig, impersonating)."""
        if not target.impersonated and not target.remote:
            return self.helm
        if target.helm_kubeconfig is None:
            raise SandboxError(f"no kubeconfig to impersonate {target.user} with: the reconciler runs without one")
        with self._errors_lock:
            if id(target.kube) not in self._impersonating:  # each Helm holds its client: ids stay unique
                self._impersonating[id(target.kube)] = Helm(target.kube, target.helm_kubeconfig)
            return self._impersonating[id(target.kube)]

    def cancel_all(self) -> None:
        """Cancel the Helm actions under way, whichever identity runs them (the process is stopping)."""
        self.helm.cancel_all()
        with self._errors_lock:
            impersonating = list(self._impersonating.values())
        for each in impersonating:
            each.cancel_all()

    # --- reconcile --------------------------------------------------------------------------------------------
    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        fields = unsupported_fields_set(obj) + unsupported_settings(obj)
        if fields:
            return stall(obj, ctx, unsupported_fields_message(obj, fields), self.controller_name)
        status: Obj = dict(obj.get("status") or {})
        key = object_key(obj)
        try:
            result, settled = self._reconcile(obj, ctx, status)
        except InputError as err:  # an invalid spec value (a duration): retrying cannot help
            generation = int(obj["metadata"].get("generation", 1))
            status["conditions"] = cond.mark_failed(status.get("conditions"), "InvalidSpec", str(err), generation,
                                                    stalled=True)
            status["observedGeneration"] = generation
            return Result(status, None)
        if settled:
            status["observedGeneration"] = int(obj["metadata"].get("generation", 1))
        with self._errors_lock:
            if result.requeue_after == -1.0:  # an error: back off exponentially, as controller-runtime
                count = self._errors.get(key, 0) + 1
                self._errors[key] = count
                return Result(status, min(MAX_BACKOFF, 0.5 * 2 ** (count - 1), interval_of(obj)))
            self._errors.pop(key, None)
        return Result(status, result.requeue_after)

    def _reconcile(self, obj: Obj, ctx: Context, status: Obj) -> tuple[Result, bool]:
        """The reconcile; returns the result (requeue_after -1: an error to back off from) and whether the
        generation counts as observed."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        generation = int(meta.get("generation", 1))
        try:
            checks = kstatus.custom_health_checks(spec.get("healthCheckExprs"))
        except cel.CELParseError as err:
            message = f"{TERMINAL_ERROR_MESSAGE}: {err}"
            status["conditions"] = cond.mark_failed(status.get("conditions"), cond.INVALID_CEL_EXPRESSION, message,
                                                    generation, stalled=True)
            ctx.events.record(obj, WARNING, cond.INVALID_CEL_EXPRESSION, str(err), controller=self.controller_name)
            return Result(status, None), True
        if bool(spec.get("chart")) == bool(spec.get("chartRef")):
            message = "invalid Chart reference: exactly one of spec.chart and spec.chartRef must be set"
            status["conditions"] = cond.mark_failed(status.get("conditions"), "InvalidChartReference", message,
                                                    generation, stalled=True)
            return Result(status, None), True
        kind, namespace, name = charts.chart_ref_target(obj)
        if lockdown.of(ctx.services).no_cross_namespace_refs and namespace != meta["namespace"]:
            # As helm-controller with --no-cross-namespace-refs: stalled until the spec (or the flag) changes.
            message = lockdown.cross_namespace_helmrelease(kind, namespace, name)
            status["conditions"] = cond.mark_failed(status.get("conditions"), lockdown.ACCESS_DENIED, message,
                                                    generation, stalled=True)
            ctx.events.record(obj, WARNING, lockdown.ACCESS_DENIED, message, controller=self.controller_name)
            return Result(status, None), True
        try:
            self._chart_template(obj, ctx, status)
        except (APIError, SandboxError) as err:
            status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False",
                                                      "HelmChartSyncErr", str(err), generation)
            return Result(status, -1.0), False
        state.mark_reconciling(status, cond.PROGRESSING, "Fulfilling prerequisites", generation)
        obj = self._patch(obj, ctx, status)

        if spec.get("dependsOn"):
            try:
                self._check_dependencies(obj, ctx.kube)
            except cel.CELParseError as err:
                message = f"{TERMINAL_ERROR_MESSAGE}: {err}"
                status["conditions"] = cond.mark_failed(status.get("conditions"), cond.INVALID_CEL_EXPRESSION,
                                                        message, generation, stalled=True)
                ctx.events.record(obj, WARNING, cond.INVALID_CEL_EXPRESSION, str(err),
                                  controller=self.controller_name)
                return Result(status, None), True
            except DependencyNotReady as err:
                status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False",
                                                          cond.DEPENDENCY_NOT_READY, str(err), generation)
                ctx.events.record(obj, NORMAL, cond.DEPENDENCY_NOT_READY, str(err), controller=self.controller_name)
                return Result(status, self.requeue_dependency), False
        self._progressing_again(status, generation, cond.DEPENDENCY_NOT_READY)

        kind, namespace, name = charts.chart_ref_target(obj)
        try:
            source, artifact = artifacts.resolve(ctx.kube, self.sources, {"kind": kind, "namespace": namespace,
                                                                         "name": name}, meta["namespace"])
        except artifacts.UnsupportedSourceKind as err:
            status["conditions"] = cond.mark_failed(status.get("conditions"), cond.ARTIFACT_FAILED,
                                                    f"could not get Source object: {err}", generation, stalled=True)
            return Result(status, None), True
        except artifacts.SourceNotFound as err:
            status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False",
                                                      cond.ARTIFACT_FAILED, f"could not get Source object: {err}",
                                                      generation)
            return Result(status, -1.0), False
        except artifacts.NoArtifact:
            source = ctx.kube.get_or_none(kinds.by_kind(kind).api_version, kind, name, namespace) or {}
            artifact = None
        not_ready = charts.source_not_ready(source) if source else ""
        if artifact is None or not_ready:
            status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False",
                                                      "SourceNotReady", not_ready or f"{kind} '{namespace}/{name}' "
                                                      "is not ready: does not have an artifact", generation)
            return Result(status, self.requeue_dependency), False
        self._progressing_again(status, generation, cond.ARTIFACT_FAILED, "SourceNotReady")

        try:
            values = helm_values.compose_values(spec, meta["namespace"], self._lookup(ctx.kube))
        except helm_values.ValuesReferenceError as err:
            status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False", "ValuesError",
                                                      str(err), generation)
            ctx.events.record(obj, WARNING, "ValuesError", str(err), controller=self.controller_name)
            return Result(status, -1.0), False
        self._progressing_again(status, generation, "ValuesError")

        try:
            loaded = self.loader.load(source, artifact)
        except charts.ChartError as err:
            status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False", err.reason,
                                                      str(err), generation)
            ctx.events.record(obj, WARNING, err.reason, str(err), controller=self.controller_name)
            return Result(status, -1.0), False
        self._progressing_again(status, generation, cond.ARTIFACT_FAILED, "ChartMutateError")

        # As helm-controller: spec.kubeConfig's cluster (else this one), where spec.serviceAccountName (else
        # --default-service-account) runs every Helm action, health check and CRD apply; what it may not do the API
        # server refuses, naming it.
        try:
            target = targets.of(ctx.services, ctx.kube).resolve(obj, remote.HELM)
        except remote.KubeConfigError as err:  # as helm-controller: Ready=False, retried with back-off
            status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False",
                                                      NOT_SUPPORTED if err.not_supported else "RESTClientError",
                                                      str(err), generation)
            return Result(status, -1.0), False
        helm = self.helm_for(target)
        changed = self._target_changed(obj, status, loaded.name)
        if changed:
            log.info("HelmRelease %s: release target configuration changed (%s): running uninstall for current "
                     "release", object_key(obj), changed)
            try:
                self._uninstall(obj, ctx, status, helm)
            except ActionError:
                return Result(status, -1.0), False
            status["history"] = []
            state.clear_failures(status)
            status.pop("storageNamespace", None)
            return Result(status, 0.0), False
        status["storageNamespace"] = state.storage_namespace(obj)
        reset = state.handle_request(obj, status, state.RESET_AT, "lastHandledResetAt")
        if state.must_reset_failures(obj, status, loaded.version, values.digest, reset):
            state.clear_failures(status)
        status["lastAttemptedGeneration"] = generation
        status["lastAttemptedRevision"] = loaded.version
        if loaded.oci_digest:
            status["lastAttemptedRevisionDigest"] = loaded.oci_digest
        else:
            status.pop("lastAttemptedRevisionDigest", None)
        status["lastAttemptedConfigDigest"] = values.digest
        status.pop("lastAttemptedValuesChecksum", None)
        status.pop("lastReleaseRevision", None)
        force = state.handle_request(obj, status, state.FORCE_AT, "lastHandledForceAt")

        holder = {"obj": obj}

        def patch(current: Obj) -> None:
            holder["obj"] = self._patch(holder["obj"], ctx, current)

        def event(event_type: str, reason: str, message: str, metadata: dict[str, str]) -> None:
            ctx.events.record(holder["obj"], event_type, reason, values.scrub(message),
                              controller=self.controller_name, metadata=metadata)

        def released(release: Release) -> None:
            self._after_release(target.kube, obj, status, release, loaded)

        def healthy(release: Release, timeout: float) -> str:
            return release_health.wait(target.kube, release, checks, timeout, ctx.stop)

        def apply_crds(action: str, timeout: float) -> str:
            try:
                crds.apply(target.kube, [copy.deepcopy(c) for c in loaded.crds], crds.policy(obj, action),
                           (meta["name"], meta["namespace"]), timeout)
            except crds.CRDError as err:
                return str(err)
            return ""

        atomic = AtomicRelease(helm, Hooks(event, patch, released, healthy if checks else None,
                                           apply_crds if loaded.crds else None, target.kube))
        result = atomic.reconcile(Request(obj, status, loaded, values,
                                          force=force))
        for condition in status.get("conditions") or []:  # Helm's messages may quote values
            condition["message"] = values.scrub(str(condition.get("message", "")))
        if result.outcome == Outcome.DONE:
            return Result(status, interval_of(obj)), True
        if result.outcome == Outcome.RETRY_AFTER_INTERVAL:
            return Result(status, result.retry_interval), True
        if result.outcome == Outcome.MUST_REQUEUE:
            return Result(status, 0.0), False
        if result.outcome == Outcome.EXCEEDED:
            return Result(status, None), True
        log.info("HelmRelease %s: %s", object_key(obj), values.scrub(result.error))
        return Result(status, -1.0), False

    @staticmethod
    def _progressing_again(status: Obj, generation: int, *reasons: str) -> None:
        """A Ready=False for one of ``reasons`` (a prerequisite that is now met) becomes Unknown, in progress."""
        ready = cond.find(status.get("conditions"), cond.READY) or {}
        if ready.get("reason") in reasons:
            status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "Unknown",
                                                      cond.PROGRESSING, "reconciliation in progress", generation)

    def _patch(self, obj: Obj, ctx: Context, status: Obj) -> Obj:
        """Write the status as it is now (progress), nulling what vanished."""
        current: Obj = ctx.written.get(obj["metadata"]["uid"]) or obj.get("status") or {}
        patch: Obj = dict(status)
        for key in current:
            if key not in status:
                patch[key] = None
        try:
            return ctx.patch_status(obj, patch, self.status_manager)
        except APIError as err:
            log.warning("could not report the progress of HelmRelease %s: %s", object_key(obj), err)
            return obj

    @staticmethod
    def _lookup(kube: KubeClient) -> helm_values.Lookup:
        def lookup(kind: str, namespace: str, name: str) -> Obj | None:
            return kube.get_or_none("v1", kind, name, namespace)
        return lookup

    # --- steps ----------------------------------------------------------------------------------------------
    def _chart_template(self, obj: Obj, ctx: Context, status: Obj) -> None:
        """reconcileChartTemplate: keep the HelmChart of ``spec.chart``, delete one no longer wanted."""
        spec, meta = obj.get("spec") or {}, obj["metadata"]
        wanted = ""
        if spec.get("chart"):
            _, namespace, name = charts.chart_ref_target(obj)
            wanted = f"{namespace}/{name}"
        current = str(status.get("helmChart") or "")
        if current and current != wanted:
            if not spec.get("suspend") and charts.delete_helm_chart(ctx.kube, current):
                log.info("HelmRelease %s/%s: deleted HelmChart '%s'", meta["namespace"], meta["name"], current)
                # helm-controller's trace events, which Kubernetes keeps as Normal ones
                ctx.events.record(obj, NORMAL, "HelmChartDeleted", f"deleted HelmChart '{current}'",
                                  controller=self.controller_name)
            status.pop("helmChart", None)
        if not wanted:
            return
        action, _ = charts.apply_helm_chart(ctx.kube, obj)
        if action != "unchanged":
            source_ref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
            message = (f"{action.capitalize()} HelmChart/{wanted} with SourceRef '{source_ref.get('kind')}/"
                       f"{wanted.split('/')[0]}/{source_ref.get('name')}'")
            log.info("HelmRelease %s/%s: %s", meta["namespace"], meta["name"], message)
            ctx.events.record(obj, NORMAL, f"HelmChart{action.title()}", message, controller=self.controller_name)
        status["helmChart"] = wanted

    def _check_dependencies(self, obj: Obj, kube: KubeClient) -> None:
        """checkDependencies: each HelmRelease in ``dependsOn`` exists and is Ready at its generation, or its
        ``readyExpr`` (``self``, ``dep``) holds."""
        for dependency in (obj.get("spec") or {}).get("dependsOn") or []:
            namespace = str(dependency.get("namespace") or obj["metadata"]["namespace"])
            name = str(dependency.get("name"))
            label = f"{namespace}/{name}"
            try:
                dep = kube.get(API_VERSION, KIND, name, namespace)
            except NotFound as err:
                raise DependencyNotReady(f"unable to get '{label}' dependency: {kinds.HELMRELEASE.crd_name} "
                                         f"\"{name}\" not found") from err
            ready_expr = dependency.get("readyExpr")
            if ready_expr:
                try:
                    expression = cel.compile_with(str(ready_expr), ("self", "dep"))
                except cel.CELParseError as err:
                    raise cel.CELParseError(f"failed to evaluate dependency {name}: {err}", err.expression) from err
                try:
                    ok = expression.evaluate_bool({"self": obj, "dep": dep})
                except cel.CELEvaluationError as err:
                    raise DependencyNotReady(str(err)) from err
                if not ok:
                    raise DependencyNotReady(f"dependency '{label}' is not ready according to readyExpr eval")
                continue
            dep_status = dep.get("status") or {}
            if dep_status.get("observedGeneration") != dep["metadata"].get("generation") or \
                    not cond.is_true(dep_status.get("conditions"), cond.READY):
                raise DependencyNotReady(f"dependency '{label}' is not ready")

    @staticmethod
    def _target_changed(obj: Obj, status: Obj, chart_name: str) -> str:
        """ReleaseTargetChanged (with the default chartNameChangeStrategy Reinstall)."""
        cur = history.latest(status.get("history"))
        if not status.get("storageNamespace") or cur is None:
            return ""
        if state.storage_namespace(obj) != status["storageNamespace"]:
            return "storage namespace"
        if state.release_namespace(obj) != cur.get("namespace"):
            return "release namespace"
        if state.short_release_name(obj) != cur.get("name"):
            return "release name"
        if chart_name != cur.get("chartName"):
            return "chart name"
        return ""

    def _after_release(self, kube: KubeClient, obj: Obj, status: Obj, release: Release,
                       loaded: charts.LoadedChart) -> None:
        """observeInventory: ``status.inventory`` from the stored manifest (and the chart's CRDs). The origin labels
        ``helm.toolkit.fluxcd.io/name|namespace`` are already on every object: the post-renderer sets them."""
        entries: dict[str, Obj] = {}
        for document in yaml.safe_load_all(release.manifest or ""):
            if not isinstance(document, dict) or not document.get("kind"):
                continue
            api_version = str(document.get("apiVersion", ""))
            kind = str(document["kind"])
            meta = document.get("metadata") or {}
            namespace = str(meta.get("namespace") or "")
            try:
                namespaced = kube.resource(api_version, kind).namespaced
            except SandboxError:
                namespaced = True
            namespace = (namespace or release.namespace) if namespaced else ""
            group, _, version = api_version.rpartition("/")
            entry = ObjMetadata(namespace, str(meta.get("name", "")), group, kind)
            entries[entry.id] = {"id": entry.id, "v": version}
        for crd in loaded.crds:
            entry = ObjMetadata("", str((crd.get("metadata") or {}).get("name", "")), "apiextensions.k8s.io",
                                "CustomResourceDefinition")
            entries[entry.id] = {"id": entry.id, "v": str(crd.get("apiVersion", "")).rpartition("/")[2] or "v1"}
        status["inventory"] = {"entries": [entries[key] for key in sorted(entries)]}

    # --- deletion -------------------------------------------------------------------------------------------
    def finalize(self, obj: Obj, ctx: Context) -> None:
        """reconcileDelete: uninstall the release (unless suspended) and delete the HelmChart of ``spec.chart``.
        A failed uninstall raises, so the deletion is retried (the finalizer stays)."""
        if (obj.get("spec") or {}).get("suspend"):
            return
        status: Obj = dict(obj.get("status") or {})
        if status.get("storageNamespace"):
            self._uninstall_if_possible(obj, ctx, status)
        if status.get("helmChart"):
            charts.delete_helm_chart(ctx.kube, str(status["helmChart"]))
        with self._errors_lock:
            self._errors.pop(object_key(obj), None)

    def _uninstall_if_possible(self, obj: Obj, ctx: Context, status: Obj) -> None:
        """reconcileReleaseDeletion: uninstall with the target's Helm, unless spec.kubeConfig's Secret is gone or
        (in this cluster only) the ServiceAccount to act as is: then the release is left, and the HelmRelease goes
        (its namespace is being deleted, say). An unreadable kubeconfig raises: the finalizer stays, retried."""
        resolver = targets.of(ctx.services, ctx.kube)
        try:
            target = resolver.resolve(obj, remote.HELM)
        except remote.KubeConfigError as err:
            if not err.not_found:
                raise
            log.error("HelmRelease %s: skipping Helm release uninstallation: %s", object_key(obj), err)
            return
        if not target.remote and not resolver.can_impersonate(target):
            log.error("HelmRelease %s: skipping Helm release uninstallation: ServiceAccount %s not found",
                      object_key(obj), target.user)
            return
        self._uninstall(obj, ctx, status, self.helm_for(target))

    def _uninstall(self, obj: Obj, ctx: Context, status: Obj, helm: Helm) -> None:
        """Uninstall the current release (helm-controller's Uninstall action reconciler) with its events."""
        cur = history.latest(status.get("history"))
        if cur is None:
            return
        storage_ns = str(status.get("storageNamespace") or state.storage_namespace(obj))
        atomic = AtomicRelease(helm, Hooks(lambda *_: None, lambda _: None, lambda _: None))
        generation = int(obj["metadata"].get("generation", 1))
        metadata = event_metadata(str(cur.get("chartVersion", "")), str(cur.get("configDigest", "")),
                                  str(cur.get("appVersion", "")), str(cur.get("ociDigest", "")))
        try:
            with helm.locked(storage_ns, str(cur["name"])):
                error = atomic.uninstall_release(obj, status, storage_ns, cur, state.timeout_of(obj, "uninstall"),
                                                 state.UNINSTALL)
        except ReleaseNotFound:
            status["conditions"] = cond.set_condition(
                status.get("conditions"), state.RELEASED, "False", state.UNINSTALL_SUCCEEDED,
                f"Release {history.full_release_name(cur)} was not found, assuming it is uninstalled", generation)
            return
        cur = history.latest(status.get("history")) or cur
        if error and (obj.get("spec") or {}).get("uninstall", {}).get("keepHistory") and "is already deleted" in error:
            status["conditions"] = cond.set_condition(
                status.get("conditions"), state.RELEASED, "False", state.UNINSTALL_SUCCEEDED,
                f"Release {history.full_release_name(cur)} was already uninstalled", generation)
            return
        if error:
            message = FMT_UNINSTALL_FAILURE.format(history.full_release_name(cur),
                                                   history.versioned_chart_name(cur), error)
            status["failures"] = int(status.get("failures") or 0) + 1
            ctx.events.record(obj, WARNING, state.UNINSTALL_FAILED, message, controller=self.controller_name,
                              metadata=metadata)
            raise ActionError(message)
        message = FMT_UNINSTALL_SUCCESS.format(history.full_release_name(cur), history.versioned_chart_name(cur))
        status.pop("inventory", None)
        status["conditions"] = cond.set_condition(status.get("conditions"), state.RELEASED, "False",
                                                  state.UNINSTALL_SUCCEEDED, message, generation)
        ctx.events.record(obj, NORMAL, state.UNINSTALL_SUCCEEDED, message, controller=self.controller_name,
                          metadata=metadata)


class DependencyNotReady(SandboxError):
    pass


def _ignore(_event: str, _obj: Obj) -> None:
    """The handler of an informer that only feeds ``Controller.watch``."""


def register(manager: Manager, ctx: Context, sources: Sources, kubeconfig: Path, *, workers: int = 4,
             requeue_dependency: float = DEPENDENCY_REQUEUE) -> Controller:
    """Add the HelmRelease controller, woken by a new artifact revision of its chart's source and by a change of
    a ConfigMap or Secret labelled ``reconcile.fluxcd.io/watch=Enabled`` that its ``valuesFrom`` reads."""
    storage: Storage = ctx.services["storage"]
    reconciler = HelmReleaseReconciler(ctx.kube, storage, kubeconfig, sources=sources,
                                       requeue_dependency=requeue_dependency)
    controller = manager.add(Controller(reconciler, ctx, workers=workers))
    changes = artifacts.RevisionChanges()

    def by_source(source: Obj) -> list[str]:
        if not changes.new_revision(source):
            return []
        meta = source.get("metadata", {})
        target = (str(source.get("kind")), str(meta.get("namespace")), str(meta.get("name")))
        return [object_key(hr) for hr in controller.informer.items() if charts.chart_ref_target(hr) == target]

    def by_config(kind: str) -> Mapper:
        def releases_reading(config: Obj) -> list[str]:
            meta = config.get("metadata", {})
            return [object_key(hr) for hr in controller.informer.items()
                    if hr["metadata"].get("namespace") == meta.get("namespace")
                    and (kind, meta.get("name")) in helm_values.references(hr.get("spec") or {})]
        return releases_reading

    for config_kind in ("ConfigMap", "Secret"):
        configs = Informer(ctx.kube, "v1", config_kind, _ignore, label_selector=f"{WATCH_LABEL}={WATCH_ENABLED}",
                           stop=ctx.stop)
        controller.watch(configs, by_config(config_kind))
    sources.watch(controller.watch, by_source)

    def cancel_on_stop() -> None:
        ctx.stop.wait()
        reconciler.cancel_all()

    threading.Thread(target=cancel_on_stop, name="helmrelease-cancel", daemon=True).start()
    return controller
