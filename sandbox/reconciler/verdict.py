"""Is a repository green? Every Kustomization following it applied the head revision and is Ready, and every Flux
object those Kustomizations applied (HelmReleases, sources, nested Kustomizations…) is Ready too.

Some answers are final — no point waiting for them: a Stalled object (NotSupported, an invalid spec), and a
Kustomization whose head revision failed to build or failed its health checks once nothing else of the repository
is still in progress (a retry of the same revision fails the same way; while others progress, one of them may
still create what it lacks)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from sandbox.errors import SandboxError
from sandbox.kube.client import KubeClient, Obj
from sandbox.reconciler import ops
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.kustomize import inventory
from sandbox.reconciler.runtime import conditions as cond


@dataclass(frozen=True)
class Verdict:
    ready: dict[str, str] = field(default_factory=dict)  # Kind/ns/name -> revision (or "" for kinds without one)
    pending: tuple[str, ...] = ()  # one line per object not Ready: reason, message
    final: tuple[str, ...] = ()  # those for which waiting cannot help
    pending_objects: tuple[tuple[str, str], ...] = ()  # (Kind/ns/name, apiVersion) of each pending line
    why_final: str = ""  # why waiting cannot help

    @property
    def green(self) -> bool:
        return bool(self.ready) and not self.pending


def _line(label: str, obj: Obj, extra: str = "") -> str:
    ready = ops.ready_condition(obj)
    return f"{label}: Ready={ready.get('status')} {ready.get('reason', '')}: {ready.get('message', '')}{extra}"


def applied_flux_objects(kube: KubeClient, kustomization: Obj) -> list[tuple[str, Obj | None]]:
    """The Flux objects in a Kustomization's inventory, as (Kind/ns/name, the live object or None)."""
    found: list[tuple[str, Obj | None]] = []
    for entry in ((kustomization.get("status") or {}).get("inventory") or {}).get("entries") or []:
        meta = inventory.parse_id(str(entry.get("id", "")))
        if meta.group not in kinds.GROUPS or meta.kind == "Kustomization":
            continue  # nested Kustomizations are judged with the rest when they follow the repository
        api_version = f"{meta.group}/{entry.get('v', 'v1')}"
        try:
            live = kube.get_or_none(api_version, meta.kind, meta.name, meta.namespace or None)
        except SandboxError:
            live = None
        found.append((f"{meta.kind}/{meta.namespace}/{meta.name}", live))
    return found


# Failures of a revision that a retry of the same revision repeats (once nothing else is in progress). A build
# that failed on a missing substituteFrom object is not among them: another Kustomization may create it.
REPEATING_REASONS = (cond.BUILD_FAILED, cond.HEALTH_CHECK_FAILED)
PATH_NOT_FOUND = "kustomization path not found"


def _in_progress(obj: Obj) -> bool:
    conditions = (obj.get("status") or {}).get("conditions")
    return ops.ready_condition(obj).get("status", "Unknown") == "Unknown" or cond.is_true(conditions,
                                                                                          cond.RECONCILING)


def _repeats(ks: Obj, head: str) -> bool:
    """Whether the Kustomization failed ``head`` in a way a retry of the same revision repeats."""
    ready = ops.ready_condition(ks)
    attempted = str((ks.get("status") or {}).get("lastAttemptedRevision", ""))
    if ready.get("status") != "False" or not attempted.endswith(head):
        return False
    message = str(ready.get("message", ""))
    if ready.get("reason") == cond.ARTIFACT_FAILED:  # only a path the revision lacks: fetching may be retried
        return message.startswith(PATH_NOT_FOUND)
    return ready.get("reason") in REPEATING_REASONS and "not found" not in message


def judge(kube: KubeClient, kustomizations: list[Obj], head: str) -> Verdict:
    """The verdict on a repository whose Kustomizations are ``kustomizations`` and whose last commit is ``head``."""
    ready: dict[str, str] = {}
    pending: list[str] = []
    pending_objects: list[tuple[str, str]] = []
    final: list[str] = []
    repeating: list[str] = []
    progressing = False
    for ks in kustomizations:
        label = f"Kustomization/{ks['metadata']['namespace']}/{ks['metadata']['name']}"
        applied = str((ks.get("status") or {}).get("lastAppliedRevision", ""))
        conditions = (ks.get("status") or {}).get("conditions")
        if ops.ready_condition(ks).get("status") != "True" or not applied.endswith(head):
            line = _line(label, ks, f" (applied: {applied or '-'})")
            pending.append(line)
            pending_objects.append((label, str(ks.get("apiVersion", ops.KUSTOMIZATION.api_version))))
            if cond.is_true(conditions, cond.STALLED):
                final.append(line)
            elif _repeats(ks, head):
                repeating.append(line)
            elif ops.ready_condition(ks).get("reason") != cond.DEPENDENCY_NOT_READY:
                progressing = True  # (one waiting for a dependency moves only when that one does)
            continue
        ready[label] = applied
        for object_label, live in applied_flux_objects(kube, ks):
            if live is None:
                pending.append(f"{object_label}: not found (applied by {label})")
                progressing = True
                continue
            live_conditions = (live.get("status") or {}).get("conditions")
            if ops.ready_condition(live).get("status") == "True":
                ready[object_label] = ops.revision_of(live)
                continue
            line = _line(object_label, live, f" (applied by {label})")
            pending.append(line)
            pending_objects.append((object_label, str(live.get("apiVersion", ""))))
            if cond.is_true(live_conditions, cond.STALLED):
                final.append(line)
            elif _in_progress(live):
                progressing = True
    why = "Stalled" if final else ""
    if repeating and not progressing:
        why = why or "a retry of this revision fails the same way, and nothing else is in progress"
        final += repeating
    return Verdict(ready, tuple(pending), tuple(final), tuple(pending_objects), why)


def last_events(kube: KubeClient, label: str, limit: int = 3) -> list[str]:
    """The last ``limit`` events of the object ``Kind/ns/name``, oldest first, one line each (type, reason,
    message: already free of secret values, as every event the reconciler records)."""
    kind, namespace, name = label.split("/", 2)
    try:
        events = kube.list("v1", "Event", namespace or None,
                           field_selector=f"involvedObject.kind={kind},involvedObject.name={name}").items
    except SandboxError:
        return []

    def when(event: Obj) -> str:
        return str(event.get("lastTimestamp") or event.get("eventTime") or
                   event.get("metadata", {}).get("creationTimestamp") or "")

    return [f"{e.get('type', '')} {e.get('reason', '')}: {' '.join(str(e.get('message', '')).split())}"
            for e in sorted(events, key=when)[-limit:]]


def unreported(kube: KubeClient, *, older_than: float, now: datetime.datetime | None = None) -> list[str]:
    """Flux objects (every kind, every namespace) created more than ``older_than`` seconds ago that still have no
    Ready condition — what "never stored and ignored" forbids. Suspended objects and objects being deleted are
    left out: Flux does not reconcile those either."""
    moment = now or datetime.datetime.now(datetime.UTC)
    found: list[str] = []
    for kind in ops.EVERY_KIND:
        try:
            items = kube.list(kind.api_version, kind.kind).items
        except SandboxError:
            continue  # not served (no CRD installed)
        for obj in items:
            meta = obj.get("metadata", {})
            if meta.get("deletionTimestamp") or (obj.get("spec") or {}).get("suspend"):
                continue
            created = datetime.datetime.fromisoformat(str(meta.get("creationTimestamp")).replace("Z", "+00:00"))
            if (moment - created).total_seconds() < older_than:
                continue
            if cond.find((obj.get("status") or {}).get("conditions"), cond.READY) is None:
                found.append(f"{kind.kind}/{meta.get('namespace', '')}/{meta.get('name')}")
    return found
