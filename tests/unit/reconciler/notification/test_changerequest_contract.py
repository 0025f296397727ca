"""``githubpullrequestcomment`` and ``gitlabmergerequestcomment`` against local doubles of the documented APIs,
over HTTP through the dispatcher's sender: each double keeps the comments it is given and answers only the
documented operations (GitHub REST "Issues > Comments" and "Users > Get the authenticated user"; GitLab "Notes"
on merge requests and "Users > current user"), with their paths, methods, auth header and body fields — anything
else is answered 404 and recorded as a violation. A failure then a recovery is one comment, edited."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.httpserve import LoopbackServer
from sandbox.reconciler.notification.dispatch import Delivery, post
from sandbox.reconciler.notification.providers import build
from sandbox.reconciler.notification.providers.base import Settings

UID = "0c9c2e41-1234-4b5c-9d8e-abcdefabcdef"


@dataclass(frozen=True)
class Operation:
    method: str
    path: re.Pattern[str]
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()  # the body fields documented (all required here: `body`)


@dataclass
class Forge:
    """What one forge documents, how it names a comment's author, and how it authenticates."""

    name: str
    auth_header: str
    auth_value: str
    user: dict[str, Any]
    author_field: str
    operations: dict[str, Operation]
    comments: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)


def github() -> Forge:
    # docs.github.com/en/rest/issues/comments and /rest/users/users#get-the-authenticated-user (api root /api/v3
    # on GitHub Enterprise Server). "List issue comments" documents since, per_page, page; go-github (which Flux
    # uses) also sends sort and direction, which that endpoint ignores — accepted here as Flux sends them.
    repo = r"/api/v3/repos/org/app/issues"
    return Forge("github", "authorization", "Bearer ghp", {"login": "flux-bot", "id": 1, "type": "User"}, "user", {
        "user": Operation("GET", re.compile(r"^/api/v3/user$")),
        "list": Operation("GET", re.compile(rf"^{repo}/(\d+)/comments$"),
                          ("since", "per_page", "page", "sort", "direction")),
        "create": Operation("POST", re.compile(rf"^{repo}/(\d+)/comments$"), body=("body",)),
        "edit": Operation("PATCH", re.compile(rf"^{repo}/comments/(\d+)$"), body=("body",)),
    })


def gitlab() -> Forge:
    # docs.gitlab.com/api/notes (merge requests: list with sort, order_by and pagination; create; modify with PUT)
    # and docs.gitlab.com/api/users (GET /user). The project id is the URL-encoded path.
    notes = r"/api/v4/projects/group%2Fapp/merge_requests/(\d+)/notes"
    return Forge("gitlab", "private-token", "glpat", {"username": "flux-bot", "id": 1}, "author", {
        "user": Operation("GET", re.compile(r"^/api/v4/user$")),
        "list": Operation("GET", re.compile(rf"^{notes}$"), ("sort", "order_by", "per_page", "page")),
        "create": Operation("POST", re.compile(rf"^{notes}$"), body=("body",)),
        "edit": Operation("PUT", re.compile(rf"^{notes}/(\d+)$"), body=("body",)),
    })


def answer(forge: Forge, method: str, raw_path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
    parts = urlsplit(raw_path)
    forge.calls.append((method, parts.path))
    if headers.get(forge.auth_header) != forge.auth_value:
        forge.violations.append(f"{method} {parts.path} without {forge.auth_header}")
        return 401, {"message": "Bad credentials"}
    for name, operation in forge.operations.items():
        match = operation.path.match(parts.path)
        if match is None or operation.method != method:
            continue
        unknown = [key for key in parse_qs(parts.query) if key not in operation.query]
        if unknown:
            forge.violations.append(f"{method} {parts.path}: undocumented query {unknown}")
        if operation.body and (not isinstance(body, dict) or set(body) != set(operation.body)
                               or not isinstance(body.get("body"), str) or not body["body"]):
            forge.violations.append(f"{method} {parts.path}: body {body!r} is not {list(operation.body)}")
        if name == "user":
            return 200, forge.user
        if name == "list":
            return 200, list(forge.comments)
        if name == "create":
            comment = {"id": 100 + len(forge.comments), "body": body["body"], forge.author_field: forge.user}
            forge.comments.append(comment)
            return 201, comment
        existing = next((c for c in forge.comments if c["id"] == int(match.groups()[-1])), None)
        if existing is None:
            return 404, {"message": "Not Found"}
        existing["body"] = body["body"]
        return 200, existing
    forge.violations.append(f"{method} {parts.path} is not a documented operation")
    return 404, {"message": "Not Found"}


@pytest.fixture(params=["github", "gitlab"])
def forge(request: pytest.FixtureRequest) -> Iterator[tuple[Forge, str]]:
    served = github() if request.param == "github" else gitlab()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with lock:
                status, data = answer(served, self.command, self.path,
                                      {k.lower(): v for k, v in self.headers.items()}, body)
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = LoopbackServer(Handler, name=f"{served.name}-double")
    with server:
        yield served, server.url


def send(forge: Forge, url: str, severity: str, message: str) -> None:
    provider_type = "githubpullrequestcomment" if forge.name == "github" else "gitlabmergerequestcomment"
    address = f"{url}/org/app" if forge.name == "github" else f"{url}/group/app"
    token = "ghp" if forge.name == "github" else "glpat"
    event = {"involvedObject": {"kind": "HelmRelease", "namespace": "preview", "name": "app-42"},
             "severity": severity, "message": message, "reason": "x",
             "metadata": {"change_request": "42", "revision": "1.0.0"}, "reportingController": "helm-controller"}
    request = build(Settings(provider_type, address, token=token), event, UID)
    assert request is not None
    post(Delivery("preview/pr", request, 5.0, secrets=(token,)))


def test_a_failure_then_a_recovery_is_one_comment_edited(forge: tuple[Forge, str]) -> None:
    served, url = forge
    served.comments.append({"id": 7, "body": "LGTM", served.author_field: {"login": "reviewer",
                                                                           "username": "reviewer"}})
    send(served, url, "error", "install failed")
    send(served, url, "info", "Helm install succeeded")
    assert served.violations == []
    ours = [c for c in served.comments if c["id"] != 7]
    assert len(ours) == 1
    prefix = "flux-pr-comment-key" if served.name == "github" else "flux-mr-comment-key"
    assert ours[0]["body"].startswith(f"<!-- {prefix}:{UID}/HelmRelease/preview/app-42 -->\n\n## Flux Status\n\n"
                                      "ℹ️ HelmRelease/preview/app-42\n\nHelm install succeeded\n\nMetadata:\n"
                                      "* `revision`: 1.0.0\n")
    edit = "PATCH" if served.name == "github" else "PUT"
    assert [method for method, _ in served.calls] == ["GET", "GET", "POST", "GET", "GET", edit]
