"""What a scenario run looks like to a Flux user after each settling step — the Flux objects' conditions, revisions
and inventories, the labels and field managers of what they applied, and their events — normalised so that two
runs of the same scenario (our reconciler's and upstream Flux's) can be compared: run-specific names, commit
SHAs, digests, durations and ports become placeholders; timestamps and generated names are left out."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from sandbox.errors import SandboxError, WaitTimeout
from sandbox.kube.client import Obj
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.kustomize import inventory
from sandbox.reconciler.runtime import conditions as cond
from sandbox.scenario.context import RunContext
from sandbox.scenario.model import Step
from sandbox.scenario.observer import Observer
from sandbox.scenario.runner import RunResult
from sandbox.waiting import wait_until

# Steps after which both reconcilers have settled on what the step awaited; a snapshot after a commit or an apply
# would only catch one of them half-way.
SETTLED = ("wait", "expect", "reconcile")
_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:ns|µs|us|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ms|s|m))*\b")
_SHA1 = re.compile(r"\b[0-9a-f]{40}\b")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")
_HOOK = re.compile(r"/hook/[0-9a-f]{64}")  # sha256 of a per-run token and names
_REVISION_FIELDS = ("lastAppliedRevision", "lastAttemptedRevision", "lastHandledReconcileAt")


class Normalizer:
    """Replaces what differs between two runs of one scenario by placeholders."""

    def __init__(self, names: dict[str, str], commits: dict[str, str]) -> None:
        # Longest first: the flux namespace contains the namespace, which contains the run id.
        self.names = sorted(names.items(), key=lambda item: -len(item[0]))
        self.commits = dict(commits)

    @classmethod
    def for_run(cls, ctx: RunContext) -> Normalizer:
        names = {ctx.flux_namespace: "${flux_namespace}", ctx.namespace: "${namespace}", ctx.run_id: "${run}"}
        return cls(names, {sha: label for label, sha in ctx.commits.items()})

    def text(self, value: str) -> str:
        for actual, placeholder in self.names:
            value = value.replace(actual, placeholder)
        value = _SHA1.sub(lambda m: f"<commit:{self.commits[m.group(0)]}>" if m.group(0) in self.commits
                          else "<sha1>", value)
        value = _DIGEST.sub("sha256:<digest>", value)
        value = _HOOK.sub("/hook/<digest>", value)
        value = _PORT.sub(r"\1:<port>", value)
        return _DURATION.sub("<duration>", value)


def _conditions(obj: Obj, norm: Normalizer) -> dict[str, dict[str, str]]:
    return {str(c.get("type")): {"status": str(c.get("status", "")), "reason": str(c.get("reason", "")),
                                 "message": norm.text(str(c.get("message", "")))}
            for c in (obj.get("status") or {}).get("conditions") or []}


def _revisions(obj: Obj, norm: Normalizer) -> dict[str, str]:
    status = obj.get("status") or {}
    found = {name: norm.text(str(status[name])) for name in _REVISION_FIELDS[:2] if status.get(name)}
    artifact = status.get("artifact") or {}
    if artifact.get("revision"):
        found["artifact"] = norm.text(str(artifact["revision"]))
    return found


def _inventory(obj: Obj, norm: Normalizer) -> list[str]:
    entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []
    return sorted(norm.text(f"{e.get('id')} {e.get('v', '')}".strip()) for e in entries)


class SnapshotObserver(Observer):
    """Collects a normalised snapshot after each settling step, and the outcome of the run."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.outcome: dict[str, Any] = {}

    def step_finished(self, ctx: RunContext, step: Step, seconds: float, detail: str,
                      error: BaseException | None) -> None:
        last = step.index == len(ctx.scenario.steps)
        if step.type in SETTLED or last or error is not None:
            quiet(ctx)
            self.steps.append({"step": step.index, "type": step.type, "title": step.title,
                               **snapshot(ctx, Normalizer.for_run(ctx))})

    def scenario_finished(self, ctx: RunContext, result: RunResult) -> None:
        failed = next((s.step.index for s in result.steps if s.error), None)
        self.outcome = {"passed": result.passed, "failed_step": failed,
                        "error": Normalizer.for_run(ctx).text(result.error or "")}


QUIET_TIMEOUT = 10.0


def quiet(ctx: RunContext) -> None:
    """Wait (up to QUIET_TIMEOUT) until no Flux object of the run is Reconciling: what a step awaited may already
    hold while a follow-up reconcile (a source's status update, a requeue) is half-way, in either reconciler; a
    snapshot then would compare two arbitrary moments of it. Still reconciling after the timeout: snapshot as is."""

    def reconciling() -> list[str]:
        busy = []
        for kind in kinds.ALL:
            try:
                items = ctx.kube.list(kind.api_version, kind.kind, ctx.flux_namespace).items
            except SandboxError:
                continue
            busy += [f"{kind.kind}/{o['metadata']['name']}" for o in items
                     if cond.is_true((o.get("status") or {}).get("conditions"), cond.RECONCILING)]
        return busy

    # Still reconciling at the timeout (a Kustomization waiting out a health check): its state is what to compare.
    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: not reconciling(), timeout=QUIET_TIMEOUT, what="the Flux objects to stop reconciling",
                   interval=0.1, max_interval=0.5)


def snapshot(ctx: RunContext, norm: Normalizer) -> dict[str, Any]:
    """The Flux objects of the run's flux namespace, what they applied, and the events about them."""
    kube = ctx.kube
    objects: dict[str, Any] = {}
    applied: dict[str, Any] = {}
    for kind in kinds.ALL:
        try:
            items = kube.list(kind.api_version, kind.kind, ctx.flux_namespace).items
        except SandboxError:
            continue  # a kind this reconciler's CRDs do not serve
        for obj in items:
            key = norm.text(f"{kind.kind}/{obj['metadata']['name']}")
            objects[key] = {"conditions": _conditions(obj, norm), "revisions": _revisions(obj, norm)}
            inventory = _inventory(obj, norm)
            if inventory or "inventory" in (obj.get("status") or {}):
                objects[key]["inventory"] = inventory
            for entry in ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []:
                applied.update(_applied(ctx, entry, norm))
    return {"objects": objects, "applied": applied, "events": _events(ctx, norm)}


def _applied(ctx: RunContext, entry: dict[str, Any], norm: Normalizer) -> dict[str, Any]:
    meta_id = inventory.parse_id(str(entry.get("id", "")))
    namespace, name, group, kind = meta_id.namespace, meta_id.name, meta_id.group, meta_id.kind
    version = str(entry.get("v", "v1"))
    api_version = f"{group}/{version}" if group else version
    try:
        obj = ctx.kube.get_or_none(api_version, kind, name, namespace or None)
    except SandboxError:
        return {}
    if obj is None:
        return {}
    meta = obj["metadata"]
    labels = {k: norm.text(v) for k, v in (meta.get("labels") or {}).items() if "fluxcd.io" in k}
    managers = sorted({f"{m.get('manager')} ({m.get('operation')})" for m in meta.get("managedFields") or []
                       if m.get("operation") == "Apply"})
    return {norm.text(f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"):
            {"labels": labels, "field_managers": managers}}


def _events(ctx: RunContext, norm: Normalizer) -> list[str]:
    found = set()
    for namespace in (ctx.flux_namespace, ctx.namespace):
        for event in ctx.kube.list("v1", "Event", namespace).items:
            involved = event.get("involvedObject") or {}
            if str(involved.get("apiVersion", "")).split("/")[0] not in kinds.GROUPS:
                continue
            annotations = {k: norm.text(v) for k, v in (event.get("metadata", {}).get("annotations") or {}).items()
                           if "fluxcd.io" in k}
            found.add(" | ".join([norm.text(f"{involved.get('kind')}/{involved.get('name')}"), str(event.get("type")),
                                  str(event.get("reason")), norm.text(str(event.get("message", ""))),
                                  ",".join(f"{k}={v}" for k, v in sorted(annotations.items()))]))
    return sorted(found)
