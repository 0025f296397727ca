"""Every Receiver type through the reconciler's real webhook server: a call signed (or shaped) as the sender signs
it annotates the listed object, a wrong one is answered 400 and annotates nothing; the types the sandbox cannot
verify are Stalled (NotSupported) and publish no path; a rotated token moves the path; CEL filters pick objects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler.notification.webhook import webhook_path
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.reconciler.support import NOT_SUPPORTED
from sandbox.waiting import wait_until
from tests.unit.reconciler.oidc_issuer import Issuer

NS = "flux-system"
RECEIVER_API = "notification.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
BODY = json.dumps({"push_data": {"tag": "1.0.0"}, "repository": {"repo_url": "r"}, "docker_url": "d",
                   "updated_tags": ["1.0.0"], "action": "push", "repositoryName": "r",
                   "target": {"repository": "r", "tag": "1.0.0"}, "ref": "refs/heads/main"}).encode()


def _hmac(token: str, digest: str) -> str:
    return hmac.new(token.encode(), BODY, getattr(hashlib, digest)).hexdigest()


JSON = {"Content-Type": "application/json"}
BITBUCKET = {**JSON, "X-Event-Key": "repo:refs_changed"}
# type -> (headers of a valid call, headers of an invalid call, body of the invalid call)
Signer = Callable[[str], tuple[dict[str, str], dict[str, str], bytes]]
SIGNERS: dict[str, Signer] = {
    "generic-hmac": lambda t: ({"X-Signature": "sha256=" + _hmac(t, "sha256")},
                               {"X-Signature": "sha256=" + "0" * 64}, BODY),
    "github": lambda t: ({**JSON, "X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + _hmac(t, "sha256")},
                         {**JSON, "X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64}, BODY),
    "gitlab": lambda t: ({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": t},
                         {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "wrong"}, BODY),
    "bitbucket": lambda t: ({**BITBUCKET, "X-Hub-Signature": "sha256=" + _hmac(t, "sha256")},
                            {**BITBUCKET, "X-Hub-Signature": "sha1=" + "0" * 40}, BODY),
    "harbor": lambda t: ({"Authorization": t}, {"Authorization": "wrong"}, BODY),
    "nexus": lambda t: ({"X-Nexus-Webhook-Signature": _hmac(t, "sha1")},
                        {"X-Nexus-Webhook-Signature": "0" * 40}, BODY),
    # The registries' plain types carry no signature: notification-controller refuses a payload it cannot decode.
    "dockerhub": lambda t: ({}, {}, b'{"push_data": "not an object"}'),
    "quay": lambda t: ({}, {}, b'{"updated_tags": "not a list"}'),
    "acr": lambda t: ({}, {}, b'{"target": ["not", "an", "object"]}'),
}


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def requested_at(kube: KubeClient, name: str) -> str:
    annotations = kube.get(SOURCE_API, "GitRepository", name, NS)["metadata"].get("annotations") or {}
    return str(annotations.get(REQUESTED_AT, ""))


class Hooks:
    """Suspended GitRepositories (only a webhook annotates them) and Receivers of them, removed afterwards."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.sandbox, self.kube = sandbox, sandbox.kube
        self.created: list[tuple[str, str, str]] = []

    def apply(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["namespace"] = NS
        self.kube.apply(obj, field_manager="e2e")
        self.created.append((obj["apiVersion"], obj["kind"], obj["metadata"]["name"]))

    def token(self, name: str, value: str) -> None:
        self.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                    "data": {"token": base64.b64encode(value.encode()).decode()}})

    def repository(self, name: str, **labels: str) -> None:
        self.apply({"apiVersion": SOURCE_API, "kind": "GitRepository", "metadata": {"name": name, "labels": labels},
                    "spec": {"url": "http://127.0.0.1:1/none.git", "interval": "1h", "suspend": True}})

    def receiver(self, name: str, receiver_type: str, resources: list[dict[str, Any]], **spec: Any) -> None:
        secret = {} if receiver_type == "generic-oidc" else {"secretRef": {"name": f"{name}-token"}}
        self.apply({"apiVersion": RECEIVER_API, "kind": "Receiver", "metadata": {"name": name},
                    "spec": {"type": receiver_type, **secret, "resources": resources, **spec}})

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.kube.get(RECEIVER_API, "Receiver", name, NS).get("status") or {})

    def url_of(self, name: str, token: str) -> str:
        path = webhook_path(token, name, NS)
        wait_until(lambda: self.status(name).get("webhookPath") == path, timeout=30,
                   what=f"Receiver {NS}/{name} to publish its webhook path")
        return str(self.sandbox.refresh()["services"]["reconciler"]["receiver"]) + path

    def close(self) -> None:
        for api, kind, name in reversed(self.created):
            self.kube.delete(api, kind, name, NS)


@pytest.fixture
def hooks(sandbox: SandboxHandle) -> Iterator[Hooks]:
    created = Hooks(sandbox)
    try:
        yield created
    finally:
        created.close()


@pytest.mark.parametrize("receiver_type", sorted(SIGNERS))
def test_each_type_accepts_a_valid_call_and_refuses_an_invalid_one(hooks: Hooks, receiver_type: str) -> None:
    name, token = f"rt-{receiver_type}-{secrets.token_hex(2)}", secrets.token_hex(16)
    hooks.token(f"{name}-token", token)
    hooks.repository(name)
    hooks.receiver(name, receiver_type, [{"kind": "GitRepository", "name": name}])
    url = hooks.url_of(name, token)
    valid, invalid, invalid_body = SIGNERS[receiver_type](token)

    assert post(url, invalid_body, invalid) == 400
    assert requested_at(hooks.kube, name) == "", f"an invalid {receiver_type} call must annotate nothing"
    assert post(url, BODY, valid) == 200
    wait_until(lambda: requested_at(hooks.kube, name), timeout=10, what=f"the {receiver_type} call to annotate")


def test_generic_needs_only_the_secret_path(hooks: Hooks) -> None:
    name, token = f"rt-generic-{secrets.token_hex(2)}", secrets.token_hex(16)
    hooks.token(f"{name}-token", token)
    hooks.repository(name)
    hooks.receiver(name, "generic", [{"kind": "GitRepository", "name": name}])
    url = hooks.url_of(name, token)
    assert post(url.rsplit("/", 1)[0] + "/" + "0" * 64, b"", {}) == 404
    assert requested_at(hooks.kube, name) == ""
    assert post(url, b"", {}) == 200 and requested_at(hooks.kube, name)


@pytest.mark.parametrize("receiver_type", ["gcr", "cdevents"])
def test_a_type_the_sandbox_cannot_verify_is_stalled_and_serves_no_path(hooks: Hooks, receiver_type: str) -> None:
    name = f"rt-{receiver_type}-{secrets.token_hex(2)}"
    hooks.token(f"{name}-token", "t")
    hooks.receiver(name, receiver_type, [{"kind": "GitRepository", "name": name}])

    def stalled() -> dict[str, Any] | None:
        ready = next((c for c in hooks.status(name).get("conditions") or [] if c["type"] == "Ready"), None)
        return ready if ready and ready["reason"] == NOT_SUPPORTED else None

    ready = wait_until(stalled, timeout=30, what=f"the {receiver_type} Receiver to be NotSupported")
    assert ready["status"] == "False" and "spec.type" in ready["message"]
    assert "webhookPath" not in hooks.status(name)


def test_a_rotated_token_moves_the_path_at_the_next_interval(hooks: Hooks) -> None:
    name = f"rt-rotate-{secrets.token_hex(2)}"
    old, new = secrets.token_hex(16), secrets.token_hex(16)
    hooks.token(f"{name}-token", old)
    hooks.repository(name)
    hooks.receiver(name, "generic", [{"kind": "GitRepository", "name": name}], interval="2s")
    old_url = hooks.url_of(name, old)
    hooks.token(f"{name}-token", new)  # nothing about the Receiver changes: only its interval brings the new path
    new_url = hooks.url_of(name, new)
    assert new_url != old_url
    assert post(old_url, b"", {}) == 404
    assert post(new_url, b"", {}) == 200 and requested_at(hooks.kube, name)


def test_filters_pick_the_objects_to_reconcile(hooks: Hooks) -> None:
    suffix, token = secrets.token_hex(2), secrets.token_hex(16)
    names = {team: f"rt-{team}-{suffix}" for team in ("web", "api", "docs")}
    for team, repository in names.items():
        hooks.repository(repository, **{"e2e-receiver": suffix, "team": team})
    name = f"rt-filter-{suffix}"
    hooks.token(f"{name}-token", token)
    hooks.receiver(name, "generic", [{"kind": "GitRepository", "name": "*", "matchLabels": {"e2e-receiver": suffix},
                                      "filter": "res.metadata.labels.team != 'docs'"}],
                   resourceFilter="res.metadata.labels.team == req.team || req.team == 'all'")
    url = hooks.url_of(name, token)
    assert post(url, json.dumps({"team": "api"}).encode(), JSON) == 200
    assert requested_at(hooks.kube, names["api"])
    assert not requested_at(hooks.kube, names["web"]) and not requested_at(hooks.kube, names["docs"])
    assert post(url, json.dumps({"team": "all"}).encode(), JSON) == 200
    assert requested_at(hooks.kube, names["web"]) and not requested_at(hooks.kube, names["docs"])
    assert post(url, b"{not json", JSON) == 500  # as notification-controller: the filter cannot read the body


def test_an_invalid_filter_stalls_the_receiver(hooks: Hooks) -> None:
    name = f"rt-badcel-{secrets.token_hex(2)}"
    hooks.token(f"{name}-token", "t")
    hooks.receiver(name, "generic", [{"kind": "GitRepository", "name": name}], resourceFilter="res.metadata.name ==")

    def stalled() -> dict[str, Any] | None:
        ready = next((c for c in hooks.status(name).get("conditions") or [] if c["type"] == "Ready"), None)
        return ready if ready and ready["reason"] == "InvalidCELExpression" else None

    ready = wait_until(stalled, timeout=30, what="the Receiver with an invalid resourceFilter to stall")
    assert "spec.resourceFilter" in ready["message"] and "webhookPath" not in hooks.status(name)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    served = Issuer().serve()
    try:
        yield served
    finally:
        served.stop()


def test_generic_oidc_accepts_only_a_token_of_its_issuer_that_passes_the_validations(hooks: Hooks,
                                                                                      issuer: Issuer) -> None:
    suffix = secrets.token_hex(2)
    names = {team: f"rt-oidc-{team}-{suffix}" for team in ("web", "api")}
    for team, repository in names.items():
        hooks.repository(repository, **{"e2e-receiver": suffix, "team": team})
    name = f"rt-oidc-{suffix}"
    hooks.receiver(name, "generic-oidc", [{"kind": "GitRepository", "name": "*",
                                           "matchLabels": {"e2e-receiver": suffix}}],
                   resourceFilter="res.metadata.labels.team == claims.team",
                   oidcProviders=[{"issuerURL": issuer.url, "audience": "sandbox",
                                   "validations": [{"expression": "claims.repository_owner == 'platform'",
                                                    "message": "only the platform team's workflows"}]}])
    url = hooks.url_of(name, "")  # no secret: the path is salted with an empty token, as upstream's
    impostor = Issuer(issuer.url)  # same issuer URL, keys the issuer never published

    for token in (impostor.token(audience="sandbox", repository_owner="platform", team="api"),
                  issuer.token(audience="notification-controller", repository_owner="platform", team="api"),
                  issuer.token(audience="sandbox", repository_owner="someone", team="api"),
                  issuer.token("ES256", audience="sandbox", repository_owner="platform", team="api",
                               expires_in=-60)):
        assert post(url, b"{}", {**JSON, "Authorization": f"Bearer {token}"}) == 400
    assert post(url, b"{}", JSON) == 400
    assert not requested_at(hooks.kube, names["api"]) and not requested_at(hooks.kube, names["web"])

    good = issuer.token("ES256", audience="sandbox", repository_owner="platform", team="api")
    assert post(url, b"{}", {**JSON, "Authorization": f"Bearer {good}"}) == 200
    assert requested_at(hooks.kube, names["api"]) and not requested_at(hooks.kube, names["web"])
