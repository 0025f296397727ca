"""How a run fails: the errors, and the evidence gathered for a failed step — the status of the run's Flux objects
and of the objects the step looked at, recent events, what the run's webhook sink received, and the reconciler's
log lines about them. Never a secret value: Secrets show their keys only, and known credentials are masked in
every line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError
from sandbox.reconciler import ops, stuckpods
from sandbox.scenario import alertchecks
from sandbox.scenario.context import RunContext
from sandbox.scenario.model import ObjectRef, Step

EVENT_LINES = 10
LOG_LINES = 8
FLUX_KINDS = (ops.KUSTOMIZATION, ops.GIT_REPOSITORY, ops.RECEIVER)


class CheckFailed(SandboxError):
    """A step found the cluster or the repository other than expected; ``subjects`` are the objects involved."""

    def __init__(self, message: str, subjects: tuple[ObjectRef, ...] = ()) -> None:
        super().__init__(message)
        self.subjects = subjects


class ScenarioSkipped(SandboxError):
    """The sandbox lacks something the scenario needs (a feature, a backend); nothing was run."""


class ScenarioFailed(SandboxError):
    """A step failed. The message names the scenario, the step (index, type, line, title), what went wrong, and
    the evidence."""

    def __init__(self, scenario: str, file: Path, step: Step, total: int, reason: str, evidence: str) -> None:
        header = (f"scenario {scenario!r} failed at step {step.index}/{total} ({step.type}, {file}:{step.line})"
                  + (f" \"{step.title}\"" if step.title else "") + ":")
        body = "\n".join(f"  {line}" for line in reason.splitlines())
        super().__init__(f"{header}\n{body}" + (f"\n{evidence}" if evidence else ""))
        self.scenario = scenario
        self.step = step
        self.reason = reason
        self.evidence = evidence


def describe_flux(obj: dict[str, Any]) -> str:
    """One line: Ready, reason, message, revisions, suspension."""
    ready = ops.ready_condition(obj)
    status = obj.get("status") or {}
    parts = [f"Ready={ready.get('status')}"]
    if ready.get("reason"):
        parts.append(str(ready["reason"]))
    line = f"{ops_ref(obj)}: {' '.join(parts)}"
    if ready.get("message"):
        line += f" \"{ready['message']}\""
    if obj.get("kind") == "Kustomization":
        line += (f"; lastAppliedRevision={status.get('lastAppliedRevision') or '-'}, "
                 f"lastAttemptedRevision={status.get('lastAttemptedRevision') or '-'}")
    elif (status.get("artifact") or {}).get("revision"):
        line += f"; artifact {status['artifact']['revision']}"
    if (obj.get("spec") or {}).get("suspend"):
        line += "; SUSPENDED"
    return line


def ops_ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind')}/{namespace}/{meta.get('name')}" if namespace else f"{obj.get('kind')}/{meta.get('name')}"


def describe_object(ctx: RunContext, ref: ObjectRef) -> str:
    """A few lines on any object: absent, or its conditions/replicas; a Secret shows its keys only."""
    try:
        obj = ctx.kube.get_or_none(ref.api_version, ref.kind, ref.name, ref.namespace)
    except SandboxError as err:
        return f"{ref}: could not be read ({err})"
    if obj is None:
        return f"{ref}: does not exist"
    if ref.kind in {k.kind for k in FLUX_KINDS}:
        return describe_flux(obj)
    if ref.kind == "Secret":
        return f"{ref}: exists, keys {sorted((obj.get('data') or {}).keys())}"
    status = obj.get("status") or {}
    summary = {k: status[k] for k in ("replicas", "readyReplicas", "updatedReplicas", "availableReplicas", "phase")
               if k in status}
    conditions = [f"{c.get('type')}={c.get('status')}" for c in status.get("conditions") or []]
    spec = obj.get("spec") or {}
    if "replicas" in spec:
        summary = {"spec.replicas": spec["replicas"], **summary}
    text = f"{ref}: exists"
    if summary:
        text += " " + json.dumps(summary)
    if conditions:
        text += " " + ", ".join(conditions)
    if ref.kind == "ConfigMap":
        text += f" data={json.dumps(obj.get('data') or {}, sort_keys=True)}"
    return text


def _event_line(event: dict[str, Any]) -> str:
    involved = event.get("involvedObject") or {}
    stamp = str(event.get("lastTimestamp") or event.get("eventTime") or "")[11:19]
    count = int(event.get("count") or 1)
    message = str(event.get("message") or "").replace("\n", "; ")
    return (f"{stamp} {event.get('type')} {event.get('reason')} {involved.get('kind')}/{involved.get('name')}: "
            f"{message}" + (f" (x{count})" if count > 1 else ""))


def recent_events(ctx: RunContext, limit: int = EVENT_LINES) -> list[str]:
    events: list[dict[str, Any]] = []
    for namespace in (ctx.flux_namespace, ctx.namespace):
        try:
            events.extend(ops.events(ctx.kube, namespace))
        except SandboxError:
            continue
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return [_event_line(e) for e in events[-limit:]]


def reconciler_log(ctx: RunContext, limit: int = LOG_LINES) -> list[str]:
    """The reconciler's log lines about this run's objects (warnings and errors first, then the latest)."""
    reconciler = (ctx.handle.status.get("services") or {}).get("reconciler") or {}
    log_file = reconciler.get("log")
    if not log_file or not Path(log_file).exists():
        return []
    wanted = (ctx.flux_namespace, ctx.base_name)
    lines = []
    for raw in Path(log_file).read_text(errors="replace").splitlines()[-5000:]:
        if not any(word in raw for word in wanted):
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            lines.append(raw)
            continue
        extra = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("ts", "level", "msg", "logger", "error"))
        message = str(entry.get("msg", "")).replace("\n", "; ")
        lines.append(f"{entry.get('ts', '')} {str(entry.get('level', '')).upper()} {message}"
                     + (f" {extra}" if extra else ""))
    return lines[-limit:]


def stuck_pods(ctx: RunContext) -> list[str]:
    """The pods of what the run's Kustomizations applied waiting in ErrImagePull, ImagePullBackOff or
    CrashLoopBackOff, with the kubelet's message (Flux only says a Deployment is InProgress)."""
    try:
        kustomizations = ctx.kube.list(ops.KUSTOMIZATION.api_version, "Kustomization", ctx.flux_namespace).items
    except SandboxError:
        return []
    return [f"{waiting.line()} (applied by Kustomization/{ks['metadata']['namespace']}/{ks['metadata']['name']})"
            for ks in kustomizations for waiting in stuckpods.of_kustomization(ctx.kube, ks)]


def evidence(ctx: RunContext, subjects: tuple[ObjectRef, ...] = ()) -> str:
    """Status, events and log lines for a failed step, as indented text, secrets masked."""
    sections: list[str] = []
    described: list[str] = []
    flux_seen: set[str] = set()
    for kind in FLUX_KINDS:
        try:
            objects = ctx.kube.list(kind.api_version, kind.kind, ctx.flux_namespace).items
        except SandboxError:
            continue
        for obj in objects:
            obj.setdefault("kind", kind.kind)
            flux_seen.add(ops_ref(obj))
            described.append(describe_flux(obj))
    for subject in subjects:
        if str(subject) not in flux_seen:
            described.append(describe_object(ctx, subject))
    if described:
        sections.append("objects:\n" + "\n".join(f"    {line}" for line in described))
    stuck = stuck_pods(ctx)
    if stuck:
        sections.append("pods that cannot start:\n" + "\n".join(f"    {line}" for line in stuck))
    events = recent_events(ctx)
    if events:
        sections.append("recent events:\n" + "\n".join(f"    {line}" for line in events))
    received = alertchecks.recent_requests(ctx)
    if received:
        sections.append("webhook sink (latest requests):\n" + "\n".join(f"    {line}" for line in received))
    logs = reconciler_log(ctx)
    if logs:
        sections.append("reconciler log:\n" + "\n".join(f"    {line}" for line in logs))
    return ctx.redact("\n".join(f"  {section}" for section in sections))
