"""The ImageUpdateAutomation controller: list the namespace's ImagePolicies, check out the GitRepository, run the
setters, commit and push — with image-automation-controller's conditions, reasons, status fields and events."""

from __future__ import annotations

import logging
import random
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import APIError, InputError, NotFound, SandboxError
from sandbox.kube.informer import Informer, object_key
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.image.automation import selector as selectors
from sandbox.reconciler.image.automation import setters, signing, template
from sandbox.reconciler.image.automation.result import Result as ChangeSet
from sandbox.reconciler.image.automation.workspace import (
    GitOperationFailed,
    GitSettings,
    InvalidSourceConfiguration,
    Pushed,
    RetryPolicy,
    Signer,
    Workspace,
    commit_and_push,
    push_branch_of,
)
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Controller, Result, interval_of
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.manager import Manager
from sandbox.reconciler.runtime.timeutil import parse_duration, rfc3339
from sandbox.reconciler.source.gitrepository import SecretError, auth_from_secret
from sandbox.reconciler.unsupported import refuse_unsupported_fields, stall
from sandbox.tools import git

log = logging.getLogger(__name__)

Obj = dict[str, Any]
READY_MESSAGE = "repository up-to-date"
NO_CHANGE_MESSAGE = "no change since last reconciliation"
# image-automation-controller's reasons (api/v1/condition_types.go)
INVALID_UPDATE_STRATEGY = "InvalidUpdateStrategy"
INVALID_SOURCE_CONFIGURATION = "InvalidSourceConfiguration"
SOURCE_MANAGER_FAILED = "SourceManagerFailed"
GIT_OPERATION_FAILED = "GitOperationFailed"
UPDATE_FAILED = "UpdateFailed"
INVALID_POLICY_SELECTOR = "InvalidPolicySelector"
REMOVED_TEMPLATE_FIELD = template.REMOVED_TEMPLATE_FIELD
SETTERS = "Setters"


class Failed(SandboxError):
    """A step failed: Ready=False with ``reason``; Stalled when ``stalled`` (retrying cannot help)."""

    def __init__(self, reason: str, message: str, *, stalled: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.stalled = stalled


@dataclass(frozen=True)
class Outcome:
    observed_policies: dict[str, Obj]
    observed_revision: str
    pushed: Pushed | None = None
    synced: bool = True  # False: nothing changed since the last run, the full sync was skipped


def observed_policies(policies: list[setters.Policy]) -> dict[str, Obj]:
    observed: dict[str, Obj] = {}
    for policy in policies:
        if policy.latest is None:
            continue
        ref: Obj = {"name": policy.latest.name, "tag": policy.latest.tag}
        if policy.latest.digest:
            ref["digest"] = policy.latest.digest
        observed[policy.name] = ref
    return observed


def push_event_message(pushed: Pushed) -> str:
    """The event upstream sends for a push (notify in imageupdateautomation_controller.go)."""
    return f"pushed commit '{pushed.sha}' to 'refs/heads/{pushed.branch}'\n{pushed.message}"


class ImageUpdateAutomationReconciler:
    api_version = kinds.IMAGEUPDATEAUTOMATION.api_version
    kind = kinds.IMAGEUPDATEAUTOMATION.kind
    controller_name = "image-automation-controller"
    status_manager = "image-automation-controller"

    def __init__(self, *, renderer: template.Renderer | None = None, find_renderer: bool = True,
                 retry: RetryPolicy | None = None) -> None:
        self.renderer = renderer if renderer is not None or not find_renderer else template.helper_renderer()
        self.retry = retry or RetryPolicy()
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def resource_info(self, obj: Obj) -> dict[str, str]:
        return {"revision": str((obj.get("status") or {}).get("observedSourceRevision", ""))}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        return None

    # --- reconcile --------------------------------------------------------------------------------------------
    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        if spec.get("git", {}).get("commit", {}).get("messageTemplate") and self.renderer is None:
            return stall(obj, ctx, template.HELPER_MISSING, self.controller_name)
        generation = int(meta.get("generation", 1))
        status: Obj = dict(obj.get("status") or {})
        status["lastAutomationRunTime"] = rfc3339()
        was_ready = cond.is_true(status.get("conditions"), cond.READY)
        if status.get("observedGeneration") != generation:
            self._progress(obj, ctx, status, generation)
        interval = interval_of(obj)
        key = object_key(obj)
        try:
            outcome = self._run(obj, ctx, status, interval)
        except Failed as err:
            message = str(err)
            status["conditions"] = cond.mark_failed(status.get("conditions"), err.reason, message, generation,
                                                    stalled=err.stalled)
            ctx.events.record(obj, WARNING, err.reason, message, controller=self.controller_name)
            if err.stalled:
                status["observedGeneration"] = generation
                return Result(status, None)
            return Result(status, self._backoff(key, interval))
        with self._lock:
            self._failures.pop(key, None)
        status["observedPolicies"] = outcome.observed_policies
        status["observedSourceRevision"] = outcome.observed_revision
        if outcome.pushed is not None:
            status["lastPushCommit"] = outcome.pushed.sha
            status["lastPushTime"] = rfc3339()
        status["conditions"] = cond.mark_ready(status.get("conditions"), cond.SUCCEEDED, READY_MESSAGE, generation)
        status["observedGeneration"] = generation
        if outcome.pushed is not None:
            ctx.events.record(obj, NORMAL, cond.SUCCEEDED, push_event_message(outcome.pushed),
                              controller=self.controller_name,
                              metadata={"revision": f"{outcome.pushed.branch}@sha1:{outcome.pushed.sha}"})
        elif not was_ready:
            ctx.events.record(obj, NORMAL, cond.SUCCEEDED, READY_MESSAGE, controller=self.controller_name)
        # else: upstream sends "no change since last reconciliation" as a Trace event, which is no Kubernetes event
        return Result(status, interval)

    def _backoff(self, key: str, interval: float) -> float:
        with self._lock:
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
        return float(min(interval, 2.0 ** min(count, 10)))

    def _progress(self, obj: Obj, ctx: Context, status: Obj, generation: int) -> None:
        previous = status.get("observedGeneration", -1)
        message = f"processing object: new generation {previous} -> {generation}"
        updated = cond.set_condition(status.get("conditions"), cond.RECONCILING, "True", cond.PROGRESSING, message,
                                     generation)
        status["conditions"] = cond.set_condition(updated, cond.READY, "Unknown", cond.PROGRESSING,
                                                  "reconciliation in progress", generation)
        try:
            ctx.patch_status(obj, {"conditions": status["conditions"],
                                   "lastAutomationRunTime": status["lastAutomationRunTime"]}, self.status_manager)
        except SandboxError as err:
            log.warning("could not mark %s reconciling: %s", object_key(obj), err)

    def _run(self, obj: Obj, ctx: Context, status: Obj, interval: float) -> Outcome:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        namespace = meta["namespace"]
        policies = self._policies(ctx, namespace, spec.get("policySelector"))
        observed = observed_policies(policies)
        settings, signer = self._source(ctx, obj)
        sync_needed = observed != (status.get("observedPolicies") or {}) or settings.switch_branch \
            or bool(settings.refspec)
        with tempfile.TemporaryDirectory(prefix=f"{namespace}-{meta['name']}-") as scratch:
            workspace = Workspace(Path(scratch) / "work", settings)
            if not sync_needed and status.get("observedSourceRevision"):
                resolved = self._git(workspace.resolve)
                if resolved.revision == status["observedSourceRevision"]:
                    return Outcome(observed, resolved.revision, synced=False)
            checkout = self._git(workspace.checkout)
            update = spec.get("update") or {"strategy": SETTERS}
            if update.get("strategy", SETTERS) != SETTERS:
                raise Failed(INVALID_UPDATE_STRATEGY, f"unsupported update strategy: {update.get('strategy')}",
                             stalled=True)
            values = setters.setter_values(policies)
            changes = ChangeSet()

            def apply() -> bool:
                nonlocal changes
                try:
                    root = setters.update_root(workspace.path, update.get("path"))
                    changes = setters.update_tree(root, values).result
                except (InputError, OSError) as err:
                    raise Failed(UPDATE_FAILED, f"failed to apply policies: {err}") from err
                return bool(changes.file_changes)

            if not apply():
                return Outcome(observed, checkout.revision)
            commit = spec["git"]["commit"]

            def message() -> str:
                data = template.template_data(namespace, meta["name"], changes, commit.get("messageTemplateValues"))
                try:
                    return template.commit_message(commit.get("messageTemplate"), data, self.renderer)
                except template.TemplateError as err:
                    if err.removed_field:
                        raise Failed(REMOVED_TEMPLATE_FIELD, str(err), stalled=True) from err
                    raise Failed(GIT_OPERATION_FAILED, f"failed to update source: {err}") from err

            author = git.Identity(str(commit["author"].get("name", "")), str(commit["author"]["email"]))
            try:
                pushed = commit_and_push(workspace, apply, message, author, signer,
                                         RetryPolicy(self.retry.attempts, self.retry.base_delay,
                                                     min(self.retry.budget, interval / 2)),
                                         jitter=lambda delay: delay * (1 + random.random() * 0.5))
            except signing.SigningError as err:
                raise Failed(GIT_OPERATION_FAILED, f"failed to update source: {err}") from err
            except GitOperationFailed as err:
                raise Failed(GIT_OPERATION_FAILED, f"failed to update source: {err}") from err
            if pushed is None:
                return Outcome(observed, workspace.checkout_info.revision if workspace.checkout_info
                               else checkout.revision)
            revision = workspace.checkout_info.revision if settings.switch_branch and workspace.checkout_info \
                else f"{settings.push_branch}@sha1:{pushed.sha}"
            return Outcome(observed, revision, pushed)

    @staticmethod
    def _git(step: Callable[[], Any]) -> Any:
        try:
            return step()
        except GitOperationFailed as err:
            raise Failed(GIT_OPERATION_FAILED, f"failed to checkout source: {err}") from err

    def _policies(self, ctx: Context, namespace: str, selector: Obj | None) -> list[setters.Policy]:
        try:
            matches = selectors.compile_selector(selector)
        except selectors.SelectorError as err:
            raise Failed(INVALID_POLICY_SELECTOR, f"failed to parse policy selector: {err}", stalled=True) from err
        try:
            items = ctx.kube.list(kinds.IMAGEPOLICY.api_version, kinds.IMAGEPOLICY.kind, namespace).items
        except APIError as err:
            raise Failed(cond.RECONCILIATION_FAILED, f"failed to list policies: {err}") from err
        chosen = [setters.parse_policy(item) for item in items
                  if matches((item.get("metadata") or {}).get("labels") or {})]
        return [policy for policy in chosen if policy.latest is not None]

    def _source(self, ctx: Context, obj: Obj) -> tuple[GitSettings, Signer | None]:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        ref = spec.get("sourceRef") or {}
        kind = ref.get("kind", "GitRepository")
        if kind != kinds.GITREPOSITORY.kind:
            raise Failed(INVALID_SOURCE_CONFIGURATION,
                         f"source kind '{kind}' not supported: invalid source configuration", stalled=True)
        git_spec = spec.get("git")
        if not git_spec:
            raise Failed(INVALID_SOURCE_CONFIGURATION, "source kind 'GitRepository' necessitates field .spec.git: "
                         "invalid source configuration", stalled=True)
        namespace = ref.get("namespace") or meta["namespace"]
        prefix = "failed configuring source manager: "
        try:
            repo = ctx.kube.get(kinds.GITREPOSITORY.api_version, kinds.GITREPOSITORY.kind, ref["name"], namespace)
        except NotFound as err:
            raise Failed(SOURCE_MANAGER_FAILED, f"{prefix}referenced git repository does not exist: "
                         f"gitrepositories.source.toolkit.fluxcd.io \"{ref['name']}\" not found") from err
        repo_spec = repo.get("spec") or {}
        checkout_ref = (git_spec.get("checkout") or {}).get("ref") or repo_spec.get("ref")
        try:
            branch, switch = push_branch_of(git_spec, checkout_ref)
        except InvalidSourceConfiguration as err:
            raise Failed(SOURCE_MANAGER_FAILED, f"{prefix}{err}") from err
        auth = None
        if (repo_spec.get("secretRef") or {}).get("name"):
            try:
                auth = auth_from_secret(ctx.kube, namespace, repo_spec["secretRef"]["name"])
            except SecretError as err:
                raise Failed(SOURCE_MANAGER_FAILED, f"{prefix}failed to get auth secret "
                             f"'{namespace}/{repo_spec['secretRef']['name']}': {err}") from err
        timeout = parse_duration(repo_spec.get("timeout") or "60s", field="GitRepository spec.timeout")
        push = git_spec.get("push") or {}
        settings = GitSettings(str(repo_spec.get("url", "")), auth, timeout, checkout_ref, branch, switch,
                               str(push.get("refspec") or ""), dict(push.get("options") or {}))
        signer: Signer | None = None
        key_ref = ((git_spec.get("commit") or {}).get("signingKey") or {}).get("secretRef") or {}
        if key_ref.get("name"):
            secret = ctx.kube.get_or_none("v1", "Secret", key_ref["name"], meta["namespace"])
            try:
                key = signing.signing_key_from_secret(key_ref["name"], (secret or {}).get("data") if secret
                                                      else None)
            except signing.SigningError as err:
                raise Failed(SOURCE_MANAGER_FAILED, f"{prefix}{err}") from err

            def sign(payload: str) -> str:
                return signing.sign(key, payload)

            signer = sign
        return settings, signer


class LatestRefChanges:
    """Which ImagePolicies chose a new image since last seen (upstream's latestImageChangePredicate)."""

    def __init__(self) -> None:
        self._seen: dict[str, Any] = {}
        self._lock = threading.Lock()

    def changed(self, policy: Obj) -> bool:
        latest = (policy.get("status") or {}).get("latestRef")
        key = object_key(policy)
        with self._lock:
            before = self._seen.get(key, None)
            self._seen[key] = latest
        return latest is not None and latest != before


def automations_for_policy(policy: Obj, automations: list[Obj]) -> list[str]:
    """Every automation of the policy's namespace: markers, not the spec, tie them to policies."""
    namespace = (policy.get("metadata") or {}).get("namespace")
    return [object_key(a) for a in automations if (a.get("metadata") or {}).get("namespace") == namespace]


def register(manager: Manager, ctx: Context, *, workers: int = 2) -> Controller:
    """Add the controller, and an ImagePolicy informer so that a newly chosen image runs the automations of its
    namespace at once."""
    controller = manager.add(Controller(ImageUpdateAutomationReconciler(), ctx, workers=workers))
    changes = LatestRefChanges()
    policies = Informer(ctx.kube, kinds.IMAGEPOLICY.api_version, kinds.IMAGEPOLICY.kind, lambda kind, obj: None,
                        stop=ctx.stop)

    def mapper(policy: Obj) -> list[str]:
        if not changes.changed(policy):
            return []
        return automations_for_policy(policy, controller.informer.items())

    controller.watch(policies, mapper)
    return controller

