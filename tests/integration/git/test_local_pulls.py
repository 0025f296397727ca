"""Pull requests on the local git server for real: the Gitea-shaped API over HTTP, merges announced as pushes,
pull_request webhooks, and AGit pushes to refs/for/<base> with plain `git push -o`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import Conflict, InputError
from sandbox.git import repo as repos
from sandbox.git.base import GitServer
from sandbox.git.webhook_recorder import Received, WebhookRecorder
from sandbox.tools.git import git
from sandbox.waiting import wait_until
from tests.integration.git.conftest import RunningServer
from tests.integration.git.test_local_server import bare_ref, seeded


def api(running: RunningServer, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """A raw call (status and JSON) to see exactly what the server answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{running.client.url}/api/v1{path}", data=data, method=method)
    request.add_header("Authorization", f"token {running.client.token()}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def branch(running: RunningServer, repo: str, name: str, files: dict[str, str], message: str) -> str:
    """Commit ``files`` on branch ``name`` (made from main when new) and push it."""
    with repos.temporary_clone(running.client, repo) as copy:
        exists = copy.git("branch", "--remotes", "--list", f"origin/{name}").strip()
        copy.git("checkout", "--quiet", "-B", name, f"origin/{name}" if exists else "origin/main")
        return copy.commit_and_push(dict(files), message, branch=name)


def events_of(recorder: WebhookRecorder, kind: str) -> list[Received]:
    return [r for r in recorder.snapshot() if r.headers.get("X-Gitea-Event") == kind]


def test_pull_request_api_create_list_get_merge(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    base_before = seeded(server, "pr-api", tmp_path)
    head = branch(local_server, "pr-api", "bump", {"apps/app.yaml": "kind: ConfigMap # 1.0.1\n"}, "Bump app")
    with WebhookRecorder() as recorder:
        server.register_webhook("pr-api", recorder.url, "", events=("push", "pull_request"))
        status, created = api(local_server, "POST", "/repos/sandbox/pr-api/pulls",
                              {"head": "bump", "base": "main", "title": "Bump app", "body": "please"})
        assert status == 201
        assert created["number"] == 1 and created["state"] == "open" and created["merged"] is False
        assert created["head"] | {"repo": None} == {"label": "bump", "ref": "bump", "sha": head,
                                                    "repo_id": created["base"]["repo_id"], "repo": None}
        assert created["base"]["ref"] == "main" and created["base"]["sha"] == base_before
        assert created["mergeable"] is True and created["merge_base"] == base_before
        assert created["html_url"].endswith("/sandbox/pr-api/pulls/1")
        assert created["diff_url"] == created["html_url"] + ".diff"
        assert created["user"]["login"] == "sandbox" and created["merged_at"] is None

        status, body = api(local_server, "POST", "/repos/sandbox/pr-api/pulls",
                           {"head": "bump", "base": "main", "title": "again"})
        assert status == 409 and "already exists" in body["message"]
        assert api(local_server, "GET", "/repos/sandbox/pr-api/pulls/1/merge")[0] == 404
        assert [p["number"] for p in api(local_server, "GET", "/repos/sandbox/pr-api/pulls?state=open")[1]] == [1]
        assert api(local_server, "GET", "/repos/sandbox/pr-api/pulls?state=closed")[1] == []
        status, body = api(local_server, "POST", "/repos/sandbox/pr-api/pulls/1/merge", {"Do": "rebase"})
        assert status == 405 and "merge, squash, fast-forward-only" in body["message"]

        merged = server.merge_pull_request("pr-api", 1, style="merge")
        assert merged.merged and merged.state == "closed" and merged.merge_commit_sha
        assert bare_ref(local_server, "pr-api") == merged.merge_commit_sha
        assert api(local_server, "GET", "/repos/sandbox/pr-api/pulls/1/merge")[0] == 204
        # The merge reaches webhooks exactly as a push of main would, then the pull_request closed event.
        push = wait_until(lambda: next((r for r in events_of(recorder, "push")
                                        if r.json()["ref"] == "refs/heads/main"), None),
                          timeout=5, what="the push webhook of the merge")
        assert push.json()["before"] == base_before and push.json()["after"] == merged.merge_commit_sha
        assert push.json()["head_commit"]["message"].startswith("Merge pull request 'Bump app' (#1)")
        wait_until(lambda: {r.json()["action"] for r in events_of(recorder, "pull_request")} >= {"opened", "closed"},
                   timeout=5, what="pull_request opened and closed webhooks")
    closed = next(r.json() for r in events_of(recorder, "pull_request") if r.json()["action"] == "closed")
    assert closed["pull_request"]["merged"] is True and closed["number"] == 1


def test_push_to_head_synchronises_and_close_reopen(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    seeded(server, "pr-sync", tmp_path)
    branch(local_server, "pr-sync", "feature", {"a.txt": "1\n"}, "one")
    pull = server.open_pull_request("pr-sync", head="feature", base="main", title="Feature")
    with WebhookRecorder() as recorder:
        server.register_webhook("pr-sync", recorder.url, "", events=("pull_request",))
        second = branch(local_server, "pr-sync", "feature", {"a.txt": "2\n"}, "two")
        sync = wait_until(lambda: next(iter(events_of(recorder, "pull_request")), None), timeout=5,
                          what="the synchronized webhook")
        assert sync.headers["X-Gitea-Event-Type"] == "pull_request_sync"
        assert sync.json()["action"] == "synchronized" and sync.json()["pull_request"]["head"]["sha"] == second
    assert server.get_pull_request("pr-sync", pull.number).head_sha == second
    assert bare_ref(local_server, "pr-sync", f"refs/pull/{pull.number}/head") == second
    assert server.set_pull_request_state("pr-sync", pull.number, "closed").state == "closed"
    assert server.list_pull_requests("pr-sync") == []
    assert server.set_pull_request_state("pr-sync", pull.number, "open").state == "open"
    status, body = api(local_server, "PATCH", f"/repos/sandbox/pr-sync/pulls/{pull.number}", {"title": "Renamed"})
    assert status == 201 and body["title"] == "Renamed"


def test_conflicting_merge_is_409_with_the_file(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    seeded(server, "pr-conflict", tmp_path)
    branch(local_server, "pr-conflict", "left", {"README.md": "left\n"}, "left")
    before = branch(local_server, "pr-conflict", "main", {"README.md": "right\n"}, "right")
    pull = server.open_pull_request("pr-conflict", head="left", base="main", title="Left")
    assert pull.mergeable is False
    with pytest.raises(Conflict, match=r"conflict.*README.md.*HTTP 409"):
        server.merge_pull_request("pr-conflict", pull.number)
    assert bare_ref(local_server, "pr-conflict") == before
    with pytest.raises(InputError, match="no changes"):
        server.open_pull_request("pr-conflict", head="main", base="main", title="x")


def test_agit_push_opens_then_updates_one_pull_request(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    seeded(server, "pr-agit", tmp_path)
    copy = repos.clone(server, "pr-agit", tmp_path / "agit")
    repos.remember_credentials(copy, token_file=local_server.layout.token_file)
    with WebhookRecorder() as recorder:
        server.register_webhook("pr-agit", recorder.url, "", events=("push", "pull_request"))
        copy.write({"apps/app.yaml": "kind: ConfigMap # 1.0.1\n"})
        copy.commit("Update app to 1.0.1")
        pushed = git(["push", "-o", "topic=flux-updates", "-o", "title=Image updates", "-o",
                      "description=Automated", "origin", "HEAD:refs/for/main"], cwd=copy.path)
        assert "refs/pull/1/head" in pushed.stderr and "Pull request #1 opened" in pushed.stderr
        first = copy.head()
        [pull] = server.list_pull_requests("pr-agit")
        assert (pull.number, pull.head, pull.base, pull.title, pull.body) == (1, "sandbox/flux-updates", "main",
                                                                               "Image updates", "Automated")
        assert pull.head_sha == first and pull.mergeable
        raw = api(local_server, "GET", "/repos/sandbox/pr-agit/pulls/1")[1]
        assert raw["head"]["ref"] == "refs/pull/1/head" and raw["head"]["label"] == "sandbox/flux-updates"

        copy.write({"apps/app.yaml": "kind: ConfigMap # 1.0.2\n"})
        copy.commit("Update app to 1.0.2")
        git(["push", "-o", "topic=flux-updates", "origin", "HEAD:refs/for/main"], cwd=copy.path)
        [again] = server.list_pull_requests("pr-agit")
        assert again.number == 1 and again.head_sha == copy.head() != first
        assert "refs/for/main" not in git(["ls-remote", server.clone_url("pr-agit")], auth=server.auth()).stdout

        # Without a topic the push is refused with Gitea's reason.
        copy.write({"x.txt": "x\n"})
        copy.commit("no topic")
        with pytest.raises(Exception, match="topic-branch is not set"):
            git(["push", "origin", "HEAD:refs/for/main"], cwd=copy.path)
        wait_until(lambda: [r.json()["action"] for r in events_of(recorder, "pull_request")] == ["opened",
                                                                                               "synchronized"],
                   timeout=5, what="opened then synchronized webhooks",
                   describe=lambda: repr([r.json()["action"] for r in events_of(recorder, "pull_request")]))
        assert not [r for r in events_of(recorder, "push") if r.json()["ref"].startswith("refs/pull/")]
    merged = server.merge_pull_request("pr-agit", 1, style="squash")
    assert merged.merged and bare_ref(local_server, "pr-agit") == merged.merge_commit_sha


def pull_request_round_trip(server: GitServer, repo: str, tmp_path: Path) -> None:
    """The same pull-request workflow on any backend (the Gitea integration test runs it against real Gitea):
    open from a branch, list, show, merge; then AGit open and update."""
    copy = repos.clone(server, repo, tmp_path / f"{repo}-round-trip")
    base = copy.head()
    copy.checkout("feature", create=True)
    head = copy.commit_and_push({"feature.txt": "one\n"}, "Add a feature", branch="feature")
    pull = server.open_pull_request(repo, head="feature", base="main", title="Feature")
    assert (pull.head, pull.base, pull.state, pull.merged) == ("feature", "main", "open", False)
    assert [p.number for p in server.list_pull_requests(repo)] == [pull.number]
    shown = server.get_pull_request(repo, pull.number)
    assert shown.head_sha == head and shown.base_sha == base
    merged = wait_until(lambda: server.merge_pull_request(repo, pull.number, style="merge"), timeout=30,
                        what="the pull request to be mergeable and merged")  # Gitea checks mergeability async
    assert merged.merged and merged.state == "closed"
    remote = git(["ls-remote", server.clone_url(repo), "refs/heads/main"], auth=server.auth()).stdout.split()[0]
    assert remote == merged.merge_commit_sha
    assert server.list_pull_requests(repo) == []

    copy.git("checkout", "--quiet", "-B", "agit", "origin/main")
    copy.git("pull", "--quiet", "origin", "main")
    copy.write({"agit.txt": "1\n"})
    copy.commit("AGit change")
    git(["push", "-o", "topic=round-trip", "-o", "title=By AGit", "origin", "HEAD:refs/for/main"], cwd=copy.path,
        auth=server.auth())
    opened = wait_until(lambda: next(iter(server.list_pull_requests(repo)), None), timeout=15,
                        what="the AGit pull request")
    # The head of an AGit pull request is user/topic; Gitea 1.27's API no longer names it (label "", ref
    # refs/pull/N/head).
    heads = {f"{server.owner}/round-trip"}
    if server.backend == "gitea":
        heads.add(f"refs/pull/{opened.number}/head")
    assert opened.head in heads and (opened.title, opened.head_sha) == ("By AGit", copy.head())
    copy.write({"agit.txt": "2\n"})
    copy.commit("AGit change, again")
    git(["push", "-o", "topic=round-trip", "origin", "HEAD:refs/for/main"], cwd=copy.path, auth=server.auth())
    updated = wait_until(lambda: (p := server.get_pull_request(repo, opened.number)).head_sha == copy.head() and p,
                         timeout=15, what="the AGit pull request to follow the second push")
    assert updated.number == opened.number and len(server.list_pull_requests(repo)) == 1


def test_round_trip_on_the_local_server(local_server: RunningServer, tmp_path: Path) -> None:
    seeded(local_server.client, "pr-round-trip", tmp_path)
    pull_request_round_trip(local_server.client, "pr-round-trip", tmp_path)
