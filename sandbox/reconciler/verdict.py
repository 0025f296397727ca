"""Is a repository green? Every Kustomization following it applied the head revision and is Ready, and every Flux
object those Kustomizations applied (HelmReleases, sources, nested Kustomizations…) is Ready too. A Stalled object
(NotSupported, an invalid spec) is a final answer: no point waiting for it."""

from __future__ import annotations

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
    final: tuple[str, ...] = ()  # those that are Stalled: waiting cannot help

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


def judge(kube: KubeClient, kustomizations: list[Obj], head: str) -> Verdict:
    """The verdict on a repository whose Kustomizations are ``kustomizations`` and whose last commit is ``head``."""
    ready: dict[str, str] = {}
    pending: list[str] = []
    final: list[str] = []
    for ks in kustomizations:
        label = f"Kustomization/{ks['metadata']['namespace']}/{ks['metadata']['name']}"
        applied = str((ks.get("status") or {}).get("lastAppliedRevision", ""))
        conditions = (ks.get("status") or {}).get("conditions")
        if ops.ready_condition(ks).get("status") != "True" or not applied.endswith(head):
            line = _line(label, ks, f" (applied: {applied or '-'})")
            pending.append(line)
            if cond.is_true(conditions, cond.STALLED):
                final.append(line)
            continue
        ready[label] = applied
        for object_label, live in applied_flux_objects(kube, ks):
            if live is None:
                pending.append(f"{object_label}: not found (applied by {label})")
                continue
            live_conditions = (live.get("status") or {}).get("conditions")
            if ops.ready_condition(live).get("status") == "True":
                ready[object_label] = ops.revision_of(live)
                continue
            line = _line(object_label, live, f" (applied by {label})")
            pending.append(line)
            if cond.is_true(live_conditions, cond.STALLED):
                final.append(line)
    return Verdict(ready, tuple(pending), tuple(final))
