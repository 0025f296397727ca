"""Comments on pull requests on the local git server for real: Gitea's issue-comment API over HTTP (shapes,
statuses, errors, the 0600 store), the `giteapullrequestcomment` Provider's calls against it through the
dispatcher's own sender (one comment per Provider and object, edited in place), and `sandbox repo pr show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sandbox.cli import repo as repo_cli
from sandbox.cli.main import cli
from sandbox.git.base import GitServer
from sandbox.reconciler.notification import providers
from sandbox.reconciler.notification.dispatch import Delivery, post
from sandbox.reconciler.notification.providers import changerequest
from sandbox.reconciler.notification.providers.base import Settings
from tests.integration.git.conftest import RunningServer
from tests.integration.git.test_local_pulls import api, branch
from tests.integration.git.test_local_server import seeded

COMMENT_FIELDS = {"id", "html_url", "pull_request_url", "issue_url", "user", "original_author",
                  "original_author_id", "body", "assets", "created_at", "updated_at"}


def opened(running: RunningServer, repo: str, tmp_path: Path) -> None:
    seeded(running.client, repo, tmp_path)
    branch(running, repo, "bump", {"apps/app.yaml": "kind: ConfigMap # 2\n"}, "Bump")
    running.client.open_pull_request(repo, head="bump", base="main", title="Bump app")


def test_issue_comment_api_shapes_and_errors(local_server: RunningServer, tmp_path: Path) -> None:
    opened(local_server, "cm-api", tmp_path)
    path = "/repos/sandbox/cm-api/issues"
    status, first = api(local_server, "POST", f"{path}/1/comments", {"body": "first"})
    assert status == 201 and set(first) == COMMENT_FIELDS
    assert first["user"]["login"] == "sandbox" and first["body"] == "first" and first["issue_url"] == ""
    assert first["pull_request_url"].endswith("/sandbox/cm-api/pulls/1")
    assert first["html_url"] == f"{first['pull_request_url']}#issuecomment-{first['id']}"
    assert first["created_at"] == first["updated_at"] and first["created_at"].endswith("Z")
    second = api(local_server, "POST", f"{path}/1/comments", {"body": "second"})[1]
    assert [c["body"] for c in api(local_server, "GET", f"{path}/1/comments")[1]] == ["first", "second"]

    status, edited = api(local_server, "PATCH", f"{path}/comments/{first['id']}", {"body": "first, edited"})
    assert status == 200 and edited["body"] == "first, edited" and edited["id"] == first["id"]
    assert api(local_server, "GET", f"{path}/comments/{first['id']}")[1]["body"] == "first, edited"
    assert api(local_server, "DELETE", f"{path}/comments/{second['id']}")[0] == 204
    assert api(local_server, "GET", f"{path}/comments/{second['id']}")[0] == 404
    assert [c["id"] for c in api(local_server, "GET", f"{path}/1/comments")[1]] == [first["id"]]
    third = api(local_server, "POST", f"{path}/1/comments", {"body": "third"})[1]
    assert third["id"] > second["id"], "ids are never reused"

    assert api(local_server, "POST", f"{path}/99/comments", {"body": "x"})[0] == 404
    assert api(local_server, "GET", f"{path}/99/comments")[0] == 404
    status, problem = api(local_server, "POST", f"{path}/1/comments", {"body": ""})
    assert status == 422 and "CreateIssueCommentOption.body is required" in problem["message"]
    assert api(local_server, "PATCH", f"{path}/comments/{first['id']}", {})[0] == 422
    assert api(local_server, "PUT", f"{path}/comments/{first['id']}", {"body": "x"})[0] == 405
    stored = local_server.layout.data / "repos" / "sandbox" / "cm-api.git" / "sandbox-comments.json"
    assert stored.stat().st_mode & 0o777 == 0o600


def kustomization_event(severity: str, message: str, uid: str = "u-1") -> dict[str, Any]:
    return {"involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                               "name": "apps", "namespace": "flux-system", "uid": uid},
            "severity": severity, "reason": "BuildFailed" if severity == "error" else "ReconciliationSucceeded",
            "message": message, "metadata": {"change_request": "1", "revision": "main@sha1:abc"}}


def send(running: RunningServer, repo: str, provider_uid: str, event: dict[str, Any]) -> None:
    settings = Settings("giteapullrequestcomment", running.client.clone_url(repo), token=running.client.token())
    request = providers.build(settings, event, provider_uid)
    assert request is not None
    post(Delivery("flux-system/pr", request, timeout=10, secrets=(settings.token,)))


def test_the_provider_comments_once_then_edits_its_comment(local_server: RunningServer, tmp_path: Path) -> None:
    opened(local_server, "cm-provider", tmp_path)
    send(local_server, "cm-provider", "p-1", kustomization_event("error", "kustomization path not found"))
    [comment] = local_server.client.list_pull_request_comments("cm-provider", 1)
    assert comment.user == "sandbox" and comment.body == changerequest.comment_body(
        changerequest.PULL_REQUEST_PREFIX, "p-1", kustomization_event("error", "kustomization path not found"))

    send(local_server, "cm-provider", "p-1", kustomization_event("info", "Applied revision: main@sha1:abc"))
    [edited] = local_server.client.list_pull_request_comments("cm-provider", 1)
    assert edited.id == comment.id and "ℹ️ Kustomization/flux-system/apps" in edited.body
    assert "Applied revision: main@sha1:abc" in edited.body and "path not found" not in edited.body

    send(local_server, "cm-provider", "p-2", kustomization_event("error", "from another Provider"))
    bodies = [c.body for c in local_server.client.list_pull_request_comments("cm-provider", 1)]
    assert len(bodies) == 2 and bodies[1].startswith("<!-- flux-pr-comment-key:p-2/Kustomization/flux-system/apps")


@pytest.fixture
def runner(local_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    def server(_name: str | None) -> GitServer:
        return local_server.client

    monkeypatch.setattr(repo_cli, "_server", server)
    return CliRunner()


def test_repo_pr_show_lists_the_comments(runner: CliRunner, local_server: RunningServer, tmp_path: Path) -> None:
    opened(local_server, "cm-cli", tmp_path)
    api(local_server, "POST", "/repos/sandbox/cm-cli/issues/1/comments", {"body": "looks good"})
    result = runner.invoke(cli, ["repo", "pr", "show", "cm-cli", "1", "-o", "json"], catch_exceptions=False)
    [comment] = json.loads(result.output)["comments"]
    assert result.exit_code == 0 and (comment["user"], comment["body"]) == ("sandbox", "looks good")
    result = runner.invoke(cli, ["repo", "pr", "show", "cm-cli", "1", "-o", "yaml"], catch_exceptions=False)
    assert yaml.safe_load(result.output)["comments"][0]["id"] == comment["id"]
    result = runner.invoke(cli, ["repo", "pr", "show", "cm-cli", "1"], catch_exceptions=False)
    assert result.exit_code == 0 and f"comment {comment['id']} by sandbox" in result.output
    assert "looks good" in result.output
