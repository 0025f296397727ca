"""Image scanning end to end on the embedded cluster: images pushed to the sandbox registry, an ImageRepository scans
them, ImagePolicies pick the latest tag (semver, numerical with extract), a new push plus the requestedAt annotation
a Receiver sets moves latestRef forward, digests are reflected, a private (htpasswd) registry is scanned with a
dockerconfigjson Secret and refused without, and what is not supported or matches nothing says so."""

from __future__ import annotations

import base64
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
from sandbox.kube.client import Obj
from sandbox.reconciler.runtime import conditions as cond
from sandbox.registry import artifacts, auth, oci
from sandbox.registry.base import RegistryEndpoint, endpoint_of
from sandbox.registry.service import RegistryService
from sandbox.waiting import wait_until
from tests.integration.helpers import running_services

API = "image.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


class Images:
    """A namespace with ImageRepositories and ImagePolicies over one repository of a registry; removed afterwards."""

    def __init__(self, sandbox: SandboxHandle, registry: RegistryEndpoint) -> None:
        self.sandbox, self.kube, self.registry = sandbox, sandbox.kube, registry
        self.repository = f"img-{uuid.uuid4().hex[:6]}/app"
        self.image = f"{registry.host}/{self.repository}"
        self.namespace = f"img-{uuid.uuid4().hex[:6]}"
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
                        field_manager="test")

    def push(self, *tags: str) -> dict[str, str]:
        return {tag: str(artifacts.push_image(self.sandbox.name, f"{self.repository}:{tag}")["digest"])
                for tag in tags}

    def apply(self, kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> None:
        self.kube.apply({"apiVersion": API, "kind": kind, "metadata": {"name": name,
                                                                        "namespace": namespace or self.namespace},
                         "spec": spec}, field_manager="test")

    def repository_spec(self, **extra: Any) -> dict[str, Any]:
        return {"image": self.image, "interval": "1h", "provider": "generic", **extra}

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        return self.kube.get(API, kind, name, namespace or self.namespace)

    def wait(self, kind: str, name: str, check: Callable[[Obj], bool], what: str, *, timeout: float = 30,
             namespace: str | None = None) -> Obj:
        def matched() -> Obj | None:
            obj = self.get(kind, name, namespace)
            return obj if check(obj) else None

        return wait_until(matched, timeout=timeout, what=f"{kind} {name}: {what}",
                          hint=f"kubectl get {kind.lower()} -n {namespace or self.namespace} {name} -o yaml")

    def wait_ready(self, kind: str, name: str, message: str = "", **kwargs: Any) -> Obj:
        return self.wait(kind, name, lambda obj: ready(obj).get("status") == "True"
                         and message in str(ready(obj).get("message")), f"Ready=True {message!r}", **kwargs)

    def wait_failed(self, kind: str, name: str, reason: str, **kwargs: Any) -> Obj:
        return self.wait(kind, name, lambda obj: ready(obj).get("status") == "False"
                         and ready(obj).get("reason") == reason, f"Ready=False {reason}", **kwargs)

    def request_reconcile(self, kind: str, name: str) -> str:
        token = str(time.time_ns())
        self.kube.patch(API, kind, name, self.namespace, {"metadata": {"annotations": {REQUESTED_AT: token}}})
        return token

    def events(self, name: str) -> list[Obj]:
        return [e for e in self.kube.list("v1", "Event", self.namespace).items
                if e["involvedObject"].get("name") == name]

    def close(self) -> None:
        self.kube.delete("v1", "Namespace", self.namespace)


def ready(obj: Obj) -> Obj:
    return dict(cond.find((obj.get("status") or {}).get("conditions"), cond.READY) or {})


@pytest.fixture
def images(sandbox: SandboxHandle, registry: RegistryEndpoint) -> Iterator[Images]:
    scoped = Images(sandbox, registry)
    try:
        yield scoped
    finally:
        scoped.close()


def test_scan_and_semver_policy_follow_a_new_push_on_request(images: Images) -> None:
    images.push("1.0.0", "1.1.0", "2.0.0-rc.1", "latest", "sha256-0a1b.sig")
    images.apply("ImageRepository", "app", images.repository_spec())
    repo = images.wait_ready("ImageRepository", "app", "successful scan: found 4 tags")
    status = repo["status"]
    assert status["canonicalImageName"] == images.image
    assert status["observedExclusionList"] == [r"^.*\.sig$"]
    assert status["lastScanResult"]["tagCount"] == 4
    assert status["lastScanResult"]["latestTags"] == ["latest", "2.0.0-rc.1", "1.1.0", "1.0.0"]
    assert status["lastScanResult"]["revision"].startswith("sha256:")
    assert "finalizers.fluxcd.io" in repo["metadata"]["finalizers"]

    images.apply("ImagePolicy", "app", {"imageRepositoryRef": {"name": "app"},
                                        "policy": {"semver": {"range": ">=1.0.0 <2.0.0"}}})
    policy = images.wait_ready("ImagePolicy", "app", f"Latest image tag for '{images.image}' resolved to 1.1.0")
    assert policy["status"]["latestRef"] == {"name": images.image, "tag": "1.1.0"}

    # A new push is seen at once when something (a Receiver) sets reconcile.fluxcd.io/requestedAt.
    images.push("1.2.0")
    token = images.request_reconcile("ImageRepository", "app")
    repo = images.wait("ImageRepository", "app", lambda o: o["status"].get("lastHandledReconcileAt") == token
                       and o["status"]["lastScanResult"]["tagCount"] == 5, "rescanned on request")
    assert repo["status"]["lastScanResult"]["revision"] != status["lastScanResult"]["revision"]
    message = f"Latest image tag for '{images.image}' updated from 1.1.0 to 1.2.0"
    policy = images.wait_ready("ImagePolicy", "app", message)
    assert policy["status"]["latestRef"]["tag"] == "1.2.0"
    assert policy["status"]["observedPreviousRef"] == {"name": images.image, "tag": "1.1.0"}
    assert any(e["type"] == "Normal" and e["reason"] == "Succeeded" and e["message"] == message
               for e in images.events("app") if e["involvedObject"]["kind"] == "ImagePolicy")


def test_numerical_policy_with_extract_and_a_policy_matching_nothing(images: Images) -> None:
    images.push("main-aaa111-1700000100", "main-bbb222-1700000300", "main-ccc333-1700000200", "dev-ddd-1800000000")
    images.apply("ImageRepository", "app", images.repository_spec(insecure=True))
    images.wait_ready("ImageRepository", "app", "found 4 tags")
    images.apply("ImagePolicy", "newest-main", {
        "imageRepositoryRef": {"name": "app"},
        "filterTags": {"pattern": r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "extract": "$ts"},
        "policy": {"numerical": {"order": "asc"}}})
    policy = images.wait_ready("ImagePolicy", "newest-main", "resolved to main-bbb222-1700000300")
    assert policy["status"]["latestRef"]["tag"] == "main-bbb222-1700000300"

    images.apply("ImagePolicy", "nothing", {"imageRepositoryRef": {"name": "app"},
                                            "policy": {"semver": {"range": ">=1.0.0"}}})
    failed = images.wait_failed("ImagePolicy", "nothing", "Failure")
    assert ready(failed)["message"] == "unable to determine latest version from provided list"
    assert "latestRef" not in failed["status"]
    assert any(e["type"] == "Warning" and e["reason"] == "Failure" for e in images.events("nothing"))

    images.apply("ImagePolicy", "words", {"imageRepositoryRef": {"name": "app"}, "policy": {"numerical": {}}})
    words = images.wait_failed("ImagePolicy", "words", "Failure")
    assert ready(words)["message"].startswith("failed to parse invalid numeric value '")

    images.apply("ImagePolicy", "bad-range", {"imageRepositoryRef": {"name": "app"},
                                              "policy": {"semver": {"range": "not a range"}}})
    stalled = images.wait_failed("ImagePolicy", "bad-range", "InvalidPolicy")
    assert cond.is_true(stalled["status"]["conditions"], cond.STALLED)
    assert ready(stalled)["message"].startswith("invalid policy: ")


def test_digest_reflection(images: Images) -> None:
    pushed = images.push("1.0.0")
    images.apply("ImageRepository", "app", images.repository_spec())
    images.wait_ready("ImageRepository", "app")
    semver = {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "1.x"}}}
    images.apply("ImagePolicy", "never", semver)
    images.apply("ImagePolicy", "if-not-present", {**semver, "digestReflectionPolicy": "IfNotPresent"})
    images.apply("ImagePolicy", "always", {**semver, "digestReflectionPolicy": "Always", "interval": "1s"})
    assert "digest" not in images.wait_ready("ImagePolicy", "never")["status"]["latestRef"]
    for name in ("if-not-present", "always"):
        assert images.wait_ready("ImagePolicy", name)["status"]["latestRef"]["digest"] == pushed["1.0.0"]

    # The same tag now points at other content: Always follows it at its interval, IfNotPresent keeps its digest.
    moved = oci.push_image(images.registry.host, images.repository, "1.0.0",
                           oci.synthetic_image(images.repository, "rebuilt")).digest
    assert moved != pushed["1.0.0"]
    images.wait("ImagePolicy", "always", lambda o: o["status"].get("latestRef", {}).get("digest") == moved,
                "the moved digest")
    token = images.request_reconcile("ImagePolicy", "if-not-present")
    kept = images.wait("ImagePolicy", "if-not-present",
                       lambda o: o["status"].get("lastHandledReconcileAt") == token, "reconciled on request")
    assert kept["status"]["latestRef"]["digest"] == pushed["1.0.0"]


def test_unsupported_provider_and_an_unscanned_or_forbidden_repository(images: Images) -> None:
    images.apply("ImageRepository", "aws", images.repository_spec(provider="aws"))
    stalled = images.wait_failed("ImageRepository", "aws", "NotSupported")
    assert "spec.provider is set but not supported" in ready(stalled)["message"]
    assert "lastScanResult" not in stalled["status"]

    images.push("1.0.0")
    images.apply("ImageRepository", "suspended", images.repository_spec(suspend=True))
    images.apply("ImagePolicy", "waiting", {"imageRepositoryRef": {"name": "suspended"},
                                            "policy": {"alphabetical": {}}})
    waiting = images.wait_failed("ImagePolicy", "waiting", "DependencyNotReady")
    assert ready(waiting)["message"] == "referenced ImageRepository has not been scanned yet"

    images.apply("ImageRepository", "shared", images.repository_spec())
    images.wait_ready("ImageRepository", "shared")
    other = f"{images.namespace}-other"
    images.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}}, field_manager="test")
    try:
        images.apply("ImagePolicy", "cross", {"imageRepositoryRef": {"name": "shared", "namespace": images.namespace},
                                              "policy": {"alphabetical": {}}}, namespace=other)
        denied = images.wait_failed("ImagePolicy", "cross", "AccessDenied", namespace=other)
        assert ready(denied)["message"] == (
            f"failed to get the referred ImageRepository: access denied: '{images.namespace}/shared' can't be "
            "accessed due to missing ACL labels on 'accessFrom'")
        images.apply("ImageRepository", "shared", images.repository_spec(accessFrom={"namespaceSelectors": [
            {"matchLabels": {"kubernetes.io/metadata.name": other}}]}))
        images.wait_ready("ImagePolicy", "cross", "resolved to 1.0.0", namespace=other)
    finally:
        images.kube.delete("v1", "Namespace", other)


@pytest.fixture(scope="module")
def private_registry() -> Iterator[tuple[str, RegistryEndpoint]]:
    """A second registry, in htpasswd mode (as `sandbox up --registry-auth` runs it), beside the session sandbox."""
    name = f"e2e-private-registry-{os.getpid()}"
    with running_services(name, [RegistryService()], UpOptions(name=name, registry="local", registry_auth=True)):
        yield name, endpoint_of(name)


def test_private_registry_needs_the_dockerconfigjson_secret(images: Images,
                                                           private_registry: tuple[str, RegistryEndpoint]) -> None:
    name, registry = private_registry
    artifacts.push_image(name, f"{images.repository}:3.0.0")
    image = f"{registry.host}/{images.repository}"
    credentials = auth.credentials_of(name)
    assert credentials is not None

    images.apply("ImageRepository", "anonymous", {"image": image, "interval": "1h"})
    refused = images.wait_failed("ImageRepository", "anonymous", "ReadOperationFailed")
    assert ready(refused)["message"].startswith("scan failed: ")
    assert "401" in ready(refused)["message"]

    images.apply("ImageRepository", "missing-secret", {"image": image, "interval": "1h",
                                                       "secretRef": {"name": "nope"}})
    missing = images.wait_failed("ImageRepository", "missing-secret", "AuthenticationFailed")
    assert ready(missing)["message"] == 'failed to configure authentication options: secrets "nope" not found'

    images.kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": "opaque", "namespace": images.namespace},
                       "data": {"password": base64.b64encode(b"x").decode()}}, field_manager="test")
    images.apply("ImageRepository", "opaque", {"image": image, "interval": "1h", "secretRef": {"name": "opaque"}})
    opaque = images.wait_failed("ImageRepository", "opaque", "AuthenticationFailed")
    assert ready(opaque)["message"] == 'failed to configure authentication options: unknown secret type "Opaque"'

    images.kube.apply(auth.dockerconfigjson_secret("registry-credentials", images.namespace, list(registry.hosts),
                                                   credentials), field_manager="test")
    images.apply("ImageRepository", "private", {"image": image, "interval": "1h",
                                                "secretRef": {"name": "registry-credentials"}})
    scanned = images.wait_ready("ImageRepository", "private", "successful scan: found 1 tags")
    assert scanned["status"]["lastScanResult"]["latestTags"] == ["3.0.0"]
    images.apply("ImagePolicy", "private", {"imageRepositoryRef": {"name": "private"},
                                            "digestReflectionPolicy": "IfNotPresent",
                                            "policy": {"semver": {"range": ">=3"}}})
    policy = images.wait_ready("ImagePolicy", "private", "resolved to 3.0.0")
    assert policy["status"]["latestRef"]["digest"].startswith("sha256:")
    for obj in (refused, missing, opaque, scanned, policy):
        assert credentials.password not in str(obj)
    assert all(credentials.password not in str(e) for n in ("anonymous", "private") for e in images.events(n))


def test_a_generic_receiver_triggers_the_scan(images: Images) -> None:
    """What a registry webhook does: POST to a Receiver naming the ImageRepository; the Receiver sets
    reconcile.fluxcd.io/requestedAt and the new tag is scanned at once (the interval is an hour)."""
    images.push("1.0.0")
    images.apply("ImageRepository", "app", images.repository_spec())
    images.apply("ImagePolicy", "app", {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "1.x"}}})
    images.wait_ready("ImagePolicy", "app", "resolved to 1.0.0")
    images.kube.apply({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "hook", "namespace": images.namespace},
                       "stringData": {"token": uuid.uuid4().hex}}, field_manager="test")
    images.kube.apply({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
                       "metadata": {"name": "registry", "namespace": images.namespace},
                       "spec": {"type": "generic", "secretRef": {"name": "hook"},
                                "resources": [{"apiVersion": API, "kind": "ImageRepository", "name": "app"}]}},
                      field_manager="test")
    receiver = wait_until(lambda: images.kube.get("notification.toolkit.fluxcd.io/v1", "Receiver", "registry",
                                                  images.namespace).get("status", {}).get("webhookPath") and
                          images.kube.get("notification.toolkit.fluxcd.io/v1", "Receiver", "registry",
                                          images.namespace),
                          timeout=30, what="the Receiver's webhook path")
    images.push("1.1.0")
    url = images.sandbox.refresh()["services"]["reconciler"]["receiver"] + receiver["status"]["webhookPath"]
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    images.wait_ready("ImagePolicy", "app", "updated from 1.0.0 to 1.1.0")
    repo = images.get("ImageRepository", "app")
    assert repo["status"]["lastHandledReconcileAt"] == repo["metadata"]["annotations"][REQUESTED_AT]
