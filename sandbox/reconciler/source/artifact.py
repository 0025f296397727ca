"""The source-artifact interface: what every source kind offers its consumers, whatever the kind.

A source (GitRepository, OCIRepository, HelmRepository, HelmChart and ExternalArtifact here; Bucket when its
controller arrives) publishes ``status.artifact`` — ``path`` in the sandbox's artifact storage, ``url``,
``revision``, ``digest`` and ``metadata`` — exactly as Flux's source kinds do. Consumers (Kustomizations;
GitRepository includes; HelmReleases later) resolve a ``sourceRef`` through ``resolve`` and watch the sources
through ``Sources``, and never name a kind: adding a source kind means registering its informer, nothing in the
consumers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import NotFound, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.kube.informer import Informer, object_key
from sandbox.reconciler.apis import kinds

Obj = dict[str, Any]
# The artifact metadata key that carries the revision the content came from (an OCI artifact's
# ``org.opencontainers.image.revision``), which consumers report as ``lastAppliedOriginRevision``.
ORIGIN_REVISION_KEY = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class Artifact:
    """A source's ``status.artifact``."""

    path: str
    url: str
    revision: str
    digest: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, source: Obj | None) -> Artifact | None:
        """The artifact ``source`` publishes, or None when it has none (yet)."""
        raw = ((source or {}).get("status") or {}).get("artifact")
        if not raw:
            return None
        return cls(path=str(raw.get("path", "")), url=str(raw.get("url", "")), revision=str(raw.get("revision", "")),
                   digest=str(raw.get("digest", "")),
                   metadata={str(k): str(v) for k, v in (raw.get("metadata") or {}).items()})

    @property
    def origin_revision(self) -> str:
        return self.metadata.get(ORIGIN_REVISION_KEY, "")


def revision_of(source: Obj | None) -> str:
    """The revision of the artifact ``source`` publishes ("" when none)."""
    artifact = Artifact.of(source)
    return artifact.revision if artifact else ""


class SourceError(SandboxError):
    """A sourceRef that cannot give an artifact (yet)."""


class UnsupportedSourceKind(SourceError):
    """The sourceRef names a kind that is not a source, or a source kind without a controller here: final."""


class SourceNotFound(SourceError):
    """The source object does not exist (yet)."""


class NoArtifact(SourceError):
    """The source exists but has published no artifact (yet)."""


class Sources:
    """The source kinds that have a controller in this process, each with its informer (the controller's cache):
    what consumers resolve and watch."""

    def __init__(self) -> None:
        self._informers: dict[str, Informer] = {}

    def register(self, kind: kinds.Kind, informer: Informer) -> None:
        if kind.group != kinds.SOURCE_GROUP:
            raise ValueError(f"{kind.kind} is not a source kind")
        self._informers[kind.kind] = informer

    @property
    def kind_names(self) -> list[str]:
        return sorted(self._informers)

    def kind(self, name: str) -> kinds.Kind:
        if name not in self._informers:
            served = ", ".join(self.kind_names) or "none"
            raise UnsupportedSourceKind(f"source kind '{name}' is not supported by the sandbox reconciler "
                                        f"(supported: {served})")
        return kinds.by_kind(name)

    def cached(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The source as its controller's cache holds it (None when unknown or not cached)."""
        informer = self._informers.get(kind)
        return informer.get(f"{namespace}/{name}") if informer is not None else None

    def watch(self, subscribe: Callable[[Informer, Callable[[Obj], list[str]]], None],
              mapper: Callable[[Obj], list[str]]) -> None:
        """Call ``subscribe(informer, mapper)`` for every source kind (``Controller.watch`` of a consumer)."""
        for name in self.kind_names:
            subscribe(self._informers[name], mapper)


def reference(source_ref: Mapping[str, Any], namespace: str) -> tuple[str, str, str]:
    """(kind, namespace, name) of a ``sourceRef``; the namespace defaults to the consumer's."""
    return (str(source_ref.get("kind", "")), str(source_ref.get("namespace") or namespace),
            str(source_ref.get("name", "")))


def resolve(kube: KubeClient, sources: Sources, source_ref: Mapping[str, Any], namespace: str) -> tuple[Obj, Artifact]:
    """The source a ``sourceRef`` names, read fresh, and its artifact.

    Raises UnsupportedSourceKind, SourceNotFound (worded as the API server's NotFound, which Flux quotes) or
    NoArtifact.
    """
    kind_name, source_namespace, name = reference(source_ref, namespace)
    kind = sources.kind(kind_name)
    try:
        source = kube.get(kind.api_version, kind.kind, name, source_namespace)
    except NotFound as err:
        raise SourceNotFound(f"unable to get source '{source_namespace}/{name}': {kind.crd_name} \"{name}\" "
                             "not found") from err
    artifact = Artifact.of(source)
    if artifact is None:
        raise NoArtifact(f"{kind.kind}/{source_namespace}/{name} has no artifact yet")
    return source, artifact


def key_of(source: Obj) -> str:
    """``Kind/namespace/name`` of a source object, as Flux names the trigger of a reconcile."""
    return f"{source.get('kind')}/{object_key(source)}"


class RevisionChanges:
    """Which source updates carry a new artifact revision (source-controller's SourceRevisionChangePredicate): a
    consumer is woken by those only, not by every status update of its source — a failing Kustomization would
    otherwise be retried at each one instead of at its retryInterval."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()

    def new_revision(self, source: Obj) -> bool:
        """True when ``source`` publishes a revision other than the last one seen for it (the first sight of a
        source with an artifact counts as new)."""
        revision = revision_of(source)
        key = key_of(source)
        with self._lock:
            previous = self._seen.get(key)
            self._seen[key] = revision
        return bool(revision) and revision != previous
