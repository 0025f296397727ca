"""The ImageRepository reconciler on fakes of the project's seams (kube client, tag lister, tag store on disk): the
first scan and its status, a reconcile before the next scan is due, a rescan on request, exclusions, and the failure
reasons with upstream's messages and events."""

from __future__ import annotations

import base64
import copy
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.oci.distribution import Unauthorized
from sandbox.reconciler.image.repository import ImageRepositoryReconciler
from sandbox.reconciler.image.tagstore import TagStore
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics

Obj = dict[str, Any]
IMAGE = "127.0.0.1:5000/team/app"


class Kube:
    def __init__(self, *objects: Obj) -> None:
        self.objects = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
        self.intermediate: list[Obj] = []

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        try:
            return copy.deepcopy(self.objects[(kind, namespace, name)])
        except KeyError as err:
            raise NotFound(f'secrets "{name}" not found') from err

    def patch_status(self, obj: Obj, status: Obj, *, field_manager: str | None = None) -> Obj:
        self.intermediate.append(copy.deepcopy(status))
        return obj


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: Obj, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((event_type, reason, message))


class Lister:
    def __init__(self, tags: list[str]) -> None:
        self.tags = tags
        self.calls = 0
        self.failure: Exception | None = None

    def __call__(self, image: Any, access: Any) -> list[str]:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return list(self.tags)


def image_repository(**spec: Any) -> Obj:
    return {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "metadata": {"name": "app", "namespace": "apps", "generation": 1, "uid": "u1"},
            "spec": {"image": IMAGE, "interval": "1h", **spec}}


@pytest.fixture
def parts(tmp_path: Path) -> tuple[ImageRepositoryReconciler, Context, Lister, Events, Kube, TagStore]:
    lister, events, kube, store = Lister(["1.0.0", "1.1.0", "1.1.0.sig", "latest"]), Events(), Kube(), \
        TagStore(tmp_path)
    ctx = Context(kube=kube, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    return ImageRepositoryReconciler(store, lister=lister), ctx, lister, events, kube, store


Parts = tuple[ImageRepositoryReconciler, Context, Lister, Events, Kube, TagStore]


def ready(status: Obj) -> Obj:
    return dict(cond.find(status.get("conditions"), cond.READY) or {})


def test_first_scan_then_nothing_due_then_a_request(parts: Parts) -> None:
    reconciler, ctx, lister, events, kube, store = parts
    obj = image_repository()
    result = reconciler.reconcile(obj, ctx)
    status = result.status
    assert status is not None and result.requeue_after == 3600.0
    assert ready(status)["message"] == "successful scan: found 3 tags" and ready(status)["reason"] == "Succeeded"
    assert status["canonicalImageName"] == IMAGE and status["observedExclusionList"] == [r"^.*\.sig$"]
    assert status["lastScanResult"]["latestTags"] == ["latest", "1.1.0", "1.0.0"]
    assert store.tags("apps", "app") == ["1.0.0", "1.1.0", "latest"]
    assert [p["conditions"][1]["message"] for p in kube.intermediate] == \
        ["processing object: new generation 0 -> 1", "scanning: first scan"]
    assert events.recorded[-1] == ("Normal", "Succeeded", "successful scan: found 3 tags")

    obj["status"] = status
    again = reconciler.reconcile(obj, ctx)
    assert lister.calls == 1, "not scan time yet"
    assert again.requeue_after is not None and 3500 < again.requeue_after <= 3600
    assert events.recorded[-1][2].startswith("no change in repository configuration since last scan, next scan in ")

    obj["metadata"]["annotations"] = {"reconcile.fluxcd.io/requestedAt": "now"}
    lister.tags.append("1.2.0")
    rescanned = reconciler.reconcile(obj, ctx).status
    assert lister.calls == 2 and rescanned is not None
    assert ready(rescanned)["message"] == "successful scan: found 4 tags"
    assert kube.intermediate[-1]["conditions"][1]["message"] == "scanning: reconcile requested"
    assert events.recorded[-1] == ("Normal", "Succeeded", "successful scan: found 4 tags")


def test_an_unchanged_rescan_is_a_trace_event(parts: Parts) -> None:
    reconciler, ctx, _, events, _, _ = parts
    obj = image_repository()
    obj["status"] = reconciler.reconcile(obj, ctx).status
    obj["metadata"]["annotations"] = {"reconcile.fluxcd.io/requestedAt": "now"}
    reconciler.reconcile(obj, ctx)
    assert events.recorded[-1] == ("Normal", "Succeeded", "no new tags found, next scan in 1h0m0s")


def test_custom_exclusion_list(parts: Parts) -> None:
    reconciler, ctx, _, _, _, store = parts
    status = reconciler.reconcile(image_repository(exclusionList=["^latest$"]), ctx).status
    assert status is not None and status["observedExclusionList"] == ["^latest$"]
    assert store.tags("apps", "app") == ["1.0.0", "1.1.0", "1.1.0.sig"]


@pytest.mark.parametrize(("spec", "reason", "message", "stalled"), [
    ({"image": "ghcr.io/app:1.0"}, "ImageURLInvalid", ".spec.image value should not contain a tag; remove ':1.0'",
     True),
    ({"secretRef": {"name": "nope"}}, "AuthenticationFailed",
     'failed to configure authentication options: secrets "nope" not found', False),
    ({"secretRef": {"name": "opaque"}}, "AuthenticationFailed",
     'failed to configure authentication options: unknown secret type "Opaque"', False),
    ({"certSecretRef": {"name": "half-tls"}}, "AuthenticationFailed",
     "failed to configure authentication options: secret 'apps/half-tls' must contain both 'tls.crt' and "
     "'tls.key', or neither", False),
    ({"provider": "gcp"}, "NotSupported", "spec.provider is set but not supported", True),
], ids=["tag-in-image", "missing-secret", "wrong-secret-type", "half-a-client-cert", "provider"])
def test_failures(parts: Parts, spec: Obj, reason: str, message: str, stalled: bool) -> None:
    reconciler, ctx, lister, events, kube, _ = parts
    kube.objects[("Secret", "apps", "opaque")] = {"kind": "Secret", "type": "Opaque",
                                                  "metadata": {"name": "opaque", "namespace": "apps"}}
    kube.objects[("Secret", "apps", "half-tls")] = {"kind": "Secret", "metadata": {"name": "half-tls",
                                                                                   "namespace": "apps"},
                                                    "data": {"tls.crt": base64.b64encode(b"x").decode()}}
    result = reconciler.reconcile(image_repository(**spec), ctx)
    assert result.status is not None
    assert ready(result.status)["reason"] == reason and ready(result.status)["status"] == "False"
    assert ready(result.status)["message"].startswith(message)
    assert cond.is_true(result.status["conditions"], cond.STALLED) is stalled
    assert (result.requeue_after is None) is stalled
    assert lister.calls == 0
    assert events.recorded[-1][:2] == ("Warning", reason)


def test_a_refused_scan_keeps_the_last_result(parts: Parts) -> None:
    reconciler, ctx, lister, _, _, store = parts
    obj = image_repository()
    obj["status"] = reconciler.reconcile(obj, ctx).status
    lister.failure = Unauthorized("GET http://127.0.0.1:5000/v2/team/app/tags/list?n=1000: HTTP 401 UNAUTHORIZED")
    obj["metadata"]["annotations"] = {"reconcile.fluxcd.io/requestedAt": "now"}
    result = reconciler.reconcile(obj, ctx)
    assert result.status is not None and result.requeue_after == 30.0
    assert ready(result.status)["reason"] == "ReadOperationFailed"
    assert ready(result.status)["message"] == ("scan failed: GET http://127.0.0.1:5000/v2/team/app/tags/list?n=1000: "
                                               "HTTP 401 UNAUTHORIZED")
    assert result.status["lastScanResult"]["tagCount"] == 3
    assert store.tags("apps", "app") == ["1.0.0", "1.1.0", "latest"]


def test_deleting_drops_the_stored_tags(parts: Parts) -> None:
    reconciler, ctx, _, _, _, store = parts
    obj = image_repository()
    reconciler.reconcile(obj, ctx)
    reconciler.finalize(obj, ctx)
    assert store.tags("apps", "app") == []
