"""Change-request comment providers (giteapullrequestcomment, githubpullrequestcomment, gitlabmergerequestcomment):
the body as upstream's formatMarkdownPost with the key marker, which change request an event selects, which events
the providers get, and the calls each makes against a fake of the ``Fetch`` seam: the user, the first page of
comments, then an edit of the comment holding the marker or a new comment — in each forge's documented shapes."""

from __future__ import annotations

import base64
import json
import logging
import threading
from typing import Any

import pytest

from sandbox.errors import InputError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.notification import providers
from sandbox.reconciler.notification.dispatch import Dispatcher
from sandbox.reconciler.notification.providers import changerequest
from sandbox.reconciler.notification.providers.base import Request, Settings

UID = "0c9c2e41-d2f9-4f9e-a1a0-7f6d8e2c1b3a"
ANNOTATED = {"event.toolkit.fluxcd.io/change_request": "3"}


def event(severity: str = "error", message: str = "kustomization path not found",
          metadata: dict[str, str] | None = None) -> dict[str, Any]:
    return {"involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                               "name": "apps", "namespace": "flux-system"},
            "severity": severity, "reason": "BuildFailed", "message": message,
            "metadata": {"change_request": "3", "revision": "main@sha1:abc"} if metadata is None else metadata,
            "reportingController": "kustomize-controller"}


MARKER = f"<!-- flux-pr-comment-key:{UID}/Kustomization/flux-system/apps -->"


@pytest.mark.parametrize(("severity", "metadata", "expected"), [
    pytest.param("error", {"change_request": "3", "revision": "main@sha1:abc", "env": "dev"},
                 f"{MARKER}\n\n## Flux Status\n\n⚠️ Kustomization/flux-system/apps\n\nkustomization path not found"
                 "\n\nMetadata:\n* `env`: dev\n* `revision`: main@sha1:abc\n", id="error-metadata-sorted"),
    pytest.param("info", {"change_request": "3"},
                 f"{MARKER}\n\n## Flux Status\n\nℹ️ Kustomization/flux-system/apps\n\nkustomization path not found"
                 "\n\nMetadata:\n", id="info-only-change-request"),
])
def test_comment_body_is_upstreams_markdown_post_after_the_marker(severity: str, metadata: dict[str, str],
                                                                   expected: str) -> None:
    body = changerequest.comment_body(changerequest.PULL_REQUEST_PREFIX, UID, event(severity, metadata=metadata))
    assert body == expected


def test_gitlab_marks_its_notes_with_the_merge_request_prefix() -> None:
    assert changerequest.marker(changerequest.MERGE_REQUEST_PREFIX, UID, event()) == (
        f"<!-- flux-mr-comment-key:{UID}/Kustomization/flux-system/apps -->")


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param("7", 7, id="plain"), pytest.param("+7", 7, id="signed"), pytest.param("007", 7, id="zeros")])
def test_change_request_number(value: str, expected: int) -> None:
    assert changerequest.change_request_number(event(metadata={"change_request": value})) == expected


@pytest.mark.parametrize(("metadata", "message"), [
    pytest.param({}, 'missing "change_request" metadata key', id="missing"),
    pytest.param({"change_request": "abc"}, 'invalid "change_request" metadata value "abc"', id="word"),
    pytest.param({"change_request": "1_0"}, 'invalid "change_request" metadata value "1_0"', id="underscore"),
    pytest.param({"change_request": " 7"}, 'invalid "change_request" metadata value " 7"', id="space"),
])
def test_a_missing_or_bad_change_request_is_an_error(metadata: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        changerequest.change_request_number(event(metadata=metadata))


@pytest.mark.parametrize(("provider_type", "annotations", "metadata", "sent"), [
    pytest.param("giteapullrequestcomment", ANNOTATED, {}, True, id="annotated"),
    pytest.param("giteapullrequestcomment", {}, {"change_request": "3"}, False,
                 id="alert-eventMetadata-alone-is-not-enough"),
    pytest.param("githubpullrequestcomment", {"event.toolkit.fluxcd.io/change_request": ""}, {}, False,
                 id="empty-annotation"),
    pytest.param("gitlabmergerequestcomment", ANNOTATED, {"commit_status": "update"}, False,
                 id="commit-status-update-is-for-commit-status-providers"),
    pytest.param("gitea", {}, {"commit_status": "update"}, True, id="commit-status-provider-unchanged"),
    pytest.param("generic", {}, {}, True, id="other-types-need-no-annotation"),
])
def test_which_events_change_request_providers_get(provider_type: str, annotations: dict[str, str],
                                                   metadata: dict[str, str], sent: bool) -> None:
    assert providers.sends(provider_type, event(metadata=metadata), annotations) is sent


class FakeForge:
    """Answers the ``Fetch`` calls of one exchange from canned JSON and records them."""

    def __init__(self, user: dict[str, Any], comments: list[dict[str, Any]]) -> None:
        self.user, self.comments = user, comments
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(self, method: str, url: str, body: bytes | None) -> bytes:
        self.calls.append((method, url, None if body is None else json.loads(body)))
        if method == "GET":
            return json.dumps(self.user if len(self.calls) == 1 else self.comments).encode()
        return b"{}"


def run(request: Request, forge: FakeForge) -> list[tuple[str, str, Any]]:
    assert request.exchange is not None
    request.exchange(forge)
    return forge.calls


def gitea_comment(comment_id: int, login: str, body: str) -> dict[str, Any]:
    return {"id": comment_id, "user": {"login": login}, "body": body}


GITEA = Settings("giteapullrequestcomment", "http://127.0.0.1:3000/sandbox/fleet.git", token="t0ken")
GITEA_API = "http://127.0.0.1:3000/api/v1"


def test_gitea_creates_a_comment_when_none_of_its_own_holds_the_marker() -> None:
    request = providers.build(GITEA, event(), UID)
    assert request is not None and request.headers == {"Content-Type": "application/json",
                                                       "Authorization": "token t0ken"}
    forge = FakeForge({"login": "flux-bot"}, [gitea_comment(1, "someone", MARKER), gitea_comment(2, "flux-bot", "hi")])
    calls = run(request, forge)
    body = changerequest.comment_body(changerequest.PULL_REQUEST_PREFIX, UID, event())
    assert calls == [
        ("GET", f"{GITEA_API}/user", None),
        ("GET", f"{GITEA_API}/repos/sandbox/fleet/issues/3/comments?limit=100&page=1", None),
        ("POST", f"{GITEA_API}/repos/sandbox/fleet/issues/3/comments", {"body": body}),
    ]


def test_gitea_edits_the_first_of_its_own_comments_holding_the_marker() -> None:
    forge = FakeForge({"login": "flux-bot"}, [gitea_comment(4, "flux-bot", f"{MARKER}\n\nold"),
                                              gitea_comment(9, "flux-bot", f"{MARKER}\n\nolder")])
    request = providers.build(GITEA, event("info", "Applied revision"), UID)
    assert request is not None
    method, url, sent = run(request, forge)[-1]
    assert (method, url) == ("PATCH", f"{GITEA_API}/repos/sandbox/fleet/issues/comments/4")
    assert sent["body"].startswith(f"{MARKER}\n\n## Flux Status\n\nℹ️ ") and "Applied revision" in sent["body"]


def test_gitea_takes_the_password_when_there_is_no_token_and_needs_one_of_them() -> None:
    request = providers.build(Settings("giteapullrequestcomment", GITEA.address, password="pw"), event(), UID)
    assert request is not None and request.headers["Authorization"] == "token pw"
    with pytest.raises(InputError, match="gitea token cannot be empty"):
        providers.build(Settings("giteapullrequestcomment", GITEA.address), event(), UID)
    assert "t0ken" not in repr(providers.build(GITEA, event(), UID))


def test_github_uses_the_issue_comments_api_with_a_bearer_token() -> None:
    settings = Settings("githubpullrequestcomment", "https://github.com/org/app", token="ghp")
    request = providers.build(settings, event(), UID)
    assert request is not None and request.headers["Authorization"] == "Bearer ghp"
    forge = FakeForge({"login": "bot"}, [{"id": 77, "user": {"login": "bot"}, "body": f"x {MARKER} y"}])
    calls = run(request, forge)
    assert [(m, u) for m, u, _ in calls] == [
        ("GET", "https://api.github.com/user"),
        ("GET", "https://api.github.com/repos/org/app/issues/3/comments?direction=asc&per_page=100&sort=created"),
        ("PATCH", "https://api.github.com/repos/org/app/issues/comments/77"),
    ]


def test_github_enterprise_is_under_api_v3_and_creates_when_nothing_matches() -> None:
    settings = Settings("githubpullrequestcomment", "https://ghe.example.com/org/app", token="ghp")
    request = providers.build(settings, event(), UID)
    assert request is not None
    calls = run(request, FakeForge({"login": "bot"}, []))
    assert calls[-1][:2] == ("POST", "https://ghe.example.com/api/v3/repos/org/app/issues/3/comments")


def test_gitlab_uses_merge_request_notes_edited_with_put() -> None:
    settings = Settings("gitlabmergerequestcomment", "https://gitlab.example.com/group/app", token="glpat")
    request = providers.build(settings, event(), UID)
    assert request is not None and request.headers["PRIVATE-TOKEN"] == "glpat"
    mr_marker = changerequest.marker(changerequest.MERGE_REQUEST_PREFIX, UID, event())
    forge = FakeForge({"username": "bot"}, [{"id": 5, "author": {"username": "bot"}, "body": MARKER},
                                            {"id": 6, "author": {"username": "bot"}, "body": mr_marker}])
    base = "https://gitlab.example.com/api/v4/projects/group%2Fapp/merge_requests/3/notes"
    calls = run(request, forge)
    assert [(m, u) for m, u, _ in calls] == [
        ("GET", "https://gitlab.example.com/api/v4/user"),
        ("GET", f"{base}?order_by=created_at&per_page=100&sort=asc"),
        ("PUT", f"{base}/6"),
    ]
    assert calls[-1][2]["body"].startswith(mr_marker)


@pytest.mark.parametrize("provider_type", changerequest.TYPES)
def test_every_type_needs_a_token_and_a_change_request(provider_type: str) -> None:
    with pytest.raises(InputError, match="token"):
        providers.build(Settings(provider_type, "https://example.com/o/r"), event(), UID)
    with pytest.raises(InputError, match="missing \"change_request\""):
        providers.build(Settings(provider_type, "https://example.com/o/r", token="t"), event(metadata={}), UID)
    with pytest.raises(InputError, match="provider UID cannot be empty"):
        providers.build(Settings(provider_type, "https://example.com/o/r", token="t"), event(), "")


class AnnotatedKube:
    """The dispatcher's kube seam: the Provider's Secret, and the involved object with ``annotations``."""

    def __init__(self, annotations: dict[str, str]) -> None:
        self.annotations = annotations

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        return {"data": {"token": base64.b64encode(b"t0ken").decode()}}

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        return {"metadata": {"name": name, "annotations": self.annotations}}


@pytest.mark.parametrize(("annotations", "event_metadata", "number"), [
    pytest.param(ANNOTATED, {}, 3, id="annotation"),
    pytest.param(ANNOTATED, {"change_request": "8"}, 8, id="alert-eventMetadata-outranks-the-annotation"),
    pytest.param({}, {"change_request": "8"}, None, id="eventMetadata-alone-dropped"),
])
def test_the_dispatcher_selects_the_pull_request_as_upstreams_event_handler(
        annotations: dict[str, str], event_metadata: dict[str, str], number: int | None,
        caplog: pytest.LogCaptureFixture) -> None:
    provider = {"apiVersion": kinds.PROVIDER.api_version, "kind": "Provider",
                "metadata": {"name": "pr", "namespace": "flux-system", "uid": UID},
                "spec": {"type": "giteapullrequestcomment", "address": GITEA.address, "secretRef": {"name": "t"}}}
    alert = {"apiVersion": kinds.ALERT.api_version, "kind": "Alert",
             "metadata": {"name": "a", "namespace": "flux-system"},
             "spec": {"providerRef": {"name": "pr"}, "eventMetadata": event_metadata,
                      "eventSources": [{"kind": "Kustomization", "name": "*"}]}}
    kube: KubeClient = AnnotatedKube(annotations)  # type: ignore[assignment]
    dispatcher = Dispatcher(kube, lambda: [alert], lambda ns, name: provider, stop=threading.Event())
    with caplog.at_level(logging.INFO, logger="sandbox.reconciler.notification"):
        deliveries = dispatcher.deliveries(event(metadata={"revision": "main@sha1:abc"}))
    if number is None:
        assert deliveries == [] and "missing change request metadata key" in caplog.text
        return
    [delivery] = deliveries
    assert delivery.request.url == f"{GITEA_API}/repos/sandbox/fleet/issues/{number}/comments"
    assert delivery.request.exchange is not None and "t0ken" in delivery.secrets
