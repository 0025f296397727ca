"""Run a scenario against a sandbox, isolated: its own namespaces, repository, GitRepository, Receiver and
Kustomizations, all removed afterwards, so that scenarios and tests can share one session sandbox."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field

from sandbox.errors import SandboxError
from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.scenario import features, runmonitoring, runsink
from sandbox.scenario.context import LABEL_RUN, LABEL_SCENARIO, RunContext
from sandbox.scenario.failures import CheckFailed, ScenarioFailed, ScenarioSkipped, evidence
from sandbox.scenario.model import Scenario, Step
from sandbox.scenario.observer import Observer
from sandbox.scenario.steps import EXECUTORS, repo_files
from sandbox.waiting import wait_until

CLEANUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class StepResult:
    step: Step
    seconds: float
    detail: str
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    scenario: str
    run_id: str
    passed: bool
    seconds: float
    setup_seconds: float
    steps: tuple[StepResult, ...] = ()
    error: str | None = None
    cleanup_seconds: float = 0.0
    kept: dict[str, str] = field(default_factory=dict)  # what was left in place (--keep): namespaces, repo


def check_needs(scenario: Scenario, handle: SandboxHandle) -> None:
    """ScenarioSkipped when the running sandbox lacks a needed feature (say which, and how to get it)."""
    reasons = features.missing(list(scenario.needs), handle.status)
    if reasons:
        raise ScenarioSkipped(f"scenario {scenario.name!r} cannot run on sandbox {handle.name!r}: "
                              + "; ".join(reasons))


def _static_values(ctx: RunContext) -> dict[str, str]:
    services = ctx.handle.status.get("services") or {}
    values = {"scenario": ctx.scenario.name, "run": ctx.run_id, "sandbox": ctx.handle.name,
              "namespace": ctx.namespace, "flux_namespace": ctx.flux_namespace, "repo": ctx.base_name,
              "branch": ctx.scenario.repo.branch, "git_url": ctx.handle.git.clone_url(ctx.base_name, in_cluster=True)}
    registry = services.get("registry") or {}
    if registry.get("cluster_host"):
        values["registry"] = str(registry["cluster_host"])
        values["oci_charts"] = f"oci://{registry['cluster_host']}/charts"
    # As the controllers quote it in "retrying in …" messages (`sandbox up --requeue-dependency`).
    values["requeue_dependency"] = str((services.get("reconciler") or {}).get("requeue_dependency") or "30s")
    charts = services.get("charts") or {}
    if charts.get("cluster_url"):
        values["chart_repo"] = str(charts["cluster_url"])
    return values


def _namespace(ctx: RunContext, name: str) -> None:
    ctx.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": name, "labels": {LABEL_SCENARIO: ctx.scenario.name, LABEL_RUN: ctx.run_id}}},
        field_manager="sandbox-scenario")


def _cluster_secrets(ctx: RunContext) -> None:
    """The kubeConfig Secret of each workload cluster the scenario needs, in its Flux namespace (where its
    Kustomizations' spec.kubeConfig.secretRef finds it), copied from flux-system."""
    for cluster in features.clusters_needed(ctx.scenario.needs):
        name = f"{cluster}-kubeconfig"
        secret = ctx.kube.get("v1", "Secret", name, "flux-system")
        ctx.kube.apply({"apiVersion": "v1", "kind": "Secret", "type": secret.get("type", "Opaque"),
                        "metadata": {"name": name, "namespace": ctx.flux_namespace,
                                     "labels": {LABEL_SCENARIO: ctx.scenario.name, LABEL_RUN: ctx.run_id}},
                        "data": secret.get("data") or {}}, field_manager="sandbox-scenario")


def setup(ctx: RunContext) -> None:
    """Namespaces, the repository seeded from the scenario's repo folder, its GitRepository and Receiver (the
    first revision fetched), and the Kustomizations the scenario lists."""
    scenario = ctx.scenario
    ctx.static = _static_values(ctx)
    ctx.secrets.append(ctx.handle.git.token())
    _namespace(ctx, ctx.flux_namespace)
    _namespace(ctx, ctx.namespace)
    _cluster_secrets(ctx)
    if runsink.wanted(ctx):
        runsink.start(ctx)
    if runmonitoring.wanted(ctx):
        runmonitoring.start(ctx)
    ctx.observer.scenario_started(ctx)
    files = repo_files(ctx, scenario.repo.folder) if scenario.repo.folder else None
    ctx.repo = ctx.handle.new_repo(name=ctx.base_name, files=files, namespace=ctx.flux_namespace,
                                   branch=scenario.repo.branch, interval=scenario.repo.interval)
    ctx.commits["initial"] = ctx.repo.head
    token = ctx.kube.get_or_none("v1", "Secret", f"{ctx.base_name}-webhook-token", ctx.flux_namespace)
    if token and (token.get("data") or {}).get("token"):
        ctx.secrets.append(base64.b64decode(token["data"]["token"]).decode())
    for kustomization in scenario.repo.kustomizations:
        ctx.repo.kustomization(kustomization.name, path=ctx.render(kustomization.path),
                               **ctx.render(dict(kustomization.spec)))
    ctx.observer.repository_ready(ctx)


def cleanup(ctx: RunContext) -> None:
    """Delete the Kustomizations first (their finalizer prunes what they applied), then the repository and its
    Flux objects, objects steps applied elsewhere, and the namespaces (not awaited)."""
    kube = ctx.kube
    kustomizations = kube.list(ops.KUSTOMIZATION.api_version, "Kustomization", ctx.flux_namespace).items
    for ks in kustomizations:
        kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", ks["metadata"]["name"], ctx.flux_namespace)
    if kustomizations:
        wait_until(lambda: not kube.list(ops.KUSTOMIZATION.api_version, "Kustomization", ctx.flux_namespace).items,
                   timeout=CLEANUP_TIMEOUT, what=f"the Kustomizations of namespace {ctx.flux_namespace} to be "
                   "deleted (and what they applied pruned)", hint="is the reconciler running? (`sandbox status`)")
    if ctx.repo is not None:
        ctx.repo.delete()
    for ref in reversed(ctx.applied):
        kube.delete(ref.api_version, ref.kind, ref.name, ref.namespace)
    for namespace in (ctx.namespace, ctx.flux_namespace):
        kube.delete("v1", "Namespace", namespace)


def _setup_step(scenario: Scenario) -> Step:
    return Step(0, "setup", "create the repository and its Flux objects", 1, {})


def run(scenario: Scenario, handle: SandboxHandle, *, observer: Observer | None = None, keep: bool = False,
        run_id: str | None = None) -> RunResult:
    """Run every step in order; raise ScenarioFailed naming the failed step with the evidence, or
    ScenarioSkipped when the sandbox lacks a needed feature. ``keep`` leaves the run's objects in place."""
    check_needs(scenario, handle)
    ctx = RunContext(scenario, handle, run_id or secrets.token_hex(3), observer or Observer())
    started = time.monotonic()
    results: list[StepResult] = []
    failure: ScenarioFailed | None = None
    setup_seconds = 0.0
    total = len(scenario.steps)
    try:
        try:
            setup(ctx)
        except SandboxError as err:
            failure = ScenarioFailed(scenario.name, scenario.file, _setup_step(scenario), total, ctx.redact(str(err)),
                                     evidence(ctx))
            raise failure from err
        setup_seconds = time.monotonic() - started
        for step in scenario.steps:
            ctx.observer.step_started(ctx, step)
            step_started = time.monotonic()
            try:
                detail = EXECUTORS[step.type](ctx, step)
            except SandboxError as err:
                took = time.monotonic() - step_started
                subjects = err.subjects if isinstance(err, CheckFailed) else ()
                failure = ScenarioFailed(scenario.name, scenario.file, step, total, ctx.redact(str(err)),
                                         evidence(ctx, subjects))
                results.append(StepResult(step, took, "", failure.reason))
                ctx.observer.step_finished(ctx, step, took, "", failure)
                raise failure from err
            took = time.monotonic() - step_started
            results.append(StepResult(step, took, ctx.redact(detail)))
            ctx.observer.step_finished(ctx, step, took, ctx.redact(detail), None)
    finally:
        elapsed = time.monotonic() - started
        cleanup_started = time.monotonic()
        kept: dict[str, str] = {}
        cleanup_error: SandboxError | None = None
        try:  # the run's alert rules and route go, --keep or not: its sink stops with the run
            runmonitoring.stop(ctx)
        except SandboxError as err:
            cleanup_error = err
            ctx.observer.note(ctx, f"cleanup failed: {ctx.redact(str(err))}")
        if keep:
            runsink.stop(ctx)
            kept = {"namespace": ctx.namespace, "flux_namespace": ctx.flux_namespace, "repo": ctx.base_name}
        else:
            try:
                cleanup(ctx)
            except SandboxError as err:
                cleanup_error = err
                ctx.observer.note(ctx, f"cleanup failed: {ctx.redact(str(err))}")
            finally:
                # After the cleanup: the events it causes (pruning) find the sink there, not a closed port to retry.
                runsink.stop(ctx)
        result = RunResult(scenario.name, ctx.run_id, failure is None and cleanup_error is None, elapsed,
                           setup_seconds, tuple(results), failure.reason if failure else None,
                           time.monotonic() - cleanup_started, kept)
        ctx.observer.scenario_finished(ctx, result)
    if cleanup_error is not None:
        raise SandboxError(f"scenario {scenario.name!r} passed, but cleaning up after it failed: "
                           f"{ctx.redact(str(cleanup_error))}") from cleanup_error
    return result
