"""``sandbox get images …``: each kind's columns read from the status fields Flux defines."""

from __future__ import annotations

from typing import Any

from sandbox.cli import image_ops

READY = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok"}


def obj(kind: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "app", "namespace": "flux-system"}, "spec": spec,
            "status": {"conditions": [READY], **status}}


def test_repository_row_shows_last_scan_and_suspended() -> None:
    repo = obj("ImageRepository", {"suspend": True}, {"lastScanResult": {"scanTime": "2026-12-06T08:00:00Z",
                                                                         "tagCount": 3}})
    listing = image_ops.LISTINGS["repository"]
    assert image_ops.headers(listing, False) == ["NAME", "LAST SCAN", "SUSPENDED", "READY", "MESSAGE"]
    assert image_ops.rows(listing, [repo], False) == [["app", "2026-12-06T08:00:00Z", "True", "True", "ok"]]
    assert image_ops.summarize(repo)["tagCount"] == 3


def test_policy_row_shows_latest_ref_as_image_and_tag() -> None:
    policy = obj("ImagePolicy", {}, {"latestRef": {"name": "127.0.0.1:5000/app", "tag": "1.0.1"}})
    listing = image_ops.LISTINGS["policy"]
    assert image_ops.headers(listing, True) == ["NAMESPACE", "NAME", "IMAGE", "TAG", "READY", "MESSAGE"]
    assert image_ops.rows(listing, [policy], True) == [["flux-system", "app", "127.0.0.1:5000/app", "1.0.1", "True",
                                                        "ok"]]
    assert image_ops.rows(listing, [policy], False, with_kind=True)[0][0] == "imagepolicy/app"  # get images all
    policy["status"]["latestRef"]["digest"] = "sha256:abc"
    assert image_ops.latest_image(policy) == "127.0.0.1:5000/app:1.0.1@sha256:abc"  # -o json's latestImage
    assert image_ops.summarize(policy)["digest"] == "sha256:abc"


def test_update_row_shows_last_run_and_an_unreconciled_object_as_unknown() -> None:
    update = {"kind": "ImageUpdateAutomation", "metadata": {"name": "app", "namespace": "flux-system"},
              "spec": {}, "status": {}}
    listing = image_ops.LISTINGS["update"]
    assert image_ops.headers(listing, False) == ["NAME", "LAST RUN", "SUSPENDED", "READY", "MESSAGE"]
    assert image_ops.rows(listing, [update], False) == [["app", "", "False", "Unknown", "waiting to be reconciled"]]
