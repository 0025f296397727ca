"""helm-controller's AtomicRelease: determine the release's state, run the next action (install, upgrade, test,
rollback or uninstall remediation, unlock), record what Helm stored in ``status.history``, and go on until
nothing is left to do, an action would run twice, or a remediation ran — then say how to continue.

Each action reconciler sets the conditions and events helm-controller's does, with its messages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sandbox.errors import InputError, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.helm import drift, history, ownership, state
from sandbox.reconciler.helm.actions import LEGACY, WATCHER, ActionError, Helm, ReleaseNotFound
from sandbox.reconciler.helm.chart import LoadedChart
from sandbox.reconciler.helm.history import Release
from sandbox.reconciler.helm.state import Next, ReleaseStatus
from sandbox.reconciler.helm.values import Values, merge_maps
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.timeutil import go_duration

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP = "helm.toolkit.fluxcd.io"

FMT_INSTALL_FAILURE = "Helm install failed for release {}/{} with chart {}@{}: {}"
FMT_UPGRADE_FAILURE = "Helm upgrade failed for release {}/{} with chart {}@{}: {}"
FMT_TEST_FAILURE = "Helm test failed for release {} with chart {}: {}"
FMT_TEST_SUCCESS = "Helm test succeeded for release {} with chart {}: {}"
FMT_ROLLBACK_FAILURE = "Helm rollback to previous release {} with chart {} failed: {}"
FMT_ROLLBACK_SUCCESS = "Helm rollback to previous release {} with chart {} succeeded"
FMT_UNINSTALL_REMEDIATION_FAILURE = "Helm uninstall remediation for release {} with chart {} failed: {}"
FMT_UNINSTALL_REMEDIATION_SUCCESS = "Helm uninstall remediation for release {} with chart {} succeeded"
FMT_UNINSTALL_FAILURE = "Helm uninstall failed for release {} with chart {}: {}"
FMT_UNINSTALL_SUCCESS = "Helm uninstall succeeded for release {} with chart {}"
FMT_UNLOCK_FAILURE = "Unlock of Helm release {} with chart {} in {} state failed: {}"
FMT_UNLOCK_SUCCESS = "Unlocked Helm release {} with chart {} in {} state"


class Outcome(StrEnum):
    DONE = "done"  # nothing left to do: requeue at the interval
    RETRY_AFTER_INTERVAL = "retry"  # RetryOnFailure: requeue at the retry interval
    MUST_REQUEUE = "requeue"  # requeue at once to continue
    EXCEEDED = "exceeded"  # no retries left: stalled until something changes
    ERROR = "error"  # a failure to retry with backoff


@dataclass
class Request:
    obj: Obj
    status: Obj
    chart: LoadedChart
    values: Values
    force: bool = False


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    error: str = ""
    retry_interval: float | None = None


class Hooks:
    """What the atomic release needs from its controller: events, progress patches and post-release steps."""

    def __init__(self, event: Callable[[str, str, str, dict[str, str]], None], patch: Callable[[Obj], None],
                 released: Callable[[Release], None], health: Callable[[Release, float], str] | None = None,
                 crds: Callable[[str, float], str] | None = None, kube: KubeClient | None = None) -> None:
        self.event = event  # (type, reason, message, metadata)
        self.patch = patch  # write the status as it is now
        self.released = released  # a release was stored: record the inventory, label the objects
        # after Helm's wait: the healthCheckExprs wait for the new release, "" when healthy, else Helm's wait error
        self.health = health
        # before an install or upgrade (the action's name): apply the chart's CRDs by policy, "" or the error
        self.crds = crds
        self.kube = kube  # to take ownership of existing objects (None: not taken)


def event_metadata(chart_version: str, config_digest: str, app_version: str = "", oci_digest: str = "",
                   ) -> dict[str, str]:
    """eventMeta: the revision (chart version), token (config digest), app version and OCI digest."""
    metadata: dict[str, str] = {}
    if chart_version:
        metadata[f"{GROUP}/revision"] = chart_version
    if config_digest:
        metadata[f"{GROUP}/token"] = config_digest
    if app_version:
        metadata[f"{GROUP}/app-version"] = app_version
    if oci_digest:
        metadata[f"{GROUP}/oci-digest"] = oci_digest
    return metadata


def _snap_metadata(snap: Obj | None) -> dict[str, str]:
    snap = snap or {}
    return event_metadata(str(snap.get("chartVersion", "")), str(snap.get("configDigest", "")),
                          str(snap.get("appVersion", "")), str(snap.get("ociDigest", "")))


def wait_mode(obj: Obj, section: str) -> str | None:
    """Helm's wait for an action: none when ``spec.<section>.disableWait``, else the watcher (kstatus) or, with
    ``waitStrategy: legacy``, Helm 3's."""
    spec = obj.get("spec") or {}
    if (spec.get(section) or {}).get("disableWait"):
        return None
    return LEGACY if (spec.get("waitStrategy") or {}).get("name") == "legacy" else WATCHER


def _test_filters(obj: Obj) -> tuple[list[str], list[str]]:
    filters = state.test_spec(obj).get("filters") or []
    include = [str(f["name"]) for f in filters if not f.get("exclude")]
    exclude = [str(f["name"]) for f in filters if f.get("exclude")]
    return include, exclude


def selected_test_hooks(obj: Obj, hooks: dict[str, Obj | None]) -> dict[str, Obj | None]:
    """isTestHookSelected: the test hooks the filters keep."""
    include, exclude = _test_filters(obj)
    return {name: hook for name, hook in hooks.items()
            if name not in exclude and (not include or name in include)}


class AtomicRelease:
    def __init__(self, helm: Helm, hooks: Hooks) -> None:
        self.helm = helm
        self.hooks = hooks

    # --- the loop ---------------------------------------------------------------------------------------------
    def reconcile(self, req: Request) -> Result:
        obj, status = req.obj, req.status
        generation = int(obj["metadata"].get("generation", 1))
        storage_ns, name = state.storage_namespace(obj), state.short_release_name(obj)
        previous: list[str] = []
        while True:
            try:
                last = self.helm.last(storage_ns, name)
                release_state = state.determine_state(obj, status, last, req.chart.name, req.chart.version,
                                                      req.values.digest)
            except (ActionError, state.StateError) as err:
                message = f"Could not determine release state: {req.values.scrub(str(err))}"
                status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False",
                                                          "StateError", message, generation)
                return Result(Outcome.ERROR, f"cannot determine release state: {err}")
            if release_state.status == ReleaseStatus.IN_SYNC:
                log.info("HelmRelease %s/%s: release in-sync with desired state", obj["metadata"]["namespace"],
                         obj["metadata"]["name"])
                if last is not None and not self._drift(req, last):
                    return Result(Outcome.ERROR, "unable to determine cluster state")
            # A force request is handled once (ShouldHandleForceRequest records it): the first decision only.
            force, req.force = req.force, False
            try:
                step = state.action_for_state(obj, status, release_state, force=force,
                                              verify_previous=lambda snap: self._verify(storage_ns, snap))
            except state.ExceededMaxRetries as err:
                action = status.get("lastAttemptedReleaseAction", "")
                message = f"Failed to {action} after {state.failure_count(obj, status)} attempt(s)"
                state.mark_stalled(status, state.RETRIES_EXCEEDED, message, generation)
                return Result(Outcome.EXCEEDED, str(err))
            except state.MissingRollbackTarget as err:
                state.mark_stalled(status, state.MISSING_ROLLBACK_TARGET, f"Failed to perform remediation: {err}",
                                   generation)
                return Result(Outcome.EXCEEDED, str(err))
            except state.StateError as err:
                return Result(Outcome.ERROR, str(err))
            if step is None:
                status["conditions"] = cond.remove(status.get("conditions"), cond.RECONCILING)
                state.summarize(obj, status)
                return Result(Outcome.DONE)
            if step.kind in previous:  # cleanReleaseStrategy.MustContinue
                return self._stop_before(req)
            timeout = self._timeout(obj, step)
            message = f"Running '{step.value}' action with timeout of {go_duration(timeout)}"
            state.mark_reconciling(status, cond.PROGRESSING, message, generation)
            if step.kind == "release":
                status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "Unknown",
                                                          cond.PROGRESSING, message, generation)
            self.hooks.patch(status)
            log.info("HelmRelease %s/%s: running '%s' action with timeout of %s", obj["metadata"]["namespace"],
                     obj["metadata"]["name"], step.value, go_duration(timeout))
            try:
                error = self._run(step, req, storage_ns, name, timeout)
            except ActionError as err:  # reading Helm's storage around the action failed
                error = req.values.scrub(str(err))
            if error:
                retry = state.active_retry(obj, status)
                if retry is not None:
                    state.mark_reconciling(status, cond.PROGRESSING_WITH_RETRY,
                                           f"retrying after {go_duration(retry)}", generation)
                    return Result(Outcome.RETRY_AFTER_INTERVAL, error, retry)
                if cond.is_true(status.get("conditions"), cond.READY):
                    status["conditions"] = cond.set_condition(status.get("conditions"), cond.READY, "False",
                                                              "ReconcileError", error, generation)
                return Result(Outcome.ERROR, error)
            if step.kind == "remediate":  # cleanReleaseStrategy.MustStop
                retry = state.active_retry(obj, status)
                if retry is not None:
                    state.mark_reconciling(status, cond.PROGRESSING_WITH_RETRY,
                                           f"retrying after {go_duration(retry)}", generation)
                    return Result(Outcome.RETRY_AFTER_INTERVAL, "", retry)
                remediation = state.active_remediation(obj, status)
                if remediation is None or not remediation.retries_exhausted(status) or \
                        remediation.uninstall_after_upgrade:
                    ready = cond.find(status.get("conditions"), cond.READY) or {}
                    state.mark_reconciling(status, cond.PROGRESSING_WITH_RETRY,
                                           str(ready.get("message", "")), generation)
                    return Result(Outcome.MUST_REQUEUE)
                action = status.get("lastAttemptedReleaseAction", "")
                state.mark_stalled(status, state.RETRIES_EXCEEDED,
                                   f"Failed to {action} after {remediation.failure_count(status)} attempt(s)",
                                   generation)
                return Result(Outcome.EXCEEDED, "exceeded maximum retries")
            previous.append(step.kind)
            self.hooks.patch(status)

    def _drift(self, req: Request, last: Release) -> bool:
        """Drift detection of an in-sync release (helm-render: drift.reconcile_drift): warned or corrected by
        ``spec.driftDetection.mode``; False (Ready=False) when the cluster state could not be determined."""
        obj, status = req.obj, req.status
        if not drift.must_detect(obj):
            status["conditions"] = cond.remove(status.get("conditions"), drift.DRIFTED)
            return True
        cur = history.latest(status.get("history"))

        def record(event_type: str, reason: str, message: str) -> None:
            self.hooks.event(event_type, reason, req.values.scrub(message), _snap_metadata(cur))

        try:
            outcome = drift.reconcile_drift(self.helm.kube, obj, status.get("conditions"), manifest=last.manifest,
                                            release_name=last.name, release_namespace=last.namespace,
                                            full_release_name=history.full_release_name(cur), record=record)
        except InputError as err:
            status["conditions"] = cond.set_condition(
                status.get("conditions"), cond.READY, "False", "StateError",
                f"Could not determine release state: {req.values.scrub(str(err))}",
                int(obj["metadata"].get("generation", 1)))
            return False
        status["conditions"] = outcome.conditions
        return True

    def _render_values(self, step: Next, req: Request, storage_ns: str, name: str) -> Obj:
        """The values the chart is rendered with: an upgrade with ``upgrade.preserveValues`` renders with the
        installed release's values under the new ones, as Helm's ReuseValues does."""
        values = req.values.values
        if step == Next.UPGRADE and ((req.obj.get("spec") or {}).get("upgrade") or {}).get("preserveValues"):
            last = self.helm.last(storage_ns, name)
            if last is not None:
                return merge_maps(last.config, values)
        return values

    def _stop_before(self, req: Request) -> Result:
        obj, status = req.obj, req.status
        generation = int(obj["metadata"].get("generation", 1))
        retry = state.active_retry(obj, status)
        if retry is not None:
            state.mark_reconciling(status, cond.PROGRESSING_WITH_RETRY,
                                   f"retrying after {go_duration(retry)}", generation)
            return Result(Outcome.RETRY_AFTER_INTERVAL, "", retry)
        remediation = state.active_remediation(obj, status)
        if remediation is None or not remediation.retries_exhausted(status):
            ready = cond.find(status.get("conditions"), cond.READY) or {}
            state.mark_reconciling(status, cond.PROGRESSING_WITH_RETRY, str(ready.get("message", "")),
                                   generation)
            return Result(Outcome.MUST_REQUEUE)
        status["conditions"] = cond.remove(status.get("conditions"), cond.RECONCILING)
        return Result(Outcome.DONE)

    @staticmethod
    def _timeout(obj: Obj, step: Next) -> float:
        section = {Next.INSTALL: "install", Next.UPGRADE: "upgrade", Next.TEST: "test", Next.ROLLBACK: "rollback",
                   Next.UNINSTALL_REMEDIATION: "uninstall"}.get(step, "")
        return state.timeout_of(obj, section)

    def _verify(self, storage_ns: str, snap: Obj | None) -> str:
        """VerifySnapshot of the rollback target: "missing", "changed" or "ok"."""
        if snap is None:
            return "missing"
        stored = self.helm.get(storage_ns, str(snap["name"]), int(snap["version"]))
        if stored is None:
            return "changed"
        if snap.get("apiVersion") == history.SNAPSHOT_API_VERSION and snap.get("digest") != stored.digest:
            return "changed"
        return "ok"

    def _run(self, step: Next, req: Request, storage_ns: str, name: str, timeout: float) -> str:
        """Run one action reconciler; returns the error to return ("" when the loop goes on)."""
        with self.helm.locked(storage_ns, name):
            if step in (Next.INSTALL, Next.UPGRADE):
                return self._release(step, req, storage_ns, name, timeout)
            if step == Next.TEST:
                return self._test(req, storage_ns, name, timeout)
            if step == Next.ROLLBACK:
                return self._rollback(req, storage_ns, timeout)
            if step == Next.UNINSTALL_REMEDIATION:
                return self._uninstall_remediation(req, storage_ns, timeout)
            return self._unlock(req, storage_ns, name)

    # --- install / upgrade ----------------------------------------------------------------------------------
    def _newest_version(self, storage_ns: str, name: str) -> int:
        return max((int(v.get("revision") or v.get("version") or 0) for v in self.helm.versions(storage_ns, name)),
                   default=0)

    def _release(self, step: Next, req: Request, storage_ns: str, name: str, timeout: float) -> str:
        obj, status, chart = req.obj, req.status, req.chart
        spec = obj.get("spec") or {}
        generation = int(obj["metadata"].get("generation", 1))
        action = state.INSTALL if step == Next.INSTALL else state.UPGRADE
        started = time.monotonic()
        status["lastAttemptedReleaseAction"] = action
        if step == Next.INSTALL:
            status["history"] = []
        status["conditions"] = cond.remove(cond.remove(status.get("conditions"), state.TEST_SUCCESS),
                                           state.REMEDIATED)
        try:
            before = self._newest_version(storage_ns, name)
        except ActionError as err:
            return str(err)
        namespace = state.release_namespace(obj)
        error = self.hooks.crds(action, timeout) if self.hooks.crds is not None else ""
        if not error:
            error = self._release_action(step, req, storage_ns, name, timeout, before + 1)
            take_ownership = not (spec.get(action) or {}).get("disableTakeOwnership")
            for _ in range(2):  # at most once for ownership, once for conflicts
                if not error or self.hooks.kube is None or not (
                        (take_ownership and ownership.refused(error)) or ownership.conflicted(error)):
                    break
                if not self._take_over(req, storage_ns, name, step, error):
                    break
                # An install Helm refused part-way left a failed release: the retry upgrades that one.
                newest = self._newest_version(storage_ns, name)
                retry = Next.UPGRADE if step == Next.INSTALL and newest > before else step
                error = self._release_action(retry, req, storage_ns, name, timeout, max(newest, before) + 1)
        error = req.values.scrub(error)
        section = "install" if step == Next.INSTALL else "upgrade"
        if not error and self.hooks.health is not None and wait_mode(obj, section) is not None:
            error = req.values.scrub(self._custom_health(step, req, storage_ns, name, before,
                                                         timeout - (time.monotonic() - started)))
        status["lastAttemptedReleaseActionDuration"] = go_duration(time.monotonic() - started)
        observed = self._observe(req, storage_ns, name, before, action)
        if error:
            fmt = FMT_INSTALL_FAILURE if step == Next.INSTALL else FMT_UPGRADE_FAILURE
            message = fmt.format(namespace, name, chart.name, chart.version, error)
            status["failures"] = int(status.get("failures") or 0) + 1
            reason = state.INSTALL_FAILED if step == Next.INSTALL else state.UPGRADE_FAILED
            status["conditions"] = cond.set_condition(status.get("conditions"), state.RELEASED, "False", reason,
                                                      message, generation)
            self.hooks.event(WARNING, reason, message,
                             event_metadata(chart.version, req.values.digest, chart.app_version,
                                            status.get("lastAttemptedRevisionDigest", "")))
            state.summarize(obj, status)
            if not observed:
                return message
            state.remediation_of(obj, action).increment(status)
            return ""
        cur = history.latest(status.get("history"))
        fmt = state.FMT_INSTALL_SUCCESS if step == Next.INSTALL else state.FMT_UPGRADE_SUCCESS
        message = fmt.format(history.full_release_name(cur), history.versioned_chart_name(cur))
        reason = state.INSTALL_SUCCEEDED if step == Next.INSTALL else state.UPGRADE_SUCCEEDED
        status["conditions"] = cond.set_condition(status.get("conditions"), state.RELEASED, "True", reason, message,
                                                  generation)
        if state.test_spec(obj).get("enable") and not history.has_been_tested(cur):
            status["conditions"] = cond.set_condition(
                status.get("conditions"), state.TEST_SUCCESS, "Unknown", "AwaitingTests",
                state.FMT_TEST_PENDING.format(history.full_release_name(cur), history.versioned_chart_name(cur)),
                generation)
        if state.retry_of(obj, action) is not None:
            state.clear_failures(status)
        self.hooks.event(NORMAL, reason, message, _snap_metadata(cur))
        state.summarize(obj, status)
        return ""

    def _take_over(self, req: Request, storage_ns: str, name: str, step: Next, error: str) -> bool:
        """What helm-controller has Helm do and the SDK cannot: adopt existing objects (take-ownership) or take
        over fields other managers hold (forced conflicts). True when something was taken over."""
        assert self.hooks.kube is not None
        obj = req.obj
        namespace = state.release_namespace(obj)
        try:
            objects = self.helm.render(storage_ns, req.chart.chart, name, req.values.values, namespace=namespace,
                                       install=step == Next.INSTALL)
            if ownership.refused(error):
                taken = ownership.adopt(self.hooks.kube, objects, name, namespace)
                what = "took ownership of"
            else:
                taken = ownership.force_conflicts(self.hooks.kube, objects, namespace)
                what = "forced the conflicting fields of"
        except (ActionError, SandboxError) as err:
            log.warning("HelmRelease %s/%s: could not take over the objects of the release: %s",
                        obj["metadata"]["namespace"], obj["metadata"]["name"], req.values.scrub(str(err)))
            return False
        if taken:
            log.info("HelmRelease %s/%s: %s %s", obj["metadata"]["namespace"], obj["metadata"]["name"], what,
                     ", ".join(taken))
        return bool(taken)

    def _release_action(self, step: Next, req: Request, storage_ns: str, name: str, timeout: float,
                        revision: int) -> str:
        """Helm's install or upgrade (as release ``revision``) of the request's chart, rendered and post-rendered
        first (``Helm.release_chart``), with its values; Helm's error, or ""."""
        obj, chart = req.obj, req.chart
        spec = obj.get("spec") or {}
        namespace = state.release_namespace(obj)
        try:
            with self.helm.release_chart(storage_ns, chart.chart, self._render_values(step, req, storage_ns, name),
                                         obj, revision=revision, upgrade=step == Next.UPGRADE) as prepared:
                if step == Next.INSTALL:
                    self.helm.install(storage_ns, prepared, name, req.values.values, namespace=namespace,
                                      timeout=timeout, wait=wait_mode(obj, "install"),
                                      create_namespace=bool(spec.get("targetNamespace") and
                                                            (spec.get("install") or {}).get("createNamespace")))
                else:
                    upgrade = spec.get("upgrade") or {}
                    max_history = spec.get("maxHistory")
                    self.helm.upgrade(storage_ns, prepared, name, req.values.values, namespace=namespace,
                                      timeout=timeout, wait=wait_mode(obj, "upgrade"),
                                      max_history=int(history.DEFAULT_MAX_HISTORY if max_history is None
                                                      else max_history),
                                      reuse_values=bool(upgrade.get("preserveValues")),
                                      cleanup_on_fail=bool(upgrade.get("cleanupOnFail")))
        except (ActionError, InputError) as err:  # InputError: Helm refused the values, a template, a post-renderer
            return str(err).strip()
        return ""

    def _custom_health(self, step: Next, req: Request, storage_ns: str, name: str, before: int,
                       remaining: float) -> str:
        """The healthCheckExprs wait of the release the action stored; a failure marks it failed in storage, as
        Helm marks a release whose wait failed ("" when healthy)."""
        assert self.hooks.health is not None
        try:
            stored = self.helm.last(storage_ns, name)
        except ActionError as err:
            return str(err)
        if stored is None or stored.version <= before:
            return ""
        problem = self.hooks.health(stored, remaining)
        if problem:
            verb = "Release" if step == Next.INSTALL else "Upgrade"
            try:
                self.helm.mark_failed(storage_ns, name, stored.version, f'{verb} "{name}" failed: {problem}')
                # A failed upgrade leaves the release it replaced deployed.
                replaced = next((snap for snap in req.status.get("history") or []
                                 if snap.get("version") == before and snap.get("name") == name), None)
                if step == Next.UPGRADE and replaced is not None and replaced.get("status") == history.DEPLOYED:
                    self.helm.set_status(storage_ns, name, before, history.DEPLOYED)
            except ActionError as err:
                log.warning("could not mark release %s/%s.v%d failed: %s", storage_ns, name, stored.version, err)
        return problem

    def _observe(self, req: Request, storage_ns: str, name: str, before: int, action: str) -> bool:
        """Record the releases the action stored (observeRelease): the newest as a new snapshot, the one it
        superseded refreshed. False when it stored none."""
        status = req.status
        try:
            newest = self._newest_version(storage_ns, name)
        except ActionError as err:
            log.warning("could not read the release history of %s/%s: %s", storage_ns, name, err)
            return False
        if newest <= before:
            return False
        snapshots = status.get("history") or []
        for version in sorted({before, newest} - {0}):
            stored = self.helm.get(storage_ns, name, version)
            if stored is None:
                continue
            if version == newest:
                snap = history.snapshot(stored, action, status.get("lastAttemptedRevisionDigest", ""))
                snapshots = history.record(snapshots, snap)
                self.hooks.released(stored)
            else:
                existing = next((s for s in snapshots if history.targets(s, stored.name, stored.namespace,
                                                                         stored.version)), None)
                if existing is not None:
                    snapshots = history.record(snapshots, history.snapshot(
                        stored, str(existing.get("action", "")), str(existing.get("ociDigest", ""))))
        status["history"] = snapshots
        return True

    # --- test -------------------------------------------------------------------------------------------------
    def _test(self, req: Request, storage_ns: str, name: str, timeout: float) -> str:
        obj, status = req.obj, req.status
        generation = int(obj["metadata"].get("generation", 1))
        cur = history.latest(status.get("history"))
        if cur is None:
            return "no latest release: required for test"
        include, exclude = _test_filters(obj)
        error = ""
        try:
            self.helm.test(storage_ns, name, timeout=timeout, include=include, exclude=exclude)
        except ActionError as err:
            error = req.values.scrub(str(err).strip())
        stored = self.helm.get(storage_ns, str(cur["name"]), int(cur["version"]))
        if stored is not None:
            tested = history.snapshot(stored, str(cur.get("action", "")), str(cur.get("ociDigest", "")),
                                      selected_test_hooks(obj, dict(stored.test_hooks)))
            status["history"] = history.record(status.get("history"), tested)
        cur = history.latest(status.get("history"))
        if error:
            message = FMT_TEST_FAILURE.format(history.full_release_name(cur), history.versioned_chart_name(cur),
                                              error)
            status["failures"] = int(status.get("failures") or 0) + 1
            status["conditions"] = cond.set_condition(status.get("conditions"), state.TEST_SUCCESS, "False",
                                                      state.TEST_FAILED, message, generation)
            self.hooks.event(WARNING, state.TEST_FAILED, message, _snap_metadata(cur))
            if history.has_been_tested(cur):
                remediation = state.active_remediation(obj, status)
                if remediation is not None and not remediation.must_ignore_test_failures(
                        bool(state.test_spec(obj).get("ignoreFailures"))):
                    remediation.increment(status)
            state.summarize(obj, status)
            return "" if history.has_been_tested(cur) else message
        hooks = (cur or {}).get("testHooks") or {}
        count = len(hooks)
        hook_message = f"{count} test hook{'s' if count > 1 else ''} completed successfully" if count \
            else "no test hooks"
        message = FMT_TEST_SUCCESS.format(history.full_release_name(cur), history.versioned_chart_name(cur),
                                          hook_message)
        status["conditions"] = cond.set_condition(status.get("conditions"), state.TEST_SUCCESS, "True",
                                                  state.TEST_SUCCEEDED, message, generation)
        self.hooks.event(NORMAL, state.TEST_SUCCEEDED, message, _snap_metadata(cur))
        state.summarize(obj, status)
        return ""

    # --- remediation ------------------------------------------------------------------------------------------
    def _rollback(self, req: Request, storage_ns: str, timeout: float) -> str:
        obj, status = req.obj, req.status
        generation = int(obj["metadata"].get("generation", 1))
        cur = history.latest(status.get("history"))
        ignore = state.remediation_of(obj, state.UPGRADE).must_ignore_test_failures(
            bool(state.test_spec(obj).get("ignoreFailures")))
        prev = history.previous(status.get("history"), ignore)
        if prev is None or cur is None:
            state.summarize(obj, status)
            return "missing target release for rollback: required to rollback"
        name = str(prev["name"])
        before = self._newest_version(storage_ns, name)
        error = ""
        try:
            self.helm.rollback(storage_ns, name, int(prev["version"]), timeout=timeout,
                               wait=wait_mode(obj, "rollback"))
        except ActionError as err:
            error = req.values.scrub(str(err).strip())
        # observeRollback: the new release made from prev, and the superseded current one
        newest = self._newest_version(storage_ns, name)
        snapshots = status.get("history") or []
        for version in sorted({int(cur["version"]), newest} - {0}):
            stored = self.helm.get(storage_ns, name, version)
            if stored is None:
                continue
            existing = next((s for s in snapshots if history.targets(s, stored.name, stored.namespace,
                                                                     stored.version)), None)
            action = str(existing.get("action", "")) if existing else state.ROLLBACK
            if version == newest and version > before:
                action = state.ROLLBACK
                self.hooks.released(stored)
            snapshots = history.record(snapshots, history.snapshot(
                stored, action, str((existing or prev).get("ociDigest", ""))))
        status["history"] = snapshots
        metadata = event_metadata(str(prev.get("chartVersion", "")), req.values.digest,
                                  str(prev.get("appVersion", "")), str(prev.get("ociDigest", "")))
        if error:
            message = FMT_ROLLBACK_FAILURE.format(history.full_release_name(prev), history.versioned_chart_name(prev),
                                                  error)
            status["failures"] = int(status.get("failures") or 0) + 1
            status["conditions"] = cond.set_condition(status.get("conditions"), state.REMEDIATED, "False",
                                                      state.ROLLBACK_FAILED, message, generation)
            self.hooks.event(WARNING, state.ROLLBACK_FAILED, message, metadata)
            state.summarize(obj, status)
            new_cur = history.latest(status.get("history"))
            return message if new_cur is None or new_cur.get("digest") == cur.get("digest") else ""
        message = FMT_ROLLBACK_SUCCESS.format(history.full_release_name(prev), history.versioned_chart_name(prev))
        status["conditions"] = cond.set_condition(status.get("conditions"), state.REMEDIATED, "True",
                                                  state.ROLLBACK_SUCCEEDED, message, generation)
        self.hooks.event(NORMAL, state.ROLLBACK_SUCCEEDED, message, metadata)
        state.summarize(obj, status)
        return ""

    def _uninstall_remediation(self, req: Request, storage_ns: str, timeout: float) -> str:
        obj, status = req.obj, req.status
        generation = int(obj["metadata"].get("generation", 1))
        cur = history.latest(status.get("history"))
        if cur is None:
            return "no latest release: required to uninstall"
        error = self.uninstall_release(obj, status, storage_ns, cur, timeout, state.UNINSTALL_REMEDIATION)
        cur_now = history.latest(status.get("history"))
        if error:
            message = FMT_UNINSTALL_REMEDIATION_FAILURE.format(history.full_release_name(cur_now),
                                                               history.versioned_chart_name(cur_now),
                                                               req.values.scrub(error))
            status["failures"] = int(status.get("failures") or 0) + 1
            status["conditions"] = cond.set_condition(status.get("conditions"), state.REMEDIATED, "False",
                                                      state.UNINSTALL_FAILED, message, generation)
            self.hooks.event(WARNING, state.UNINSTALL_FAILED, message, _snap_metadata(cur_now))
            state.summarize(obj, status)
            return message if (cur_now or {}).get("digest") == cur.get("digest") else ""
        message = FMT_UNINSTALL_REMEDIATION_SUCCESS.format(history.full_release_name(cur_now),
                                                           history.versioned_chart_name(cur_now))
        status["conditions"] = cond.set_condition(status.get("conditions"), state.REMEDIATED, "True",
                                                  state.UNINSTALL_SUCCEEDED, message, generation)
        self.hooks.event(NORMAL, state.UNINSTALL_SUCCEEDED, message, _snap_metadata(cur_now))
        state.summarize(obj, status)
        return ""

    def uninstall_release(self, obj: Obj, status: Obj, storage_ns: str, cur: Obj, timeout: float,
                          action: str) -> str:
        """Uninstall the release of ``cur`` and refresh its snapshot (observeUninstall); the error, or ""."""
        uninstall = (obj.get("spec") or {}).get("uninstall") or {}
        keep_history = bool(uninstall.get("keepHistory"))
        error = ""
        try:
            self.helm.uninstall(storage_ns, str(cur["name"]), timeout=timeout, wait=wait_mode(obj, "uninstall"),
                                keep_history=keep_history)
        except ReleaseNotFound:
            raise
        except ActionError as err:
            error = str(err).strip()
        stored = self.helm.get(storage_ns, str(cur["name"]), int(cur["version"]))
        if stored is not None:
            status["history"] = history.record(status.get("history"), history.snapshot(
                stored, action, str(cur.get("ociDigest", ""))))
        elif not error:
            # Without keepHistory the release is gone from storage: the snapshot says it was uninstalled.
            status["history"] = history.record(status.get("history"),
                                               {**cur, "status": history.UNINSTALLED, "action": action})
        if not error and (history.latest(status.get("history")) or {}).get("digest") == cur.get("digest") and \
                cur.get("status") != history.UNINSTALLED and stored is not None:
            error = "uninstall completed with error: release not updated in Helm storage"
        return error

    # --- unlock -----------------------------------------------------------------------------------------------
    def _unlock(self, req: Request, storage_ns: str, name: str) -> str:
        obj, status = req.obj, req.status
        generation = int(obj["metadata"].get("generation", 1))
        try:
            last = self.helm.last(storage_ns, name)
        except ActionError as err:
            return str(err)
        if last is None or not last.pending:
            state.summarize(obj, status)
            return ""
        existing = next((s for s in status.get("history") or []
                         if history.targets(s, last.name, last.namespace, last.version)), None)
        cur = history.snapshot(last, str((existing or {}).get("action", "")), str((existing or {}).get(
            "ociDigest", "")))
        try:
            self.helm.mark_failed(storage_ns, name, last.version,
                                  f"Release unlocked from stale '{last.status}' state")
        except ActionError as err:
            message = FMT_UNLOCK_FAILURE.format(history.full_release_name(cur), history.versioned_chart_name(cur),
                                                last.status, err)
            status["failures"] = int(status.get("failures") or 0) + 1
            status["conditions"] = cond.set_condition(status.get("conditions"), state.RELEASED, "False",
                                                      "PendingRelease", message, generation)
            self.hooks.event(WARNING, "PendingRelease", message, _snap_metadata(cur))
            state.summarize(obj, status)
            return message
        if existing is not None:
            stored = self.helm.get(storage_ns, name, last.version)
            if stored is not None:
                status["history"] = history.record(status.get("history"), history.snapshot(
                    stored, str(existing.get("action", "")), str(existing.get("ociDigest", ""))))
        message = FMT_UNLOCK_SUCCESS.format(history.full_release_name(cur), history.versioned_chart_name(cur),
                                            last.status)
        status["conditions"] = cond.set_condition(status.get("conditions"), state.RELEASED, "False",
                                                  "PendingRelease", message, generation)
        self.hooks.event(NORMAL, "PendingRelease", message, _snap_metadata(cur))
        state.summarize(obj, status)
        return ""
