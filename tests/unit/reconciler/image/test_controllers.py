"""The controllers' pure decisions: when an ImageRepository scans (upstream's shouldScan cases), the tag store and
its revision, the ImagePolicy's Ready message, digest keeping, cross-namespace access, and which policies a
repository's change re-evaluates; the Secret-to-credentials rules with upstream's error words."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.reconciler.image import auth, policy, repository
from sandbox.reconciler.image.reference import parse_image
from sandbox.reconciler.image.tagstore import TagStore, revision_of

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
IMAGE = "127.0.0.1:5000/team/app"


def repo(**status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "app", "namespace": "apps"}
    if "annotation" in status:
        meta["annotations"] = {"reconcile.fluxcd.io/requestedAt": status.pop("annotation")}
    return {"metadata": meta, "spec": {"image": IMAGE, "interval": "1m"}, "status": status}


def scanned(seconds_ago: float) -> dict[str, Any]:
    return {"tagCount": 1, "scanTime": (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")}


FULL = {"canonicalImageName": IMAGE, "observedExclusionList": [r"^.*\.sig$"]}


@pytest.mark.parametrize(("obj", "stored", "expected"), [
    (repo(), ["1"], (True, 60.0, "first scan")),
    (repo(annotation="now", lastScanResult=scanned(30), **FULL), ["1"], (True, 60.0, "reconcile requested")),
    (repo(annotation="now", lastHandledReconcileAt="now", lastScanResult=scanned(30), **FULL), ["1"],
     (False, 30.0, "")),
    (repo(lastScanResult=scanned(30), canonicalImageName="other/app", observedExclusionList=[r"^.*\.sig$"]),
     ["1"], (True, 60.0, "new image name")),
    (repo(lastScanResult=scanned(30), canonicalImageName=IMAGE, observedExclusionList=["x"]), ["1"],
     (True, 60.0, "updated exclusion list")),
    (repo(lastScanResult=scanned(30), **FULL), [], (True, 60.0, "no tags in database")),
    (repo(lastScanResult=scanned(90), **FULL), ["1"], (True, 60.0, "triggered by interval")),
    (repo(lastScanResult=scanned(59.5), **FULL), ["1"], (True, 60.0, "triggered by interval")),
], ids=["new", "requested", "requested-already-handled", "new-image", "exclusion-list", "empty-store", "interval",
        "less-than-a-second-left"])
def test_should_scan(tmp_path: Path, obj: dict[str, Any], stored: list[str],
                     expected: tuple[bool, float, str]) -> None:
    store = TagStore(tmp_path)
    if stored:
        store.set_tags("apps", "app", stored)
    assert repository.should_scan(obj, store, NOW) == expected


def test_tag_store_keeps_order_survives_a_new_instance_and_is_private(tmp_path: Path) -> None:
    revision = TagStore(tmp_path).set_tags("apps", "app", ["1.0.1", "1.0.0", "latest"])
    assert revision == "sha256:" + hashlib.sha256(b"1.0.1\n1.0.0\nlatest\n").hexdigest()
    assert revision_of(["1.0.1", "1.0.0", "latest"]) == revision
    again = TagStore(tmp_path)  # a restarted reconciler
    assert again.tags("apps", "app") == ["1.0.1", "1.0.0", "latest"]
    stored = tmp_path / "imagerepository" / "apps" / "app" / "tags.txt"
    assert stored.stat().st_mode & 0o077 == 0
    again.delete("apps", "app")
    assert again.tags("apps", "app") == []


def test_ready_messages() -> None:
    assert policy.ready_message("", "1.0.0", IMAGE) == f"Latest image tag for '{IMAGE}' resolved to 1.0.0"
    assert policy.ready_message("1.0.0", "1.0.0", IMAGE) == f"Latest image tag for '{IMAGE}' resolved to 1.0.0"
    assert policy.ready_message("1.0.0", "1.1.0", IMAGE) == \
        f"Latest image tag for '{IMAGE}' updated from 1.0.0 to 1.1.0"


@pytest.mark.parametrize(("reflection", "old", "new", "keep"), [
    ("IfNotPresent", {"name": IMAGE, "tag": "1", "digest": "sha256:a"}, {"name": IMAGE, "tag": "1"}, True),
    ("IfNotPresent", {"name": IMAGE, "tag": "1", "digest": "sha256:a"}, {"name": IMAGE, "tag": "2"}, False),
    ("IfNotPresent", {"name": IMAGE, "tag": "1"}, {"name": IMAGE, "tag": "1"}, False),
    ("IfNotPresent", None, {"name": IMAGE, "tag": "1"}, False),
    ("Always", {"name": IMAGE, "tag": "1", "digest": "sha256:a"}, {"name": IMAGE, "tag": "1"}, False),
], ids=["same-tag", "new-tag", "no-digest-yet", "first-time", "always-looks-again"])
def test_digest_keeping(reflection: str, old: dict[str, str] | None, new: dict[str, str], keep: bool) -> None:
    assert policy.keep_digest(reflection, old, new) is keep


def _policy(namespace: str = "apps", ref_namespace: str | None = None) -> dict[str, Any]:
    ref = {"name": "app", **({"namespace": ref_namespace} if ref_namespace else {})}
    return {"metadata": {"name": "pol", "namespace": namespace}, "spec": {"imageRepositoryRef": ref}}


def test_cross_namespace_access() -> None:
    target = {"spec": {"accessFrom": {"namespaceSelectors": [{"matchLabels": {"team": "a"}}]}}}
    pol = _policy("other", "apps")
    assert policy.access_denied(_policy(), None, {}, "apps", "app") == ""
    assert policy.access_denied(pol, {"spec": {}}, {}, "apps", "app") == \
        "'apps/app' can't be accessed due to missing ACL labels on 'accessFrom'"
    assert policy.access_denied(pol, target, {"team": "b"}, "apps", "app") == \
        "'apps/app' can't be accessed due to ACL labels mismatch on namespace 'other'"
    assert policy.access_denied(pol, target, {"team": "a", "x": "y"}, "apps", "app") == ""
    everyone = {"spec": {"accessFrom": {"namespaceSelectors": [{"matchLabels": {}}]}}}
    assert policy.access_denied(pol, everyone, {}, "apps", "app") == ""


def test_policies_of_a_repository() -> None:
    policies = [_policy(), _policy("other", "apps"), {**_policy(), "metadata": {"name": "b", "namespace": "apps"},
                                                       "spec": {"imageRepositoryRef": {"name": "else"}}}]
    assert policy.policies_for_repository(policies, {"metadata": {"name": "app", "namespace": "apps"}}) == \
        ["apps/pol", "other/pol"]


def _docker_secret(auths: dict[str, Any], kind: str = "kubernetes.io/dockerconfigjson") -> dict[str, Any]:
    raw = base64.b64encode(json.dumps({"auths": auths}).encode()).decode()
    return {"type": kind, "metadata": {"name": "regcred", "namespace": "apps"}, "data": {".dockerconfigjson": raw}}


@pytest.mark.parametrize("key", ["127.0.0.1:5000", "https://127.0.0.1:5000", "http://127.0.0.1:5000/v2/",
                                 "127.0.0.1:5000/v1/"])
def test_credentials_by_registry_host(key: str) -> None:
    token = base64.b64encode(b"robot:s3cret").decode()
    found = auth.credentials_for(_docker_secret({key: {"auth": token}}), parse_image(IMAGE))
    assert (found.username, found.password) == ("robot", "s3cret")
    plain = auth.credentials_for(_docker_secret({key: {"username": "u", "password": "p"}}), parse_image(IMAGE))
    assert (plain.username, plain.password) == ("u", "p")


def test_credentials_errors_say_what_upstream_says_and_never_the_secret() -> None:
    with pytest.raises(auth.AuthError, match=r'^unknown secret type "Opaque"$'):
        auth.credentials_for(_docker_secret({}, "Opaque"), parse_image(IMAGE))
    with pytest.raises(auth.AuthError, match=r'^auth for "127\.0\.0\.1:5000" not found in secret apps/regcred$'):
        auth.credentials_for(_docker_secret({"ghcr.io": {"auth": "eDp5"}}), parse_image(IMAGE))
    broken = {"type": "kubernetes.io/dockerconfigjson", "metadata": {"name": "regcred", "namespace": "apps"},
              "data": {".dockerconfigjson": base64.b64encode(b'{"auths": {"s3cret-value').decode()}}
    with pytest.raises(auth.AuthError) as caught:
        auth.credentials_for(broken, parse_image(IMAGE))
    assert "s3cret" not in str(caught.value)
