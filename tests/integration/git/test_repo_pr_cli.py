"""`sandbox repo pr …` against the real local git server (the CLI's own server seam points at it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sandbox.cli import repo as repo_cli
from sandbox.cli.main import cli
from sandbox.git.base import GitServer
from tests.integration.git.conftest import RunningServer
from tests.integration.git.test_local_pulls import branch
from tests.integration.git.test_local_server import bare_ref, seeded


@pytest.fixture
def runner(local_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    def server(_name: str | None) -> GitServer:
        return local_server.client

    monkeypatch.setattr(repo_cli, "_server", server)
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_create_list_show_merge(runner: CliRunner, local_server: RunningServer, tmp_path: Path) -> None:
    seeded(local_server.client, "cli-pr", tmp_path)
    head = branch(local_server, "cli-pr", "bump", {"apps/app.yaml": "kind: ConfigMap # 2\n"}, "Bump")
    code, out = invoke(runner, "repo", "pr", "create", "cli-pr", "--head", "bump", "--title", "Bump app")
    assert code == 0 and "opened pull request #1" in out
    code, out = invoke(runner, "repo", "pr", "list", "cli-pr", "-o", "json")
    [listed] = json.loads(out)
    assert code == 0 and (listed["number"], listed["head"], listed["base"], listed["head_sha"]) == (
        1, "bump", "main", head)
    code, out = invoke(runner, "repo", "pr", "show", "cli-pr", "1", "-o", "yaml")
    assert code == 0 and yaml.safe_load(out)["mergeable"] is True
    code, out = invoke(runner, "repo", "pr", "show", "cli-pr", "1")
    assert code == 0 and "Bump app" in out and "open" in out
    code, out = invoke(runner, "repo", "pr", "merge", "cli-pr", "1", "--style", "squash", "--delete-branch")
    merged = local_server.client.get_pull_request("cli-pr", 1)
    assert code == 0 and f"as {merged.merge_commit_sha[:12]}" in out
    assert bare_ref(local_server, "cli-pr") == merged.merge_commit_sha
    assert bare_ref(local_server, "cli-pr", "refs/heads/bump") == ""
    code, out = invoke(runner, "repo", "pr", "list", "cli-pr", "--state", "all")
    assert code == 0 and "merged" in out


def test_old_form_close_reopen_and_errors(runner: CliRunner, local_server: RunningServer, tmp_path: Path) -> None:
    seeded(local_server.client, "cli-pr2", tmp_path)
    branch(local_server, "cli-pr2", "feature", {"f.txt": "x\n"}, "feature")
    # `sandbox repo pr REPO --head …` (before `pr` was a group) still opens one.
    code, out = invoke(runner, "repo", "pr", "cli-pr2", "--head", "feature", "--title", "Feature")
    assert code == 0 and "opened pull request #1" in out
    code, out = invoke(runner, "repo", "pr", "close", "cli-pr2", "1")
    assert code == 0 and "closed pull request #1" in out
    assert invoke(runner, "repo", "pr", "list", "cli-pr2", "-o", "json") == (0, "[]\n")
    code, out = invoke(runner, "repo", "pr", "reopen", "cli-pr2", "1")
    assert code == 0 and "reopened" in out
    code, out = invoke(runner, "repo", "pr", "merge", "cli-pr2", "1", "--style", "rebase")
    assert code == 1 and "'rebase' is not supported" in out and "merge, squash, fast-forward-only" in out
    code, out = invoke(runner, "repo", "pr", "show", "cli-pr2", "9")
    assert code == 1 and "pull request #9 does not exist" in out
    code, out = invoke(runner, "repo", "pr", "create", "cli-pr2", "--head", "nope", "--title", "x")
    assert code == 1 and "head branch 'nope' does not exist" in out


def test_hook_add_subscribes_to_pull_request_events(runner: CliRunner, local_server: RunningServer,
                                                    tmp_path: Path) -> None:
    seeded(local_server.client, "cli-hooks", tmp_path)
    code, out = invoke(runner, "repo", "hook", "add", "cli-hooks", "http://127.0.0.1:9/h", "--event", "push",
                       "--event", "pull_request")
    assert code == 0 and "push, pull_request events" in out
    [hook] = local_server.client.list_webhooks("cli-hooks")
    assert hook.events == ("push", "pull_request")
