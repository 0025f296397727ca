"""Is a repository green, and when is waiting pointless: the verdict over a repository's Kustomizations."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.reconciler import verdict

HEAD = "0123456789abcdef"


def ks(name: str, ready: str, reason: str, message: str = "", *, applied: str = "", attempted: str = HEAD,
       stalled: bool = False, reconciling: bool = False) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": ready, "reason": reason, "message": message}]
    if stalled:
        conditions.append({"type": "Stalled", "status": "True", "reason": reason, "message": message})
    if reconciling:
        conditions.append({"type": "Reconciling", "status": "True", "reason": "Progressing", "message": ""})
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"},
            "status": {"conditions": conditions, "lastAppliedRevision": applied and f"main@sha1:{applied}",
                       "lastAttemptedRevision": f"main@sha1:{attempted}"}}


class EmptyKube:
    """A cluster with no objects (no Flux objects in inventories, no workloads)."""

    def list(self, api_version: str, kind: str, namespace: str | None = None, **_: Any) -> Any:
        return SimpleNamespace(items=[])

    def get_or_none(self, *_: Any) -> None:
        return None


NO_OBJECTS: Any = EmptyKube()
GREEN = ks("infra", "True", "ReconciliationSucceeded", applied=HEAD)
BUILD_FAILED = ks("apps", "False", "BuildFailed", "kustomize build failed: accumulating resources")
PROGRESSING = ks("infra", "Unknown", "Progressing", "Reconciliation in progress", reconciling=True)


@pytest.mark.parametrize(("kustomizations", "final"), [
    ([GREEN], False),
    ([ks("apps", "False", "NotSupported", "no", stalled=True)], True),
    ([GREEN, BUILD_FAILED], True),
    ([PROGRESSING, BUILD_FAILED], False),  # infra may still create what apps lacks
    ([GREEN, ks("apps", "False", "HealthCheckFailed", "health check failed after 30s")], True),
    ([GREEN, ks("apps", "False", "ReconciliationFailed", "no matches for kind")], False),  # a retry may help
    ([GREEN, ks("apps", "False", "BuildFailed", 'substitute from \'ConfigMap/vars\': "vars" not found')], False),
    ([GREEN, ks("apps", "False", "BuildFailed", "old", attempted="fedcba9876543210")], False),  # not head yet
    ([BUILD_FAILED, ks("later", "False", "DependencyNotReady", "dependency 'flux-system/apps' is not ready")], True),
    ([GREEN, ks("apps", "False", "ArtifactFailed", "kustomization path not found: './x' does not exist")], True),
    ([GREEN, ks("apps", "False", "ArtifactFailed", "failed to extract artifact: timeout")], False),
], ids=["green", "stalled", "build-failed-alone", "build-failed-while-others-progress", "health-check-failed",
        "apply-failed-may-be-retried", "missing-substitute-source", "older-revision", "dependent-is-blocked",
        "path-not-found", "artifact-fetch-failed"])
def test_when_waiting_cannot_help(kustomizations: list[dict[str, Any]], final: bool) -> None:
    result = verdict.judge(NO_OBJECTS, kustomizations, HEAD)  # type: ignore[arg-type]  # no Flux objects in inventories
    assert bool(result.final) is final
    assert bool(result.why_final) is final


def test_a_stalled_object_says_stalled_and_the_lines_name_each_object() -> None:
    result = verdict.judge(NO_OBJECTS, [GREEN, ks("apps", "False", "NotSupported", "nope", stalled=True)],  # type: ignore[arg-type]
                           HEAD)
    assert result.why_final == "Stalled"
    assert result.pending == ("Kustomization/flux-system/apps: Ready=False NotSupported: nope (applied: -)",)
    assert result.pending_objects == (("Kustomization/flux-system/apps", "kustomize.toolkit.fluxcd.io/v1"),)
    assert result.ready == {"Kustomization/flux-system/infra": f"main@sha1:{HEAD}"}


class ListingKube:
    """Lists one stored object per kind it is given; every other kind is empty."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects

    def list(self, api_version: str, kind: str) -> Any:
        class Listed:
            items = self.objects.get(kind, [])
        return Listed()


def test_objects_left_without_status_are_named() -> None:
    import datetime

    now = datetime.datetime(2026, 11, 29, 12, 0, 30, tzinfo=datetime.UTC)

    def obj(name: str, created: str, **extra: Any) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "apps", "creationTimestamp": created,
                             **extra.pop("metadata", {})}, **extra}

    kube = ListingKube({"HelmRelease": [
        obj("ignored", "2026-11-29T12:00:00Z"),
        obj("young", "2026-11-29T12:00:25Z"),
        obj("reported", "2026-11-29T12:00:00Z", status={"conditions": [{"type": "Ready", "status": "False"}]}),
        obj("suspended", "2026-11-29T12:00:00Z", spec={"suspend": True}),
        obj("deleted", "2026-11-29T12:00:00Z", metadata={"deletionTimestamp": "2026-11-29T12:00:10Z"}),
    ]})
    assert verdict.unreported(kube, older_than=10, now=now) == ["HelmRelease/apps/ignored"]  # type: ignore[arg-type]


class GeneratedKube:
    """A GitRepository at ``revision``, a generator of artifact ``apps`` built from it (``digest`` its sources
    digest), the ExternalArtifact; get_or_none and list only."""

    def __init__(self, revision: str, built_from: str) -> None:
        from sandbox.reconciler.source.artifact import Artifact
        from sandbox.reconciler.source.artifactgenerator import ObservedSource, observed_sources_digest

        artifact = {"path": "p", "url": "u", "revision": revision, "digest": "sha256:1"}
        built = observed_sources_digest({"repo": ObservedSource(Artifact("p", "u", built_from, "sha256:1"))})
        self.objects = {
            "GitRepository": {"metadata": {"name": "fleet", "namespace": "flux-system"},
                              "status": {"artifact": artifact}},
            "ArtifactGenerator": {"metadata": {"name": "split", "namespace": "flux-system", "generation": 1},
                                  "spec": {"sources": [{"alias": "repo", "kind": "GitRepository", "name": "fleet"}],
                                           "artifacts": [{"name": "apps"}]},
                                  "status": {"observedSourcesDigest": built, "conditions": [
                                      {"type": "Ready", "status": "True", "reason": "Succeeded",
                                       "observedGeneration": 1}]}},
            "ExternalArtifact": {"metadata": {"name": "apps", "namespace": "flux-system"},
                                 "spec": {"sourceRef": {"kind": "ArtifactGenerator", "name": "split"}},
                                 "status": {"artifact": {**artifact, "revision": "latest@sha256:aa"}}},
        }

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return self.objects.get(kind)

    def list(self, api_version: str, kind: str, namespace: str | None = None, **_: Any) -> Any:
        from sandbox.kube.client import ObjectList

        return ObjectList([self.objects[kind]] if kind in self.objects else [], "")


def follower(applied: str) -> dict[str, Any]:
    obj = ks("apps", "True", "ReconciliationSucceeded")
    obj["spec"] = {"sourceRef": {"kind": "ExternalArtifact", "name": "apps"}}
    obj["status"]["lastAppliedRevision"] = applied
    return obj


@pytest.mark.parametrize(("repository", "built_from", "applied", "green"), [
    (f"main@sha1:{HEAD}", f"main@sha1:{HEAD}", "latest@sha256:aa", True),
    (f"main@sha1:{HEAD}", "main@sha1:old", "latest@sha256:aa", False),  # not yet built from head
    ("main@sha1:old", "main@sha1:old", "latest@sha256:aa", False),  # the source not at head yet
    (f"main@sha1:{HEAD}", f"main@sha1:{HEAD}", "latest@sha256:00", False),  # the new artifact not applied yet
], ids=["applied", "generator-behind", "source-behind", "kustomization-behind"])
def test_a_kustomization_following_a_generated_artifact(repository: str, built_from: str, applied: str,
                                                        green: bool) -> None:
    kube = GeneratedKube(repository, built_from)
    result = verdict.judge(kube, [follower(applied)], HEAD)  # type: ignore[arg-type]
    assert result.green is green
    generated = verdict.artifacts_generated_from(kube, "GitRepository", "flux-system", "fleet")  # type: ignore[arg-type]
    assert generated == {("flux-system", "apps")}


class NestedKube:
    """A repository Kustomization whose inventory holds a Kustomization following an OCIRepository."""

    def __init__(self, nested: dict[str, Any], source_revision: str) -> None:
        self.nested = nested
        self.source = {"kind": "OCIRepository", "metadata": {"name": "app", "namespace": "flux-system"},
                       "status": {"artifact": {"revision": source_revision}}}

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return self.nested if kind == "Kustomization" else self.source


def nested_from_oci(ready: str, applied: str) -> dict[str, Any]:
    nested = ks("app", ready, "ReconciliationSucceeded" if ready == "True" else "HealthCheckFailed", "x")
    nested["spec"] = {"sourceRef": {"kind": "OCIRepository", "name": "app"}}
    nested["status"]["lastAppliedRevision"] = applied
    return nested


@pytest.mark.parametrize(("ready", "applied", "green"), [
    ("True", "1.1.0@sha256:b", True), ("True", "1.0.0@sha256:a", False), ("False", "1.1.0@sha256:b", False),
], ids=["ready-at-its-source", "ready-but-behind-its-source", "not-ready"])
def test_a_kustomization_the_repository_applies_that_follows_another_source_is_judged(
        ready: str, applied: str, green: bool) -> None:
    root = ks("root", "True", "ReconciliationSucceeded", applied=HEAD)
    root["status"]["inventory"] = {"entries": [{"id": "flux-system_app_kustomize.toolkit.fluxcd.io_Kustomization",
                                                "v": "v1"}]}
    result = verdict.judge(NestedKube(nested_from_oci(ready, applied), "1.1.0@sha256:b"), [root], HEAD)  # type: ignore[arg-type]
    assert result.green is green
    assert ("Kustomization/flux-system/app" in result.ready) is green


class HelmKube:
    """A repository Kustomization whose inventory holds a HelmRelease of an OCIRepository chart."""

    def __init__(self, hr: dict[str, Any], source_revision: str) -> None:
        self.hr = hr
        self.source = {"kind": "OCIRepository", "metadata": {"name": "web", "namespace": "flux-system"},
                       "status": {"artifact": {"revision": source_revision}}}

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return self.hr if kind == "HelmRelease" else self.source


def helm_release(ready: str, reason: str, *, observed: int = 2, digest: str = "sha256:b", stalled: bool = False,
                 reconciling: bool = False, failures: int = 0) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": ready, "reason": reason, "message": "m", "observedGeneration": observed}]
    if stalled:
        conditions.append({"type": "Stalled", "status": "True", "reason": reason, "message": "m"})
    if reconciling:
        conditions.append({"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry", "message": "m"})
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "flux-system", "generation": 2},
            "spec": {"chartRef": {"kind": "OCIRepository", "name": "web"}},
            "status": {"conditions": conditions, "history": [{"version": 1, "ociDigest": digest}],
                       "lastAttemptedGeneration": 2, **({"failures": failures} if failures else {})}}


@pytest.mark.parametrize(("hr", "green", "final"), [
    (helm_release("True", "InstallSucceeded"), True, False),
    (helm_release("True", "InstallSucceeded", observed=1), False, False),  # the new spec not reconciled yet
    (helm_release("True", "UpgradeSucceeded", digest="sha256:a"), False, False),  # the new chart not released yet
    (helm_release("False", "RollbackSucceeded", reconciling=True), False, False),  # remediating: retries left
    (helm_release("False", "RetriesExceeded", stalled=True), False, True),  # retries exhausted
    (helm_release("False", "UpgradeFailed", reconciling=True), False, False),  # remediation under way
    (helm_release("False", "UpgradeFailed", failures=2), False, True),  # failed before storing, retried: same
    (helm_release("False", "UpgradeFailed", failures=1), False, False),  # not retried yet
], ids=["released", "old-generation", "behind-its-chart", "remediating", "retries-exhausted", "being-remediated",
        "repeating-schema-error", "first-failure"])
def test_a_helm_release_the_repository_applies_is_judged(hr: dict[str, Any], green: bool, final: bool) -> None:
    root = ks("root", "True", "ReconciliationSucceeded", applied=HEAD)
    root["status"]["inventory"] = {"entries": [{"id": "flux-system_web_helm.toolkit.fluxcd.io_HelmRelease",
                                                "v": "v2"}]}
    result = verdict.judge(HelmKube(hr, "1.0.0@sha256:b"), [root], HEAD)  # type: ignore[arg-type]
    assert result.green is green
    assert ("HelmRelease/flux-system/web" in result.ready) is green
    assert bool(result.final) is final


def test_an_oci_helm_repository_is_static_and_never_unreported() -> None:
    import datetime

    now = datetime.datetime(2026, 11, 29, 12, 0, 30, tzinfo=datetime.UTC)
    listed = [{"kind": "HelmRepository", "metadata": {"name": name, "namespace": "apps",
                                                       "creationTimestamp": "2026-11-29T12:00:00Z"},
               "spec": spec} for name, spec in (("oci", {"type": "oci", "url": "oci://r/charts"}),
                                                 ("http", {"url": "http://charts"}))]
    kube = ListingKube({"HelmRepository": listed})
    assert verdict.unreported(kube, older_than=10, now=now) == ["HelmRepository/apps/http"]  # type: ignore[arg-type]
    assert verdict.static_source(listed[0]) and not verdict.static_source(listed[1])
