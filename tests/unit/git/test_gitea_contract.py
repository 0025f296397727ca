"""Contract tests of the Gitea backend, without Gitea: every request the client makes is checked against an
excerpt of Gitea's OpenAPI spec (path, method, query, auth, required and known body fields) and answered with
responses written by hand from the spec's schemas, served by a small HTTP server in this test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.errors import Conflict, NotFound
from sandbox.git import gitea
from sandbox.git.gitea import GiteaGitServer
from sandbox.git.restapi import LocalAPI
from sandbox.git.store import RepoStore
from sandbox.httpserve import serve
from sandbox.reconciler.notification import providers
from sandbox.reconciler.notification.dispatch import Delivery, post
from sandbox.reconciler.notification.providers.base import Settings

DATA = Path(__file__).parent / "data"
SPEC = json.loads((DATA / "gitea_openapi_excerpt.json").read_text())
ANSWERS = json.loads((DATA / "gitea_responses.json").read_text())
TOKEN = "0123456789abcdef0123456789abcdef01234567"


def template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


TEMPLATES = [(template_regex(path), path) for path in SPEC["paths"]]


def spec_operation(path: str) -> tuple[str, dict[str, Any]] | None:
    for regex, template in TEMPLATES:
        if regex.match(path):
            return template, SPEC["paths"][template]
    return None


def body_violations(definition_name: str, body: Any) -> list[str]:
    definition = SPEC["definitions"][definition_name]
    if not isinstance(body, dict):
        return [f"{definition_name}: body is not an object"]
    problems = [f"{definition_name}: missing required {field!r}" for field in definition["required"]
                if body.get(field) in (None, "")]
    problems += [f"{definition_name}: unknown field {field!r}" for field in body
                 if field not in definition["properties"]]
    for field, allowed in definition.get("enum", {}).items():
        if field in body and body[field] not in allowed:
            problems.append(f"{definition_name}.{field}: {body[field]!r} not in the spec's enum")
    for field in definition.get("config_required", []):
        if not (body.get("config") or {}).get(field):
            problems.append(f"{definition_name}.config: missing {field!r}")
    return problems


class FakeGitea:
    """Checks each request against the spec excerpt and answers from the hand-written responses."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.requests: list[tuple[str, str, Any]] = []
        self.repos: dict[str, dict[str, Any]] = {}
        self.hooks: dict[str, list[dict[str, Any]]] = {}
        self.pulls: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                status, answer = fake.answer(self.command, self.path, self.headers.get("Authorization", ""),
                                             self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def do_PATCH(self) -> None:
                self._serve()

        self.server = serve(Handler, name="fake-gitea")
        self.url = self.server.url

    def answer(self, method: str, raw_path: str, authorization: str, raw_body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        body = json.loads(raw_body) if raw_body else None
        self.requests.append((method, raw_path, body))
        if TOKEN in raw_path:
            self.violations.append(f"token in URL: {raw_path}")
        if not parts.path.startswith("/api/v1/"):
            self.violations.append(f"not below basePath /api/v1: {parts.path}")
            return 404, ANSWERS["notFound"]
        path = parts.path[len("/api/v1"):]
        found = spec_operation(path)
        if found is None:
            self.violations.append(f"path not in Gitea's spec: {path}")
            return 404, ANSWERS["notFound"]
        template, operations = found
        operation = operations.get(method.lower())
        if operation is None:
            self.violations.append(f"{method} not allowed on {template} by the spec")
            return 405, ANSWERS["notFound"]
        if authorization != f"token {TOKEN}":
            self.violations.append(f"{method} {path} without 'Authorization: token …'")
            return 401, {"message": "token is required"}
        for key in parse_qs(parts.query):
            if key not in operation.get("query", []):
                self.violations.append(f"query parameter {key!r} not in the spec of {method} {template}")
        if "body" in operation:
            self.violations += body_violations(operation["body"], body)
        return self.respond(operation["operationId"], path, body, parse_qs(parts.query))

    def respond(self, operation_id: str, path: str, body: Any, query: dict[str, list[str]]) -> tuple[int, Any]:
        segments = path.strip("/").split("/")
        repo = segments[2] if segments[0] == "repos" else ""
        if repo and operation_id != "createCurrentUserRepo" and repo not in self.repos:
            return 404, ANSWERS["notFound"]
        if operation_id == "getVersion":
            return 200, ANSWERS["ServerVersion"]
        if operation_id == "userCurrentListRepos":
            page, limit = int(query.get("page", ["1"])[0]), int(query.get("limit", ["30"])[0])
            return 200, list(self.repos.values())[(page - 1) * limit: page * limit]
        if operation_id == "createCurrentUserRepo":
            if body["name"] in self.repos:
                return 409, ANSWERS["error409"]
            created = json.loads(json.dumps(ANSWERS["Repository"]).replace("fleet-infra", body["name"]))
            created["private"] = body.get("private", False)
            created["default_branch"] = body.get("default_branch") or "main"
            self.repos[body["name"]] = created
            return 201, created
        if operation_id == "repoGet":
            return 200, self.repos[repo]
        if operation_id == "repoDelete":
            del self.repos[repo]
            return 204, None
        if operation_id == "repoCreateHook":
            hook = dict(ANSWERS["Hook"], id=len(self.hooks.get(repo, [])) + 1, events=body.get("events", []),
                        active=body.get("active", False),
                        config={"url": body["config"]["url"], "content_type": body["config"]["content_type"]})
            self.hooks.setdefault(repo, []).append(hook)
            return 201, hook
        if operation_id == "repoListHooks":
            return 200, self.hooks.get(repo, [])
        if operation_id == "repoDeleteHook":
            self.hooks[repo] = [h for h in self.hooks.get(repo, []) if h["id"] != int(segments[4])]
            return 204, None
        if operation_id == "repoCreatePullRequest":
            pull = dict(ANSWERS["PullRequest"], title=body["title"], number=len(self.pulls) + 1)
            self.pulls.append(pull)
            return 201, pull
        if operation_id == "repoListPullRequests":
            state = query.get("state", ["open"])[0]
            return 200, [p for p in reversed(self.pulls) if state == "all" or p["state"] == state]
        if operation_id in ("repoGetPullRequest", "repoEditPullRequest", "repoMergePullRequest",
                            "repoPullRequestIsMerged"):
            pull = next((p for p in self.pulls if p["number"] == int(segments[4])), None)
            if pull is None:
                return 404, ANSWERS["notFound"]
            if operation_id == "repoEditPullRequest":
                pull.update({k: v for k, v in body.items() if k in ("title", "body", "state")})
                return 201, pull
            if operation_id == "repoMergePullRequest":
                if pull["merged"]:
                    return 405, {"message": "PR already merged"}
                pull.update(merged=True, state="closed", merge_commit_sha="3" * 40)
                return 200, None
            if operation_id == "repoPullRequestIsMerged":
                return (204 if pull["merged"] else 404), None
            return 200, pull
        if operation_id == "userGetCurrent":
            return 200, ANSWERS["User"]
        if operation_id in ("issueGetComments", "issueCreateComment"):
            if not any(p["number"] == int(segments[4]) for p in self.pulls):
                return 404, ANSWERS["notFound"]
            if operation_id == "issueGetComments":
                return 200, [c for c in self.comments if c["pull_request_url"].endswith(f"/pulls/{segments[4]}")]
            comment = dict(ANSWERS["Comment"], id=len(self.comments) + 1, body=body["body"],
                           pull_request_url=f"http://127.0.0.1:3000/sandbox/{repo}/pulls/{segments[4]}")
            self.comments.append(comment)
            return 201, comment
        if operation_id == "issueEditComment":
            comment = next((c for c in self.comments if c["id"] == int(segments[5])), None)
            if comment is None:
                return 404, ANSWERS["notFound"]
            comment["body"] = body["body"]
            return 200, comment
        return 500, {"message": f"the fake has no answer for {operation_id}"}

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def fake() -> Iterator[FakeGitea]:
    server = FakeGitea()
    yield server
    server.stop()
    assert server.violations == [], "requests outside Gitea's spec"


@pytest.fixture
def client(fake: FakeGitea) -> GiteaGitServer:
    return GiteaGitServer(url=fake.url, token=TOKEN, owner="sandbox")


def test_repository_lifecycle_speaks_giteas_api(client: GiteaGitServer, fake: FakeGitea) -> None:
    created = client.create_repo("fleet-infra", default_branch="main")
    assert created.private is True and created.empty is True
    assert created.clone_url == f"{fake.url}/sandbox/fleet-infra.git"
    assert created.html_url == "http://127.0.0.1:3000/sandbox/fleet-infra"
    assert client.get_repo("fleet-infra").full_name == "sandbox/fleet-infra"
    assert [r.name for r in client.list_repos()] == ["fleet-infra"]
    client.delete_repo("fleet-infra")
    assert client.list_repos() == []
    methods = [(method, path.split("?")[0]) for method, path, _ in fake.requests]
    assert ("POST", "/api/v1/user/repos") in methods and ("DELETE", "/api/v1/repos/sandbox/fleet-infra") in methods
    create_body = next(body for method, path, body in fake.requests if method == "POST")
    assert create_body["private"] is True and create_body["auto_init"] is False


def test_public_repository(client: GiteaGitServer, fake: FakeGitea) -> None:
    assert client.create_repo("site", public=True).private is False


def test_missing_repository_is_not_found_naming_it(client: GiteaGitServer) -> None:
    with pytest.raises(NotFound) as info:
        client.get_repo("ghost")
    assert "sandbox/ghost does not exist on the gitea git server" in str(info.value)
    assert "sandbox repo create ghost" in str(info.value)


def test_duplicate_repository_is_a_conflict_with_giteas_message(client: GiteaGitServer) -> None:
    client.create_repo("app")
    with pytest.raises(Conflict, match="same name already exists"):
        client.create_repo("app")


def test_listing_follows_giteas_pages(client: GiteaGitServer, fake: FakeGitea) -> None:
    for index in range(60):
        client.create_repo(f"r{index:02d}")
    assert len(client.list_repos()) == 60
    pages = [path for method, path, _ in fake.requests if method == "GET" and path.startswith("/api/v1/user/repos")]
    assert pages == ["/api/v1/user/repos?page=1&limit=50", "/api/v1/user/repos?page=2&limit=50"]


def test_webhooks_are_created_active_json_and_signed(client: GiteaGitServer, fake: FakeGitea) -> None:
    client.create_repo("app")
    hook = client.register_webhook("app", "http://127.0.0.1:9292/hook/abc", "s3cret")
    assert hook.active and hook.events == ("push",) and hook.url == "http://127.0.0.1:9292/hook/abc"
    body = next(body for method, path, body in fake.requests if path.endswith("/hooks") and method == "POST")
    assert body == {"type": "gitea", "active": True, "events": ["push"],
                    "config": {"url": "http://127.0.0.1:9292/hook/abc", "content_type": "json", "secret": "s3cret"}}
    assert [h.id for h in client.list_webhooks("app")] == [hook.id]
    client.delete_webhook("app", hook.id)
    assert client.list_webhooks("app") == []


def test_pull_request(client: GiteaGitServer, fake: FakeGitea) -> None:
    client.create_repo("fleet-infra")
    pull = client.open_pull_request("fleet-infra", head="bump", base="main", title="Bump app")
    assert pull.number == 1 and pull.state == "open" and pull.title == "Bump app"
    assert pull.html_url.endswith("/sandbox/fleet-infra/pulls/1")


def test_pull_request_list_get_close_merge(client: GiteaGitServer, fake: FakeGitea) -> None:
    client.create_repo("fleet-infra")
    first = client.open_pull_request("fleet-infra", head="bump", base="main", title="Bump app")
    second = client.open_pull_request("fleet-infra", head="bump", base="main", title="Other")
    assert [p.number for p in client.list_pull_requests("fleet-infra")] == [second.number, first.number]
    got = client.get_pull_request("fleet-infra", first.number)
    assert (got.head, got.base, got.head_sha, got.mergeable) == ("bump", "main", "2" * 40, True)
    assert client.set_pull_request_state("fleet-infra", second.number, "closed").state == "closed"
    assert [p.number for p in client.list_pull_requests("fleet-infra", state="closed")] == [second.number]
    merged = client.merge_pull_request("fleet-infra", first.number, style="squash", title="T", delete_branch=True)
    assert merged.merged and merged.merge_commit_sha == "3" * 40
    body = next(body for method, path, body in fake.requests if path.endswith("/merge") and method == "POST")
    assert body == {"Do": "squash", "MergeTitleField": "T", "delete_branch_after_merge": True}
    assert client.api.is_pull_merged("sandbox", "fleet-infra", first.number)
    with pytest.raises(Conflict, match=r"PR already merged.*HTTP 405"):
        client.merge_pull_request("fleet-infra", first.number)


def test_pull_request_comments_are_listed_with_giteas_issue_comment_api(client: GiteaGitServer,
                                                                          fake: FakeGitea) -> None:
    client.create_repo("fleet-infra")
    client.open_pull_request("fleet-infra", head="bump", base="main", title="Bump app")
    assert client.list_pull_request_comments("fleet-infra", 1) == []
    fake.comments.append(dict(ANSWERS["Comment"], body="looks good"))
    [comment] = client.list_pull_request_comments("fleet-infra", 1)
    assert (comment.id, comment.user, comment.body) == (1, "sandbox", "looks good")
    assert comment.html_url.endswith("/pulls/1#issuecomment-1")
    with pytest.raises(NotFound):
        client.list_pull_request_comments("fleet-infra", 9)


def test_the_giteapullrequestcomment_provider_speaks_giteas_api(client: GiteaGitServer, fake: FakeGitea) -> None:
    """The Provider's calls, through the dispatcher's sender, against the spec: create, then edit its own comment.
    Like Gitea's Go SDK it sends ``page`` and ``limit`` when listing, which issueGetComments ignores."""
    client.create_repo("fleet-infra")
    client.open_pull_request("fleet-infra", head="bump", base="main", title="Bump app")
    settings = Settings("giteapullrequestcomment", f"{fake.url}/sandbox/fleet-infra.git", token=TOKEN)

    def send(severity: str, message: str) -> None:
        event = {"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
                 "severity": severity, "message": message, "metadata": {"change_request": "1"}}
        request = providers.build(settings, event, "uid-1")
        assert request is not None
        post(Delivery("flux-system/pr", request, timeout=10, secrets=(TOKEN,)))

    send("error", "build failed")
    send("info", "applied")
    calls = [(method, path.split("?")[0]) for method, path, _ in fake.requests if "/issues" in path or
             path.endswith("/user")]
    [comment] = client.list_pull_request_comments("fleet-infra", 1)
    assert comment.body.startswith("<!-- flux-pr-comment-key:uid-1/Kustomization/flux-system/apps -->\n\n")
    assert "ℹ️ Kustomization/flux-system/apps\n\napplied" in comment.body
    assert calls[-6:] == [("GET", "/api/v1/user"), ("GET", "/api/v1/repos/sandbox/fleet-infra/issues/1/comments"),
                          ("POST", "/api/v1/repos/sandbox/fleet-infra/issues/1/comments"),
                          ("GET", "/api/v1/user"), ("GET", "/api/v1/repos/sandbox/fleet-infra/issues/1/comments"),
                          ("PATCH", "/api/v1/repos/sandbox/fleet-infra/issues/comments/1")]
    sdk_paging = [v for v in fake.violations if "query parameter" in v]
    assert len(sdk_paging) == 4 and all("'page'" in v or "'limit'" in v for v in sdk_paging)
    fake.violations = [v for v in fake.violations if v not in sdk_paging]


def test_the_local_servers_api_is_a_subset_of_giteas(tmp_path: Path) -> None:
    """Every operation the local server answers is one of the spec's (same path template and method)."""
    api = LocalAPI(RepoStore(tmp_path, "sandbox"), base_url="http://x")
    samples = {"{owner}": "sandbox", "{repo}": "app", "{id}": "1", "{index}": "1", "{sha}": "a" * 40}
    spec_operations = set()
    for template, operations in SPEC["paths"].items():
        concrete = template
        for placeholder, value in samples.items():
            concrete = concrete.replace(placeholder, value)
        spec_operations |= {(method.upper(), concrete) for method in operations}
    for method, pattern in api.routes():
        assert any(m == method and pattern.match(path) for m, path in spec_operations), \
            f"the local server answers {method} {pattern.pattern}, which is not in Gitea's spec"


def test_container_settings() -> None:
    env = gitea.container_env(3123)
    assert env["GITEA__security__INSTALL_LOCK"] == "true"
    assert env["GITEA__database__DB_TYPE"] == "sqlite3"
    assert env["GITEA__server__HTTP_ADDR"] == "127.0.0.1" and env["GITEA__server__HTTP_PORT"] == "3123"
    assert env["GITEA__server__ROOT_URL"] == "http://127.0.0.1:3123/"
    for section in ("security", "webhook"):  # Gitea 1.27 reads [security], earlier releases [webhook]
        assert set(env[f"GITEA__{section}__ALLOWED_HOST_LIST"].split(",")) == {"loopback", "private",
                                                                              "host.docker.internal"}
    assert env["GITEA__server__DISABLE_SSH"] == "true" and env["GITEA__server__START_SSH_SERVER"] == "false"
    assert gitea.DEFAULT_IMAGE.endswith("-rootless"), "the root image runs sshd, on the host's network"


def test_admin_commands() -> None:
    create_user, create_token = gitea.admin_commands(password="pw", token_name="t1")
    assert create_user[:4] == ["gitea", "admin", "user", "create"]
    assert {"--admin", "--must-change-password=false"} <= set(create_user)
    assert create_user[create_user.index("--username") + 1] == "sandbox"
    assert create_token[:4] == ["gitea", "admin", "user", "generate-access-token"]
    assert create_token[create_token.index("--scopes") + 1] == "all" and "--raw" in create_token


@pytest.mark.parametrize("printed", [f"{TOKEN}\n", f"Access token was successfully created: {TOKEN}\n"],
                         ids=["raw", "sentence"])
def test_token_is_read_from_either_output_form(printed: str) -> None:
    assert gitea.parse_token(printed) == TOKEN
