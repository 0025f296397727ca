"""The local server's Gitea-style REST API over a real repository store (git init in a temp dir)."""

import json
from pathlib import Path

import pytest

from sandbox.git.restapi import APIProblem, LocalAPI
from sandbox.git.store import RepoStore


@pytest.fixture
def api(tmp_path: Path) -> LocalAPI:
    return LocalAPI(RepoStore(tmp_path, "sandbox"), base_url="http://127.0.0.1:9")


def problem(api: LocalAPI, method: str, path: str, body: object = None) -> APIProblem:
    with pytest.raises(APIProblem) as info:
        api.handle(method, path, body, user="sandbox")
    return info.value


def test_create_get_list_delete(api: LocalAPI, tmp_path: Path) -> None:
    created = api.handle("POST", "/user/repos", {"name": "app", "private": True}, user="sandbox")
    assert created.status == 201
    assert created.body["full_name"] == "sandbox/app" and created.body["private"] is True
    assert created.body["empty"] is True and created.body["default_branch"] == "main"
    assert (tmp_path / "repos" / "sandbox" / "app.git" / "hooks" / "post-receive").stat().st_mode & 0o111
    assert api.handle("GET", "/repos/sandbox/app", None, user="sandbox").body["id"] == created.body["id"]
    assert [r["name"] for r in api.handle("GET", "/user/repos", None, user="sandbox").body] == ["app"]
    assert api.handle("DELETE", "/repos/sandbox/app", None, user="sandbox").status == 204
    assert problem(api, "GET", "/repos/sandbox/app").status == 404
    assert not (tmp_path / "repos" / "sandbox" / "app.git").exists()


def test_invalid_name_is_422_and_creates_nothing(api: LocalAPI, tmp_path: Path) -> None:
    answer = problem(api, "POST", "/user/repos", {"name": "bad name"})
    assert answer.status == 422 and "invalid repository name 'bad name'" in answer.message
    assert problem(api, "POST", "/user/repos", {}).status == 422
    assert list((tmp_path / "repos" / "sandbox").iterdir()) == []


def test_duplicate_is_409(api: LocalAPI) -> None:
    api.handle("POST", "/user/repos", {"name": "app"}, user="sandbox")
    answer = problem(api, "POST", "/user/repos", {"name": "app"})
    assert answer.status == 409 and "already exists" in answer.message


def test_hooks_keep_their_secret_to_themselves(api: LocalAPI, tmp_path: Path) -> None:
    api.handle("POST", "/user/repos", {"name": "app"}, user="sandbox")
    option = {"type": "gitea", "active": True, "events": ["push"],
              "config": {"url": "http://127.0.0.1:1/hook", "content_type": "json", "secret": "hush-hush"}}
    created = api.handle("POST", "/repos/sandbox/app/hooks", option, user="sandbox")
    assert created.status == 201 and "hush-hush" not in json.dumps(created.body)
    listed = api.handle("GET", "/repos/sandbox/app/hooks", None, user="sandbox").body
    assert [h["config"]["url"] for h in listed] == ["http://127.0.0.1:1/hook"]
    assert "hush-hush" not in json.dumps(listed)
    stored = tmp_path / "repos" / "sandbox" / "app.git" / "sandbox-hooks.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert api.handle("DELETE", f"/repos/sandbox/app/hooks/{created.body['id']}", None, user="sandbox").status == 204
    assert api.handle("GET", "/repos/sandbox/app/hooks", None, user="sandbox").body == []


@pytest.mark.parametrize(("option", "message"), [
    ({"type": "slack", "config": {"url": "http://x", "content_type": "json"}}, "type 'slack' is not supported"),
    ({"type": "gitea", "config": {"url": "http://x"}}, "needs 'url' and 'content_type'"),
    ({"type": "gitea", "config": {"url": "ftp://x", "content_type": "json"}}, "invalid webhook URL"),
    ({"type": "gitea", "config": {"url": "http://x", "content_type": "form"}}, "use 'json'"),
], ids=["type", "content-type-missing", "scheme", "form"])
def test_bad_hooks_are_422(api: LocalAPI, option: dict[str, object], message: str) -> None:
    api.handle("POST", "/user/repos", {"name": "app"}, user="sandbox")
    answer = problem(api, "POST", "/repos/sandbox/app/hooks", option)
    assert answer.status == 422 and message in answer.message


def test_pull_request_errors_have_giteas_statuses(api: LocalAPI) -> None:
    api.handle("POST", "/user/repos", {"name": "app"}, user="sandbox")
    answer = problem(api, "POST", "/repos/sandbox/app/pulls", {"head": "x", "base": "main", "title": "t"})
    assert answer.status == 404 and "base branch 'main' does not exist" in answer.message
    assert problem(api, "POST", "/repos/sandbox/app/pulls", {"head": "x", "base": "main"}).status == 422
    assert problem(api, "GET", "/repos/sandbox/app/pulls/7").status == 404
    assert problem(api, "GET", "/repos/sandbox/app/pulls/7/merge").status == 404
    assert problem(api, "POST", "/repos/sandbox/app/pulls/7/merge", {"Do": "merge"}).status == 404
    assert problem(api, "POST", "/repos/sandbox/app/pulls/7/merge", {}).status == 422
    assert problem(api, "DELETE", "/repos/sandbox/app/pulls/7").status == 405
    assert api.handle("GET", "/repos/sandbox/app/pulls", None, user="sandbox", query={"state": "all"}).body == []


def test_unknown_paths_and_methods(api: LocalAPI) -> None:
    assert problem(api, "GET", "/admin/users").status == 404
    assert problem(api, "PUT", "/user/repos").status == 405
    assert problem(api, "GET", "/repos/someone-else/app").status == 404


def test_repos_are_paged_like_gitea(api: LocalAPI) -> None:
    for index in range(3):
        api.handle("POST", "/user/repos", {"name": f"r{index}"}, user="sandbox")
    page = api.handle("GET", "/user/repos", None, user="sandbox", query={"page": "2", "limit": "2"}).body
    assert [r["name"] for r in page] == ["r2"]


def test_gitea_fields_the_local_server_lacks_are_refused_not_ignored(api: LocalAPI) -> None:
    api.handle("POST", "/user/repos", {"name": "app"}, user="sandbox")
    answer = problem(api, "POST", "/repos/sandbox/app/pulls",
                     {"head": "x", "base": "main", "title": "t", "labels": [3], "assignees": ["me"]})
    assert answer.status == 422 and "assignees, labels are not supported" in answer.message
    answer = problem(api, "PATCH", "/repos/sandbox/app/pulls/1", {"base": "develop"})
    assert answer.status == 422 and "base is not supported" in answer.message
    answer = problem(api, "POST", "/repos/sandbox/app/pulls/1/merge", {"Do": "merge", "MergeCommitID": "abc"})
    assert answer.status == 422 and "MergeCommitID" in answer.message
    # Empty values are what clients send by default: they are not a request for the feature.
    answer = problem(api, "POST", "/repos/sandbox/app/pulls", {"head": "x", "base": "main", "title": "t",
                                                               "labels": [], "milestone": 0, "assignee": ""})
    assert answer.status == 404


def test_hooks_for_events_the_server_never_sends_are_refused(api: LocalAPI) -> None:
    api.handle("POST", "/user/repos", {"name": "app"}, user="sandbox")
    option = {"type": "gitea", "active": True, "events": ["push", "issues"],
              "config": {"url": "http://127.0.0.1:1/hook", "content_type": "json"}}
    answer = problem(api, "POST", "/repos/sandbox/app/hooks", option)
    assert answer.status == 422 and "['issues'] are never sent" in answer.message
    option["events"] = ["push", "pull_request"]
    assert api.handle("POST", "/repos/sandbox/app/hooks", option, user="sandbox").body["events"] == [
        "push", "pull_request"]


def test_commit_statuses_in_giteas_shape(api: LocalAPI) -> None:
    api.handle("POST", "/user/repos", {"name": "app"}, user="sandbox")
    sha = "b" * 40
    path = f"/repos/sandbox/app/statuses/{sha}"
    created = api.handle("POST", path, {"state": "failure", "description": "build failed",
                                        "context": "kustomization/app/0c9c2e41"}, user="sandbox")
    assert created.status == 201 and created.body["status"] == "failure"
    api.handle("POST", path, {"state": "success", "description": "reconciliation succeeded",
                              "context": "kustomization/app/0c9c2e41", "target_url": ""}, user="sandbox")
    listed = api.handle("GET", path, None, user="sandbox", query={"page": "0", "limit": "50"}).body
    assert [(s["status"], s["description"]) for s in listed] == [
        ("success", "reconciliation succeeded"), ("failure", "build failed")], "newest first"
    assert listed[0]["context"] == "kustomization/app/0c9c2e41" and listed[0]["creator"]["login"] == "sandbox"
    assert api.handle("GET", f"/repos/sandbox/app/statuses/{'c' * 40}", None, user="sandbox").body == []
    assert problem(api, "POST", path, {"state": "great"}).status == 422
    assert problem(api, "POST", "/repos/sandbox/app/statuses/not-a-sha", {"state": "success"}).status == 422
    assert problem(api, "GET", f"/repos/sandbox/missing/statuses/{sha}").status == 404
