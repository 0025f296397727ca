"""A Receiver's CEL filters and ``*`` names, as notification-controller applies them per resource."""

from __future__ import annotations

import base64
import copy
import threading
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.reconciler.notification import resourcefilter
from sandbox.reconciler.notification.receiver import (
    AnnotateError,
    ReceiverIndex,
    ReceiverReconciler,
    annotate_resources,
)
from sandbox.reconciler.notification.webhook import webhook_path
from sandbox.reconciler.runtime import cel
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import REQUESTED_AT, Context
from sandbox.reconciler.runtime.metrics import Metrics

API = "source.toolkit.fluxcd.io/v1"
JSON = {"content-type": "application/json"}


class ListResult:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items


class Objects:
    """GitRepositories in memory: get, list by label selector, patch annotations."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}

    def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
        if (namespace, name) not in self.objects:
            raise NotFound(f"{kind} {namespace}/{name} not found")
        return copy.deepcopy(self.objects[(namespace, name)])

    def list(self, api_version: str, kind: str, namespace: str, label_selector: str = "") -> ListResult:
        wanted = dict(pair.split("=", 1) for pair in label_selector.split(",") if pair)
        return ListResult([copy.deepcopy(o) for (ns, _), o in sorted(self.objects.items()) if ns == namespace
                           and wanted.items() <= (o["metadata"].get("labels") or {}).items()])

    def patch(self, api_version: str, kind: str, name: str, namespace: str, patch: dict[str, Any]) -> None:
        annotations = self.objects[(namespace, name)]["metadata"].setdefault("annotations", {})
        annotations.update(patch["metadata"]["annotations"])

    def requested(self) -> list[str]:
        return sorted(name for (_, name), o in self.objects.items()
                      if REQUESTED_AT in (o["metadata"].get("annotations") or {}))


def repo(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": "apps", "labels": labels},
            "spec": {"url": f"http://git/{name}"}}


def receiver(resources: list[dict[str, Any]], resource_filter: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "generic", "resources": resources}
    if resource_filter:
        spec["resourceFilter"] = resource_filter
    return {"metadata": {"name": "hook", "namespace": "apps"}, "spec": spec}


def kube() -> Objects:
    return Objects(repo("frontend", team="web"), repo("backend", team="api"), repo("docs", team="web", tier="x"))


def test_wildcard_with_match_labels_annotates_the_matching_objects_only() -> None:
    objects = kube()
    touched = annotate_resources(objects, receiver([{"kind": "GitRepository", "name": "*",  # type: ignore[arg-type]
                                                     "matchLabels": {"team": "web"}}]))
    assert objects.requested() == ["docs", "frontend"]
    assert touched == ["GitRepository/apps/docs", "GitRepository/apps/frontend"]


def test_wildcard_without_match_labels_is_an_error_not_every_object() -> None:
    objects = kube()
    with pytest.raises(AnnotateError, match="matchLabels field not set when using wildcard"):
        annotate_resources(objects, receiver([{"kind": "GitRepository", "name": "*"}]))  # type: ignore[arg-type]
    assert objects.requested() == []


def test_wildcard_matching_nothing_is_no_error() -> None:
    objects = kube()
    assert annotate_resources(objects, receiver([{"kind": "GitRepository", "name": "*",  # type: ignore[arg-type]
                                                  "matchLabels": {"team": "none"}}])) == []


def test_a_missing_named_object_fails_the_request_after_the_others_are_annotated() -> None:
    objects = kube()
    with pytest.raises(AnnotateError, match="GitRepository 'apps/gone'"):
        annotate_resources(objects, receiver([{"kind": "GitRepository", "name": "gone"},  # type: ignore[arg-type]
                                              {"kind": "GitRepository", "name": "backend"}]))
    assert objects.requested() == ["backend"]


@pytest.mark.parametrize("top, own, body, expected", [
    ("res.metadata.name == req.app", "", b'{"app": "backend"}', ["backend"]),
    ("'web' == res.metadata.labels.team", "", b"{}", ["docs", "frontend"]),
    ("", "res.metadata.name.startsWith('f')", b"", ["frontend"]),
    ("res.metadata.labels.team == 'web'", "!has(res.metadata.labels.tier)", b"", ["frontend"]),  # both must pass
    ("has(res.spec)", "", b"", []),  # res is the object's metadata only, as PartialObjectMetadata
    ("req.size() == 0", "", b"not json, but not declared as JSON either", ["backend", "docs", "frontend"]),
], ids=["res-and-req", "labels", "per-resource", "both-filters", "metadata-only", "no-json-body"])
def test_filters_decide_per_resource(top: str, own: str, body: bytes, expected: list[str]) -> None:
    objects = kube()
    entry: dict[str, Any] = {"kind": "GitRepository", "name": "*", "matchLabels": {}}
    if own:
        entry["filter"] = own
    headers = JSON if body.startswith(b"{") else {"content-type": "text/plain"}
    req = resourcefilter.request_variable(headers, body)
    annotate_resources(objects, receiver([entry], top), req)  # type: ignore[arg-type]
    assert objects.requested() == expected


def test_a_filter_that_fails_on_a_resource_fails_the_request() -> None:
    objects = kube()
    with pytest.raises(AnnotateError, match="no such key"):
        annotate_resources(objects, receiver([{"kind": "GitRepository", "name": "backend"}],  # type: ignore[arg-type]
                                             "res.metadata.labels.tier == 'x'"))
    assert objects.requested() == []


def test_a_filter_that_is_not_boolean_fails_the_request() -> None:
    with pytest.raises(AnnotateError, match="as boolean"):
        annotate_resources(kube(), receiver([{"kind": "GitRepository", "name": "backend"}],  # type: ignore[arg-type]
                                            "res.metadata.name"))


@pytest.mark.parametrize("spec, field", [
    ({"resourceFilter": "res.metadata.name =="}, "spec.resourceFilter"),
    ({"resourceFilter": "claims.sub == 'x'"}, "spec.resourceFilter"),  # only res and req are declared
    ({"resources": [{"kind": "GitRepository", "name": "a"}, {"kind": "GitRepository", "name": "b",
                                                              "filter": "request.x"}]}, "spec.resources[1].filter"),
], ids=["syntax", "undeclared-variable", "per-resource"])
def test_invalid_filters_are_configuration_errors_naming_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(cel.CELParseError, match=field.replace("[", r"\[").replace("]", r"\]")):
        resourcefilter.compile_filters(spec)


@pytest.mark.parametrize("headers, body, expected", [
    ({"content-type": "application/json; charset=utf-8"}, b'{"a": 1} trailing', {"a": 1}),
    ({"content-type": "text/plain, application/json"}, b'{"a": 1}', {"a": 1}),
    ({}, b'{"a": 1}', {}),
    (JSON, b"null", {}),
])
def test_req_is_the_json_body_only_when_declared_json(headers: dict[str, str], body: bytes,
                                                      expected: dict[str, Any]) -> None:
    assert resourcefilter.request_variable(headers, body) == expected


@pytest.mark.parametrize("body", [b"{broken", b"[1, 2]"])
def test_an_undecodable_json_body_is_an_error(body: bytes) -> None:
    with pytest.raises(resourcefilter.RequestBodyError, match="failed to parse request body as JSON"):
        resourcefilter.request_variable(JSON, body)


class Secrets:
    def __init__(self, token: str | None) -> None:
        self.token = token

    def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
        if self.token is None:
            raise NotFound(f"secret {namespace}/{name} not found")
        return {"data": {"token": base64.b64encode(self.token.encode()).decode()}}


class Events:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.reasons.append(reason)


def reconcile(spec: dict[str, Any], token: str | None, status: dict[str, Any] | None = None) -> tuple[Any, Events]:
    obj = {"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
           "metadata": {"name": "hook", "namespace": "apps", "generation": 2}, "status": status or {},
           "spec": {"type": "generic", "secretRef": {"name": "token"},
                    "resources": [{"kind": "GitRepository", "name": "x"}], **spec}}
    events = Events()
    ctx = Context(kube=Secrets(token), events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    return ReceiverReconciler(ReceiverIndex()).reconcile(obj, ctx), events


def test_ready_receiver_requeues_at_its_interval_so_a_rotated_token_changes_the_path() -> None:
    first, _ = reconcile({"interval": "2m"}, "old")
    assert first.requeue_after == 120.0 and first.status["webhookPath"] == webhook_path("old", "hook", "apps")
    rotated, _ = reconcile({"interval": "2m"}, "new", first.status)
    assert rotated.status["webhookPath"] == webhook_path("new", "hook", "apps") != first.status["webhookPath"]
    assert reconcile({}, "old")[0].requeue_after == 600.0  # Flux's default interval, 10m


def test_a_vanished_token_clears_the_published_path() -> None:
    ready, _ = reconcile({}, "old")
    failed, events = reconcile({}, None, ready.status)
    assert "webhookPath" not in failed.status and events.reasons == [cond.TOKEN_NOT_FOUND]


def test_an_invalid_filter_stalls_the_receiver_with_flux_reason() -> None:
    result, events = reconcile({"resourceFilter": "res.metadata.name =="}, "tok", {"webhookPath": "/hook/old"})
    ready = cond.find(result.status["conditions"], cond.READY)
    stalled = cond.find(result.status["conditions"], cond.STALLED)
    assert ready and ready["status"] == "False" and ready["reason"] == cond.INVALID_CEL_EXPRESSION
    assert stalled and stalled["status"] == "True" and "spec.resourceFilter" in ready["message"]
    assert "webhookPath" not in result.status and result.requeue_after is None
    assert events.reasons == [cond.INVALID_CEL_EXPRESSION]


def test_generic_oidc_filters_read_the_verified_claims() -> None:
    objects = kube()
    spec = receiver([{"kind": "GitRepository", "name": "*", "matchLabels": {}}],
                    "res.metadata.labels.team == claims.team")
    spec["spec"]["type"] = "generic-oidc"
    annotate_resources(objects, spec, {}, {"team": "api"})  # type: ignore[arg-type]
    assert objects.requested() == ["backend"]


def test_the_token_is_used_as_stored_trailing_newline_included() -> None:
    """notification-controller salts the path with the Secret's bytes as they are (``kubectl create secret
    --from-file`` keeps the file's newline), so the sandbox's path is the one ``flux`` computes from the same bytes."""
    result, _ = reconcile({}, "tok\n")
    assert result.status["webhookPath"] == webhook_path("tok\n", "hook", "apps") != webhook_path("tok", "hook", "apps")
