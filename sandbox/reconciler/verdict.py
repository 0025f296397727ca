"""Is a repository green? Every Kustomization following it applied the head revision and is Ready, and every Flux
object those Kustomizations applied (HelmReleases, sources, nested Kustomizations…) is Ready too. A Kustomization
following an ExternalArtifact generated from the repository (an ArtifactGenerator's output) must have applied the
artifact its generator built from the head revision.

Some answers are final — no point waiting for them: a Stalled object (NotSupported, an invalid spec), and a
Kustomization whose head revision failed to build or failed its health checks once nothing else of the repository
is still in progress (a retry of the same revision fails the same way; while others progress, one of them may
still create what it lacks).

Pods of the workloads a Kustomization applied that wait in ErrImagePull, ImagePullBackOff or CrashLoopBackOff are
named, with the kubelet's message, under it — and keep a repository from being green even when its Kustomization
does not wait for health (Flux calls that Kustomization Ready; the sandbox never calls the repository green)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from sandbox.errors import SandboxError
from sandbox.kube.client import KubeClient, Obj
from sandbox.reconciler import ops, stuckpods, support
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.kustomize import inventory
from sandbox.reconciler.notification import githubapp
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.source import artifact as artifacts
from sandbox.reconciler.source.artifactgenerator import ObservedSource, observed_sources_digest

# A generator fed by another generator's artifact is followed this many levels deep.
_GENERATOR_DEPTH = 4


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
        if meta.group not in kinds.GROUPS:
            continue
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


def static_source(obj: Obj) -> bool:
    """An OCI HelmRepository: static in Flux (never reconciled, no status); it is ready as soon as it exists."""
    return obj.get("kind") == kinds.HELMREPOSITORY.kind and (obj.get("spec") or {}).get("type") == "oci"


def artifacts_generated_from(kube: KubeClient, kind: str, namespace: str, name: str) -> set[tuple[str, str]]:
    """(namespace, name) of the ExternalArtifacts that ArtifactGenerators build from the source ``kind``
    ``namespace``/``name``, directly or through other generated artifacts."""
    generators = kube.list(kinds.ARTIFACTGENERATOR.api_version, kinds.ARTIFACTGENERATOR.kind).items
    inputs = {(kind, namespace, name)}
    found: set[tuple[str, str]] = set()
    for _ in range(_GENERATOR_DEPTH):
        before = len(found)
        for generator in generators:
            own = generator["metadata"]["namespace"]
            reads = {(str(s.get("kind")), str(s.get("namespace") or own), str(s.get("name")))
                     for s in (generator.get("spec") or {}).get("sources") or []}
            if reads & inputs:
                found |= {(own, str(a.get("name"))) for a in (generator.get("spec") or {}).get("artifacts") or []}
        inputs |= {(kinds.EXTERNALARTIFACT.kind, ns, n) for ns, n in found}
        if len(found) == before:
            break
    return found


def _generated_at(kube: KubeClient, external: Obj, head: str, depth: int = 0) -> bool:
    """Whether ``external``'s generator is Ready with what its sources hold now, one of them at ``head``."""
    ref = (external.get("spec") or {}).get("sourceRef") or {}
    if ref.get("kind") != kinds.ARTIFACTGENERATOR.kind or depth > _GENERATOR_DEPTH:
        return False
    generator = kube.get_or_none(kinds.ARTIFACTGENERATOR.api_version, kinds.ARTIFACTGENERATOR.kind,
                                 str(ref.get("name")), str(ref.get("namespace") or external["metadata"]["namespace"]))
    if generator is None:
        return False
    ready = ops.ready_condition(generator)
    if ready.get("status") != "True" or ready.get("observedGeneration") != generator["metadata"].get("generation"):
        return False
    observed: dict[str, ObservedSource] = {}
    at_head = False
    for source in (generator.get("spec") or {}).get("sources") or []:
        try:
            kind = kinds.by_kind(str(source.get("kind")))
        except SandboxError:
            return False
        live = kube.get_or_none(kind.api_version, kind.kind, str(source.get("name")),
                                str(source.get("namespace") or generator["metadata"]["namespace"]))
        artifact = artifacts.Artifact.of(live)
        if live is None or artifact is None:
            return False
        observed[str(source.get("alias"))] = ObservedSource(artifact)
        at_head = at_head or artifact.revision.endswith(head) or (
            kind == kinds.EXTERNALARTIFACT and _generated_at(kube, live, head, depth + 1))
    return at_head and (generator.get("status") or {}).get("observedSourcesDigest") == \
        observed_sources_digest(observed)


def target_revision(kube: KubeClient, ks: Obj, head: str) -> str | None:
    """The revision ``ks`` must apply for the repository to be at ``head``: ``head`` itself (matched as a suffix:
    ``main@sha1:<head>``); for an ExternalArtifact source, the artifact's revision once its generator built it from
    ``head`` (None until then)."""
    ref = (ks.get("spec") or {}).get("sourceRef") or {}
    if ref.get("kind") != kinds.EXTERNALARTIFACT.kind:
        return head
    external = kube.get_or_none(kinds.EXTERNALARTIFACT.api_version, kinds.EXTERNALARTIFACT.kind,
                                str(ref.get("name")), str(ref.get("namespace") or ks["metadata"]["namespace"]))
    if external is None or not _generated_at(kube, external, head):
        return None
    return artifacts.revision_of(external) or None


def _released_its_chart(kube: KubeClient, hr: Obj) -> bool:
    """For a HelmRelease Ready at its generation: whether its latest release is of the chart its source holds now
    (the OCI digest for an OCIRepository, the chart version for a HelmChart)."""
    ready = ops.ready_condition(hr)
    if ready.get("observedGeneration") != hr["metadata"].get("generation"):
        return False
    spec, status = hr.get("spec") or {}, hr.get("status") or {}
    latest = ((status.get("history") or [{}])[0]) or {}
    ref = spec.get("chartRef") or {}
    if ref:
        kind, namespace, name = str(ref.get("kind", "")), str(ref.get("namespace") or hr["metadata"]["namespace"]), \
            str(ref.get("name", ""))
    else:
        kind, (namespace, _, name) = kinds.HELMCHART.kind, str(status.get("helmChart", "")).partition("/")
    if kind not in (kinds.OCIREPOSITORY.kind, kinds.HELMCHART.kind) or not name:
        return True
    try:
        source = kube.get_or_none(kinds.by_kind(kind).api_version, kind, name, namespace)
    except (SandboxError, KeyError, ValueError):
        return False
    revision = artifacts.revision_of(source)
    if not revision:
        return False
    if kind == kinds.OCIREPOSITORY.kind:
        return latest.get("ociDigest") == revision.rsplit("@", 1)[-1]
    return str(latest.get("chartVersion", "")) == revision


HELM_ACTION_FAILURES = ("InstallFailed", "UpgradeFailed")


def _helm_action_repeats(obj: Obj) -> bool:
    """For a HelmRelease: whether its install or upgrade of this generation failed before Helm stored a release
    (values against the chart's schema, a template error) and is retried with back-off only — the retry fails the
    same way. A failure being remediated or retried by its strategy says ProgressingWithRetry instead."""
    if obj.get("kind") != kinds.HELMRELEASE.kind:
        return False
    status = obj.get("status") or {}
    ready = ops.ready_condition(obj)
    reconciling = cond.find(status.get("conditions"), cond.RECONCILING) or {}
    return (ready.get("status") == "False" and ready.get("reason") in HELM_ACTION_FAILURES
            and ready.get("observedGeneration") == obj["metadata"].get("generation")
            and status.get("lastAttemptedGeneration") == obj["metadata"].get("generation")
            and reconciling.get("reason") != cond.PROGRESSING_WITH_RETRY and int(status.get("failures") or 0) >= 2)


def _applied_its_source(kube: KubeClient, obj: Obj) -> bool:
    """For a Kustomization: whether it applied the revision its source holds now (a Ready one may still be on the
    previous artifact); for a HelmRelease, whether it released the chart its source holds now. Other kinds:
    True."""
    if obj.get("kind") == kinds.HELMRELEASE.kind:
        return _released_its_chart(kube, obj)
    if obj.get("kind") != kinds.KUSTOMIZATION.kind:
        return True
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    try:
        kind = kinds.by_kind(str(ref.get("kind", "")))
        source = kube.get_or_none(kind.api_version, kind.kind, str(ref.get("name")),
                                  str(ref.get("namespace") or obj["metadata"]["namespace"]))
    except (SandboxError, KeyError, ValueError):
        return False
    revision = artifacts.revision_of(source)
    return bool(revision) and (obj.get("status") or {}).get("lastAppliedRevision") == revision


def _repeats(ks: Obj, head: str | None) -> bool:
    """Whether the Kustomization failed ``head`` in a way a retry of the same revision repeats."""
    ready = ops.ready_condition(ks)
    attempted = str((ks.get("status") or {}).get("lastAttemptedRevision", ""))
    if ready.get("status") != "False" or head is None or not attempted.endswith(head):
        return False
    message = str(ready.get("message", ""))
    if ready.get("reason") == cond.ARTIFACT_FAILED:  # only a path the revision lacks: fetching may be retried
        return message.startswith(PATH_NOT_FOUND)
    return ready.get("reason") in REPEATING_REASONS and "not found" not in message


# Flux's kinds without a status (v1beta3 Provider and Alert): in use as soon as they exist.
STATUSLESS = {kinds.PROVIDER.kind, kinds.ALERT.kind}


def refusal(live: Obj, kube: KubeClient | None = None) -> str:
    """Why an object of a kind without a status to say so (Provider, Alert) can never be green: its kind has no
    controller here, or it sets a field (a Provider type) not implemented, or (with ``kube``) its Secret holds
    GitHub App credentials only; "" for the others."""
    entry = support.BY_KIND.get(str(live.get("kind")))
    if entry is None or live.get("status") is not None:
        return ""
    if not entry.ours:
        return support.unsupported_kind_message(entry.kind)
    fields = support.unsupported_fields_set(live)
    if fields:
        return support.unsupported_fields_message(live, fields)
    if kube is not None and live.get("kind") == kinds.PROVIDER.kind:
        return githubapp.message(kube, live)
    return ""


def judge(kube: KubeClient, kustomizations: list[Obj], head: str) -> Verdict:
    """The verdict on a repository whose Kustomizations are ``kustomizations`` and whose last commit is ``head``."""
    ready: dict[str, str] = {}
    pending: list[str] = []
    pending_objects: list[tuple[str, str]] = []
    final: list[str] = []
    repeating: list[str] = []
    progressing = False
    # Nested Kustomizations that follow the repository are judged above with it; one applied by the repository but
    # following another source (an OCIRepository, a mirrored remote, …) is judged as the other applied Flux
    # objects are, and must also have applied what its own source holds now.
    judged = {f"Kustomization/{ks['metadata']['namespace']}/{ks['metadata']['name']}" for ks in kustomizations}
    for ks in kustomizations:
        label = f"Kustomization/{ks['metadata']['namespace']}/{ks['metadata']['name']}"
        applied = str((ks.get("status") or {}).get("lastAppliedRevision", ""))
        conditions = (ks.get("status") or {}).get("conditions")
        target = target_revision(kube, ks, head)
        stuck = [f"{waiting.line()} (applied by {label})" for waiting in stuckpods.of_kustomization(kube, ks)]
        if ops.ready_condition(ks).get("status") != "True" or target is None or not applied.endswith(target):
            line = _line(label, ks, f" (applied: {applied or '-'})")
            pending.append(line)
            pending_objects.append((label, str(ks.get("apiVersion", ops.KUSTOMIZATION.api_version))))
            if cond.is_true(conditions, cond.STALLED):
                final.append(line)
            elif _repeats(ks, target):
                repeating.append(line)
            elif ops.ready_condition(ks).get("reason") != cond.DEPENDENCY_NOT_READY:
                progressing = True  # (one waiting for a dependency moves only when that one does)
            pending += stuck
            continue
        if stuck:  # Ready in Flux's eyes (no health checks), but its pods cannot start
            pending += stuck
            progressing = True
            continue
        ready[label] = applied
        for object_label, live in applied_flux_objects(kube, ks):
            if object_label in judged:
                continue
            if live is None:
                pending.append(f"{object_label}: not found (applied by {label})")
                progressing = True
                continue
            if static_source(live):
                ready[object_label] = ""
                continue
            refused = refusal(live, kube)
            if refused:
                line = f"{object_label}: {support.NOT_SUPPORTED}: {refused} (applied by {label})"
                pending.append(line)
                pending_objects.append((object_label, str(live.get("apiVersion", ""))))
                final.append(line)
                continue
            if live.get("kind") in STATUSLESS:  # a supported Provider or Alert: nothing to wait for
                ready[object_label] = ""
                continue
            live_conditions = (live.get("status") or {}).get("conditions")
            is_ready = ops.ready_condition(live).get("status") == "True"
            if is_ready and _applied_its_source(kube, live):
                ready[object_label] = ops.revision_of(live)
                continue
            stale = (" — its chart source has a newer revision, or its spec changed"
                     if live.get("kind") == kinds.HELMRELEASE.kind else " — its source has a newer revision") \
                if is_ready else ""
            line = _line(object_label, live, f"{stale} (applied by {label})")
            if is_ready:
                progressing = True  # it will apply the newer revision
            pending.append(line)
            pending_objects.append((object_label, str(live.get("apiVersion", ""))))
            if cond.is_true(live_conditions, cond.STALLED):
                final.append(line)
            elif _helm_action_repeats(live):
                repeating.append(line)
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
        if kind.kind in STATUSLESS:  # no status upstream: nothing to report
            continue
        try:
            items = kube.list(kind.api_version, kind.kind).items
        except SandboxError:
            continue  # not served (no CRD installed)
        for obj in items:
            meta = obj.get("metadata", {})
            if meta.get("deletionTimestamp") or (obj.get("spec") or {}).get("suspend") or static_source(obj):
                continue
            created = datetime.datetime.fromisoformat(str(meta.get("creationTimestamp")).replace("Z", "+00:00"))
            if (moment - created).total_seconds() < older_than:
                continue
            if cond.find((obj.get("status") or {}).get("conditions"), cond.READY) is None:
                found.append(f"{kind.kind}/{meta.get('namespace', '')}/{meta.get('name')}")
    return found
