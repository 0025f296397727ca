"""The source-artifact interface: a sourceRef of any registered kind resolves to the source and its artifact;
anything else is said plainly."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.kube.informer import Informer
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.source import artifact as artifacts

SOURCE = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
          "metadata": {"name": "fleet", "namespace": "flux-system", "resourceVersion": "7"},
          "status": {"artifact": {"path": "gitrepository/flux-system/fleet/abc.tar.gz", "url": "http://x/abc.tar.gz",
                                  "revision": "main@sha1:abc", "digest": "sha256:def",
                                  "metadata": {"org.opencontainers.image.revision": "main@sha1:origin"}}}}


class Kube:
    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}

    def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
        try:
            return self.objects[(kind, namespace, name)]
        except KeyError:
            raise NotFound(f"{kind} {name} not found") from None


def sources() -> artifacts.Sources:
    registry = artifacts.Sources()
    informer = Informer(None, "source.toolkit.fluxcd.io/v1", "GitRepository", lambda _e, _o: None,  # type: ignore[arg-type]
                        stop=threading.Event())
    informer.cache["flux-system/fleet"] = SOURCE
    registry.register(kinds.GITREPOSITORY, informer)
    return registry


def test_a_source_ref_resolves_to_the_source_and_its_artifact() -> None:
    source, artifact = artifacts.resolve(Kube(SOURCE), sources(), {"kind": "GitRepository", "name": "fleet"},  # type: ignore[arg-type]
                                         "flux-system")
    assert source is SOURCE
    assert artifact == artifacts.Artifact(path="gitrepository/flux-system/fleet/abc.tar.gz", url="http://x/abc.tar.gz",
                                          revision="main@sha1:abc", digest="sha256:def",
                                          metadata={"org.opencontainers.image.revision": "main@sha1:origin"})
    assert artifact.origin_revision == "main@sha1:origin"


@pytest.mark.parametrize(("ref", "objects", "error", "message"), [
    ({"kind": "OCIRepository", "name": "x"}, [], artifacts.UnsupportedSourceKind,
     "source kind 'OCIRepository' is not supported by the sandbox reconciler (supported: GitRepository)"),
    ({"kind": "GitRepository", "name": "gone", "namespace": "other"}, [], artifacts.SourceNotFound,
     "unable to get source 'other/gone': gitrepositories.source.toolkit.fluxcd.io \"gone\" not found"),
    ({"kind": "GitRepository", "name": "fleet"}, [{**SOURCE, "status": {}}], artifacts.NoArtifact,
     "GitRepository/flux-system/fleet has no artifact yet"),
], ids=["kind-without-controller", "missing", "no-artifact"])
def test_what_cannot_be_resolved_is_said(ref: dict[str, str], objects: list[dict[str, Any]], error: type[Exception],
                                         message: str) -> None:
    with pytest.raises(error) as caught:
        artifacts.resolve(Kube(*objects), sources(), ref, "flux-system")  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_consumers_watch_every_registered_source_kind_and_read_its_cache() -> None:
    registry = sources()
    subscribed: list[str] = []
    registry.watch(lambda informer, _mapper: subscribed.append(informer.kind), lambda _obj: [])
    assert subscribed == ["GitRepository"]
    assert registry.cached("GitRepository", "flux-system", "fleet") is SOURCE
    assert registry.cached("OCIRepository", "flux-system", "fleet") is None
    assert artifacts.revision_of(SOURCE) == "main@sha1:abc" and artifacts.revision_of({}) == ""
    assert artifacts.key_of(SOURCE) == "GitRepository/flux-system/fleet"
    with pytest.raises(ValueError):
        registry.register(kinds.KUSTOMIZATION, Informer(None, "x", "y", lambda _e, _o: None))  # type: ignore[arg-type]


def test_only_a_new_artifact_revision_wakes_the_consumers() -> None:
    """SourceRevisionChangePredicate: a status update of a source that keeps its revision (a handled reconcile
    request, a condition) does not wake its Kustomizations — a failing one was retried at each such update."""
    changes = artifacts.RevisionChanges()
    assert changes.new_revision(SOURCE), "first sight of an artifact"
    same = {**SOURCE, "status": {**SOURCE["status"], "lastHandledReconcileAt": "now"}}
    assert not changes.new_revision(same)
    newer = {**SOURCE, "status": {"artifact": {**SOURCE["status"]["artifact"], "revision": "main@sha1:fed"}}}
    assert changes.new_revision(newer)
    assert not changes.new_revision({**SOURCE, "status": {}}), "no artifact: nothing to apply"
