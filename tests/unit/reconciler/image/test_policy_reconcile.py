"""The ImagePolicy reconciler on fakes of the project's seams (kube client, tag store on disk, digest resolver):
image-reflector-controller's digest reflection table (TestImagePolicyReconciler_digestReflection: two passes, the
tag re-pushed in between), its applyPolicy cases, and the Ready/events it leaves."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.reconciler.image.policy import ImagePolicyReconciler
from sandbox.reconciler.image.tagstore import TagStore
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics

Obj = dict[str, Any]
IMAGE = "127.0.0.1:5000/foo/bar"
VERSIONS = ["v1.0.0", "v1.1.0", "v1.1.1", "v2.0.0"]


class Kube:
    def __init__(self, *objects: Obj) -> None:
        self.objects = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        try:
            return copy.deepcopy(self.objects[(kind, namespace, name)])
        except KeyError as err:
            raise NotFound(f"{kind} {namespace}/{name} not found") from err

    def patch_status(self, obj: Obj, status: Obj, *, field_manager: str | None = None) -> Obj:
        return obj


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: Obj, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((event_type, reason, message))


class Registry:
    """Digests by tag; ``repush`` gives every tag new content (a new digest), as upstream's LoadImages again."""

    def __init__(self) -> None:
        self.generation = 1
        self.lookups = 0

    def digest(self, image: Any, tag: str, access: Any) -> str:
        self.lookups += 1
        return f"sha256:{self.generation}-{tag}"

    def repush(self) -> None:
        self.generation += 1


def repository() -> Obj:
    return {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "metadata": {"name": "digref-test", "namespace": "digref-test"},
            "spec": {"image": IMAGE, "interval": "1h"},
            "status": {"lastScanResult": {"tagCount": len(VERSIONS), "latestTags": VERSIONS}}}


def image_policy(reflection: str | None, semver: str = "v1.x") -> Obj:
    spec: Obj = {"imageRepositoryRef": {"name": "digref-test"}, "policy": {"semver": {"range": semver}}}
    if reflection is not None:
        spec["digestReflectionPolicy"] = reflection
    return {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
            "metadata": {"name": "digref-test", "namespace": "digref-test", "generation": 1, "uid": "u1"},
            "spec": spec}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[ImagePolicyReconciler, Context, Registry, Events]:
    store = TagStore(tmp_path)
    store.set_tags("digref-test", "digref-test", VERSIONS)
    registry, events = Registry(), Events()
    ctx = Context(kube=Kube(repository()), events=events, metrics=Metrics(),  # type: ignore[arg-type]
                  stop=threading.Event())
    return ImagePolicyReconciler(store, resolve_digest=registry.digest), ctx, registry, events


def ref(tag: str, digest: str = "") -> Obj:
    return {"name": IMAGE, "tag": tag, **({"digest": digest} if digest else {})}


# (name, 1st reflection, 2nd reflection, 2nd range, digest 1st, digest 2nd, observedPreviousRef after the 2nd)
CASES = [
    ("missing policy leaves digest empty", None, None, "", "", "", None),
    ("'Never' policy leaves digest empty", "Never", "Never", "", "", "", None),
    ("'Always' policy always updates digest", "Always", "Always", "", "sha256:1-v1.1.1", "sha256:2-v1.1.1",
     ref("v1.1.1", "sha256:1-v1.1.1")),
    ("'IfNotPresent' policy updates digest when new tag is selected", "IfNotPresent", "IfNotPresent", "v2.x",
     "sha256:1-v1.1.1", "sha256:2-v2.0.0", ref("v1.1.1", "sha256:1-v1.1.1")),
    ("'IfNotPresent' policy only sets digest once", "IfNotPresent", "IfNotPresent", "", "sha256:1-v1.1.1",
     "sha256:1-v1.1.1", None),
    ("changing 'Never' to 'IfNotPresent' sets observedPreviousRef correctly", "Never", "IfNotPresent", "", "",
     "sha256:2-v1.1.1", ref("v1.1.1")),
    ("unsetting 'Always' policy removes digest", "Always", "Never", "", "sha256:1-v1.1.1", "",
     ref("v1.1.1", "sha256:1-v1.1.1")),
    ("unsetting 'IfNotPresent' policy removes digest", "IfNotPresent", "Never", "", "sha256:1-v1.1.1", "",
     ref("v1.1.1", "sha256:1-v1.1.1")),
    ("changing 'IfNotPresent' to 'Always' sets new digest", "IfNotPresent", "Always", "", "sha256:1-v1.1.1",
     "sha256:2-v1.1.1", ref("v1.1.1", "sha256:1-v1.1.1")),
    ("changing 'Always' to 'IfNotPresent' leaves digest untouched", "Always", "IfNotPresent", "", "sha256:1-v1.1.1",
     "sha256:1-v1.1.1", None),
    ("selecting same tag with different policy leaves observedPreviousRef empty", "IfNotPresent", "IfNotPresent",
     "=v1.1.1", "sha256:1-v1.1.1", "sha256:1-v1.1.1", None),
]


@pytest.mark.parametrize(("first", "second", "semver", "digest1", "digest2", "previous"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_upstream_digest_reflection_table(setup: tuple[ImagePolicyReconciler, Context, Registry, Events],
                                          first: str | None, second: str | None, semver: str, digest1: str,
                                          digest2: str, previous: Obj | None) -> None:
    reconciler, ctx, registry, _ = setup
    obj = image_policy(first)
    result = reconciler.reconcile(obj, ctx)
    assert result.requeue_after is None
    assert result.status is not None
    assert result.status["latestRef"].get("digest", "") == digest1
    assert "observedPreviousRef" not in result.status

    obj = image_policy(second, semver or "v1.x")
    obj["metadata"]["generation"] = 2
    obj["status"] = result.status
    registry.repush()
    result = reconciler.reconcile(obj, ctx)
    assert result.status is not None
    assert result.status["latestRef"].get("digest", "") == digest2
    assert result.status.get("observedPreviousRef") == previous


def test_always_with_an_interval_requeues_at_it(setup: tuple[ImagePolicyReconciler, Context, Registry,
                                                             Events]) -> None:
    reconciler, ctx, _, _ = setup
    obj = image_policy("Always")
    obj["spec"]["interval"] = "5m"
    assert reconciler.reconcile(obj, ctx).requeue_after == 300.0


def test_ready_and_events_across_an_update(setup: tuple[ImagePolicyReconciler, Context, Registry,
                                                         Events]) -> None:
    reconciler, ctx, _, events = setup
    obj = image_policy(None, "v1.0.x")
    status = reconciler.reconcile(obj, ctx).status
    assert status is not None
    ready = cond.find(status["conditions"], cond.READY)
    assert ready is not None and ready["message"] == f"Latest image tag for '{IMAGE}' resolved to v1.0.0"
    assert events.recorded[-1] == ("Normal", "Succeeded", ready["message"])
    obj = {**image_policy(None, "v1.x"), "status": status}
    status = reconciler.reconcile(obj, ctx).status
    assert status is not None
    message = f"Latest image tag for '{IMAGE}' updated from v1.0.0 to v1.1.1"
    assert cond.find(status["conditions"], cond.READY)["message"] == message  # type: ignore[index]
    assert events.recorded[-1] == ("Normal", "Succeeded", message)
    assert not cond.find(status["conditions"], cond.RECONCILING)


@pytest.mark.parametrize(("policy", "filter_tags", "tags", "expected"), [
    ({"semver": {"range": "1.0.x"}}, None, ["1.0.0", "2.0.0", "1.0.1", "1.2.0"], "1.0.1"),
    ({"semver": {"range": "v1.0.x"}}, None, ["v1.0.0", "v2.0.0", "v1.0.1", "v1.2.0"], "v1.0.1"),
    ({"semver": {"range": "v1.0.x"}}, None, ["1.0.0", "2.0.0", "1.0.1", "1.2.0"], "1.0.1"),
    ({"semver": {"range": "1.0.x"}}, None, ["v1.0.0", "v2.0.0", "v1.0.1", "v1.2.0"], "v1.0.1"),
    ({"numerical": {"order": "asc"}}, {"pattern": r"1.0.0-rc\.(?P<num>[0-9]+)", "extract": "$num"},
     ["1.0.0", "1.0.0-rc.1", "1.0.0-rc.2", "1.0.0-rc.3", "1.0.1-rc.2"], "1.0.0-rc.3"),
    ({"alphabetical": {"order": "asc"}}, {"pattern": "foo-(?P<word>[a-z]+)", "extract": "$word"},
     ["foo-aaa", "bar-bbb", "foo-zzz", "baz-nnn", "foo-ooo"], "foo-zzz"),
], ids=["semver", "semver-v-range-v-tags", "semver-v-range-plain-tags", "semver-plain-range-v-tags",
        "numerical-filter", "alphabetical-filter"])
def test_upstream_apply_policy_cases(tmp_path: Path, policy: Obj, filter_tags: Obj | None, tags: list[str],
                                     expected: str) -> None:
    store = TagStore(tmp_path)
    store.set_tags("digref-test", "digref-test", tags)
    ctx = Context(kube=Kube(repository()), events=Events(), metrics=Metrics(),  # type: ignore[arg-type]
                  stop=threading.Event())
    obj = image_policy(None)
    obj["spec"]["policy"] = policy
    if filter_tags:
        obj["spec"]["filterTags"] = filter_tags
    status = ImagePolicyReconciler(store).reconcile(obj, ctx).status
    assert status is not None and status["latestRef"]["tag"] == expected


@pytest.mark.parametrize(("spec", "reason", "message"), [
    ({"policy": {}}, "InvalidPolicy", "invalid policy: given ImagePolicyChoice object is invalid"),
    ({"filterTags": {"pattern": "[="}}, "InvalidPolicy", "failed to filter tags: invalid regular expression"),
    ({"imageRepositoryRef": {"name": "missing"}}, "DependencyNotReady",
     "failed to get the referred ImageRepository: referenced ImageRepository does not exist"),
], ids=["no-choice", "bad-filter", "missing-repository"])
def test_failures(setup: tuple[ImagePolicyReconciler, Context, Registry, Events], spec: Obj, reason: str,
                  message: str) -> None:
    reconciler, ctx, _, events = setup
    obj = image_policy(None)
    obj["spec"].update(spec)
    result = reconciler.reconcile(obj, ctx)
    assert result.status is not None
    ready = cond.find(result.status["conditions"], cond.READY)
    assert ready is not None and ready["status"] == "False" and ready["reason"] == reason
    assert ready["message"].startswith(message)
    assert events.recorded[-1][:2] == ("Warning", reason)
    if reason == "InvalidPolicy":
        assert cond.is_true(result.status["conditions"], cond.STALLED) and result.requeue_after is None
    else:
        assert result.requeue_after == 30.0
