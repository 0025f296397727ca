"""The ArtifactGenerator controller against a fake of the client seam: revisions and digests, the artifact file's
name, validation, drift detection, source failures and copy failures (the last artifact keeps serving)."""

from __future__ import annotations

import copy
import hashlib
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.kube.client import ObjectList
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Result
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.source.artifact import Artifact, Sources
from sandbox.reconciler.source.artifactgenerator import (
    GENERATOR_LABEL,
    ArtifactGeneratorReconciler,
    ObservedSource,
    artifact_revisions,
    contents_hash,
    observed_sources_digest,
    validation_error,
)
from sandbox.reconciler.source.storage import Storage

Obj = dict[str, Any]


class FakeKube:
    """Objects by (kind, namespace, name): get, list by one label, apply (status kept), patch_status, delete."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.status_patches = 0

    def put(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("generation", 1)
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj
        return obj

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        try:
            return copy.deepcopy(self.objects[(kind, str(namespace), name)])
        except KeyError as err:
            raise NotFound(f"{kind} {name} not found") from err

    def list(self, api_version: str, kind: str, namespace: str | None = None, *, label_selector: str = "",
             **_: Any) -> ObjectList:
        key, _, value = label_selector.partition("=")
        return ObjectList([copy.deepcopy(o) for (k, ns, _n), o in self.objects.items()
                           if k == kind and ns == namespace and o["metadata"].get("labels", {}).get(key) == value], "")

    def apply(self, obj: Obj, *, field_manager: str, **_: Any) -> Obj:
        key = (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        existing = self.objects.get(key)
        merged = copy.deepcopy(obj)
        if existing is not None:
            merged["metadata"] = {**existing["metadata"], **merged["metadata"]}
            if "status" in existing:
                merged["status"] = existing["status"]
        return copy.deepcopy(self.put(merged))

    def patch_status(self, obj: Obj, status: Obj, *, field_manager: str | None = None) -> Obj:
        self.status_patches += 1
        stored = self.objects[(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])]
        stored["status"] = {**stored.get("status", {}), **copy.deepcopy(status)}
        return copy.deepcopy(stored)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None, **_: Any) -> bool:
        return self.objects.pop((kind, str(namespace), name), None) is not None


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: Obj, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((event_type, reason, message))


class Cache:
    """The informer seam Sources reads (only registered, never asked here: resolve reads fresh)."""

    def get(self, key: str) -> Obj | None:
        return None


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "storage" / "artifacts", "http://127.0.0.1:9")


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def reconciler(storage: Storage, tmp_path: Path) -> ArtifactGeneratorReconciler:
    sources = Sources()
    sources.register(kinds.GITREPOSITORY, Cache())  # type: ignore[arg-type]
    sources.register(kinds.EXTERNALARTIFACT, Cache())  # type: ignore[arg-type]
    return ArtifactGeneratorReconciler(storage, sources, tmp_path / "work")


def publish_repo(kube: FakeKube, storage: Storage, tmp_path: Path, files: dict[str, str], sha: str) -> None:
    tree = tmp_path / f"tree-{sha}"
    for name, content in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(content)
    stored = storage.store_directory(tree, f"gitrepository/flux-system/mono/{sha}.tar.gz", None)
    kube.put({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
              "metadata": {"name": "mono", "namespace": "flux-system"},
              "status": {"artifact": {"path": stored.path, "url": storage.url_for(stored.path),
                                      "revision": f"main@sha1:{sha}", "digest": stored.digest}}})


def generator(kube: FakeKube, artifacts: list[Obj], sources: list[Obj] | None = None) -> Obj:
    return kube.put({"apiVersion": kinds.ARTIFACTGENERATOR.api_version, "kind": "ArtifactGenerator",
                     "metadata": {"name": "split", "namespace": "flux-system"},
                     "spec": {"sources": sources or [{"alias": "repo", "kind": "GitRepository", "name": "mono"}],
                              "artifacts": artifacts}})


SPLIT = [{"name": "infra", "originRevision": "@repo", "copy": [{"from": "@repo/infra/**", "to": "@artifact/"}]},
         {"name": "apps", "copy": [{"from": "@repo/apps/**", "to": "@artifact/"}]}]
FILES = {"infra/ns.yaml": "kind: Namespace\n", "apps/app.yaml": "kind: ConfigMap\n"}


def reconcile(reconciler: ArtifactGeneratorReconciler, kube: FakeKube, events: Events) -> Result:
    """One reconcile, its status written back as the Controller would."""
    ctx = Context(kube=kube, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    obj = kube.get(kinds.ARTIFACTGENERATOR.api_version, "ArtifactGenerator", "split", "flux-system")
    result = reconciler.reconcile(obj, ctx)
    ctx.written.clear()
    if result.status is not None:
        kube.objects[("ArtifactGenerator", "flux-system", "split")]["status"] = result.status
    return result


def ready(kube: FakeKube, kind: str = "ArtifactGenerator", name: str = "split") -> Obj:
    return cond.find(kube.get("", kind, name, "flux-system").get("status", {}).get("conditions"), cond.READY) or {}


def artifact_of(kube: FakeKube, name: str) -> Obj:
    return dict(kube.get("", "ExternalArtifact", name, "flux-system")["status"]["artifact"])


def test_builds_one_external_artifact_per_output(reconciler: ArtifactGeneratorReconciler, kube: FakeKube,
                                                 storage: Storage, events: Events, tmp_path: Path) -> None:
    publish_repo(kube, storage, tmp_path, FILES, "a" * 40)
    generator(kube, SPLIT)
    result = reconcile(reconciler, kube, events)
    assert result.requeue_after == 3600
    assert ready(kube) == {**ready(kube), "status": "True", "reason": "Succeeded",
                           "message": "reconciliation succeeded, generated 2 artifact(s)"}
    status = kube.get("", "ArtifactGenerator", "split", "flux-system")["status"]
    assert [e["name"] for e in status["inventory"]] == ["infra", "apps"]
    assert cond.find(status["conditions"], cond.RECONCILING) is None
    infra = kube.get("", "ExternalArtifact", "infra", "flux-system")
    assert infra["metadata"]["labels"][GENERATOR_LABEL] == "uid-split"
    assert infra["metadata"]["ownerReferences"][0]["kind"] == "ArtifactGenerator"
    assert infra["spec"]["sourceRef"]["name"] == "split"
    artifact = infra["status"]["artifact"]
    assert artifact["revision"] == f"latest@{artifact['digest']}"
    assert artifact["path"].startswith("externalartifact/flux-system/infra/")
    assert artifact["metadata"] == {"org.opencontainers.image.revision": f"main@sha1:{'a' * 40}"}
    assert "metadata" not in artifact_of(kube, "apps")
    assert ready(kube, "ExternalArtifact", "infra")["message"] == "Artifact is ready"
    assert storage.unpacked(artifact["path"], artifact["digest"]).joinpath("ns.yaml").read_text() == \
        "kind: Namespace\n"
    assert ("Normal", "Ready", f"ExternalArtifact/flux-system/apps reconciled with revision "
            f"{artifact_of(kube, 'apps')['revision']}") in events.recorded


def test_no_drift_builds_nothing(reconciler: ArtifactGeneratorReconciler, kube: FakeKube, storage: Storage,
                                 events: Events, tmp_path: Path) -> None:
    publish_repo(kube, storage, tmp_path, FILES, "a" * 40)
    generator(kube, SPLIT)
    reconcile(reconciler, kube, events)
    patches = kube.status_patches
    reconcile(reconciler, kube, events)
    assert kube.status_patches == patches
    assert events.recorded[-1] == ("Normal", "Ready", "No drift detected, 2 artifact(s) up to date")


def test_a_change_elsewhere_keeps_the_revision(reconciler: ArtifactGeneratorReconciler, kube: FakeKube,
                                               storage: Storage, events: Events, tmp_path: Path) -> None:
    publish_repo(kube, storage, tmp_path, FILES, "a" * 40)
    generator(kube, SPLIT)
    reconcile(reconciler, kube, events)
    infra, apps = artifact_of(kube, "infra"), artifact_of(kube, "apps")
    publish_repo(kube, storage, tmp_path, {**FILES, "apps/app.yaml": "kind: Secret\n"}, "b" * 40)
    reconcile(reconciler, kube, events)
    assert artifact_of(kube, "apps")["revision"] != apps["revision"]
    assert artifact_of(kube, "infra")["revision"] == infra["revision"]
    assert artifact_of(kube, "infra")["metadata"] == {"org.opencontainers.image.revision": f"main@sha1:{'b' * 40}"}


def test_revision_of_a_source_alias(reconciler: ArtifactGeneratorReconciler, kube: FakeKube, storage: Storage,
                                    events: Events, tmp_path: Path) -> None:
    publish_repo(kube, storage, tmp_path, FILES, "a" * 40)
    generator(kube, [{**SPLIT[1], "revision": "@repo"}])
    reconcile(reconciler, kube, events)
    assert artifact_of(kube, "apps")["revision"] == f"main@sha1:{'a' * 40}"


def test_a_copy_matching_nothing_fails_and_the_last_artifact_serves(
        reconciler: ArtifactGeneratorReconciler, kube: FakeKube, storage: Storage, events: Events,
        tmp_path: Path) -> None:
    publish_repo(kube, storage, tmp_path, FILES, "a" * 40)
    generator(kube, SPLIT)
    reconcile(reconciler, kube, events)
    before = artifact_of(kube, "apps")
    broken = [SPLIT[0], {**SPLIT[1], "copy": [{"from": "@repo/missing/**", "to": "@artifact/"}]}]
    kube.objects[("ArtifactGenerator", "flux-system", "split")]["spec"]["artifacts"] = broken
    kube.objects[("ArtifactGenerator", "flux-system", "split")]["metadata"]["generation"] = 2
    result = reconcile(reconciler, kube, events)
    assert result.requeue_after == 30
    condition = ready(kube)
    assert (condition["status"], condition["reason"]) == ("False", "BuildFailed")
    assert condition["message"] == ("apps build failed: failed to apply copy operations: failed to apply copy "
                                    "operation from '@repo/missing/**' to '@artifact/': no files match pattern "
                                    "'missing/**' in source 'repo'")
    assert events.recorded[-1] == ("Warning", "BuildFailed", condition["message"])
    assert artifact_of(kube, "apps") == before
    assert storage.verify(before["path"], before["digest"])


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "get sources failed: unable to get source 'flux-system/mono': "
                "gitrepositories.source.toolkit.fluxcd.io \"mono\" not found"),
    ("no-artifact", "get sources failed: GitRepository/flux-system/mono has no artifact yet"),
    ("bad-kind", "get sources failed: source kind 'Bucket' is not supported by the sandbox reconciler "
                 "(supported: ExternalArtifact, GitRepository)"),
])
def test_source_failures(reconciler: ArtifactGeneratorReconciler, kube: FakeKube, events: Events, setup: str,
                         message: str) -> None:
    if setup == "no-artifact":
        kube.put({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                  "metadata": {"name": "mono", "namespace": "flux-system"}})
    kind = "Bucket" if setup == "bad-kind" else "GitRepository"
    generator(kube, SPLIT, [{"alias": "repo", "kind": kind, "name": "mono"}])
    result = reconcile(reconciler, kube, events)
    assert result.requeue_after == 30
    assert (ready(kube)["status"], ready(kube)["reason"], ready(kube)["message"]) == \
        ("False", "SourceFetchFailed", message)
    assert events.recorded[-1] == ("Warning", "SourceFetchFailed", message)


def test_an_external_artifact_made_by_hand_is_a_source(reconciler: ArtifactGeneratorReconciler, kube: FakeKube,
                                                       storage: Storage, events: Events, tmp_path: Path) -> None:
    publish_repo(kube, storage, tmp_path, FILES, "a" * 40)
    repo = kube.objects.pop(("GitRepository", "flux-system", "mono"))
    kube.put({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifact",
              "metadata": {"name": "handmade", "namespace": "flux-system"},
              "status": {"artifact": {**repo["status"]["artifact"], "revision": "v1"}}})
    generator(kube, [{"name": "apps", "revision": "@ea", "copy": [{"from": "@ea/apps/app.yaml", "to": "@artifact/"}]}],
              [{"alias": "ea", "kind": "ExternalArtifact", "name": "handmade"}])
    reconcile(reconciler, kube, events)
    assert ready(kube)["status"] == "True"
    assert artifact_of(kube, "apps")["revision"] == "v1"


def test_an_artifact_left_out_is_deleted(reconciler: ArtifactGeneratorReconciler, kube: FakeKube,
                                         storage: Storage, events: Events, tmp_path: Path) -> None:
    publish_repo(kube, storage, tmp_path, FILES, "a" * 40)
    generator(kube, SPLIT)
    reconcile(reconciler, kube, events)
    path = artifact_of(kube, "infra")["path"]
    kube.objects[("ArtifactGenerator", "flux-system", "split")]["spec"]["artifacts"] = [SPLIT[1]]
    kube.objects[("ArtifactGenerator", "flux-system", "split")]["metadata"]["generation"] = 2
    reconcile(reconciler, kube, events)
    assert ("ExternalArtifact", "flux-system", "infra") not in kube.objects
    assert not storage.local_path(path).exists()


def test_invalid_spec_stalls(reconciler: ArtifactGeneratorReconciler, kube: FakeKube, events: Events) -> None:
    generator(kube, SPLIT, [{"alias": "repo", "kind": "GitRepository", "name": "a"},
                            {"alias": "repo", "kind": "GitRepository", "name": "b"}])
    result = reconcile(reconciler, kube, events)
    assert result.requeue_after is None
    status = kube.get("", "ArtifactGenerator", "split", "flux-system")["status"]
    assert cond.find(status["conditions"], cond.STALLED)["reason"] == "ValidationFailed"  # type: ignore[index]
    assert ready(kube)["message"] == "duplicate source alias 'repo' found"


@pytest.mark.parametrize(("spec", "expected"), [
    ({"sources": [{"alias": "a"}, {"alias": "b"}], "artifacts": [{"name": "x", "revision": "@b"}, {"name": "y"}]},
     None),
    ({"sources": [{"alias": "a"}, {"alias": "a"}], "artifacts": []}, "duplicate source alias 'a' found"),
    ({"sources": [{"alias": "a"}], "artifacts": [{"name": "x"}, {"name": "x"}]}, "duplicate artifact name 'x' found"),
    ({"sources": [{"alias": "a"}], "artifacts": [{"name": "x", "revision": "@b"}]},
     "artifact x revision source alias 'b' not found"),
], ids=["valid", "duplicate-alias", "duplicate-name", "unknown-revision-alias"])
def test_validation_error(spec: Obj, expected: str | None) -> None:
    assert validation_error(spec) == expected


def observed(revision: str, origin: str = "") -> ObservedSource:
    metadata = {"org.opencontainers.image.revision": origin} if origin else {}
    return ObservedSource(Artifact(path="p", url="http://x/p", revision=revision, digest="sha256:d",
                                   metadata=metadata))


@pytest.mark.parametrize(("output", "expected"), [
    ({}, ("latest@sha256:abc", None)),
    ({"revision": "@git"}, ("main@sha1:1111", None)),
    ({"revision": "@oci", "originRevision": "@oci"}, ("v1.0.0@sha256:2222", "main@sha1:3333")),
    ({"originRevision": "@git"}, ("latest@sha256:abc", "main@sha1:1111")),
    ({"originRevision": "@absent"}, ("latest@sha256:abc", None)),
], ids=["content-digest", "source-revision", "origin-of-oci", "origin-is-revision-without-one", "unknown-alias"])
def test_artifact_revisions(output: Obj, expected: tuple[str, str | None]) -> None:
    sources = {"git": observed("main@sha1:1111"), "oci": observed("v1.0.0@sha256:2222", "main@sha1:3333")}
    assert artifact_revisions(output, sources, "sha256:abc") == expected


def test_observed_sources_digest_is_sha256_of_the_sorted_sources() -> None:
    sources = {"b": observed("r2"), "a": observed("r1")}
    text = "a=[digest=sha256:d,revision=r1,url=http://x/p]|b=[digest=sha256:d,revision=r2,url=http://x/p]"
    assert observed_sources_digest(sources) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert observed_sources_digest(dict(reversed(list(sources.items())))) == observed_sources_digest(sources)


def test_contents_hash_is_go_dirhash_with_adler32(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.yaml").write_text("b")
    (tmp_path / "sub" / "a.yaml").write_text("a")
    lines = "".join(f"{zlib.adler32(content):x}  {name}\n" for name, content in
                    (("apps/b.yaml", b"b"), ("apps/sub/a.yaml", b"a")))
    assert contents_hash(tmp_path, "apps") == str(zlib.adler32(lines.encode()))
    assert contents_hash(tmp_path, "other") != contents_hash(tmp_path, "apps")
    (tmp_path / "b.yaml").write_text("c")
    assert contents_hash(tmp_path, "apps") != str(zlib.adler32(lines.encode()))
