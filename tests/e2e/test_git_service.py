"""The git server as part of `sandbox up`: status, the `sandbox repo` commands, webhooks, credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.git import service
from sandbox.git.webhook_recorder import WebhookRecorder
from sandbox.handle import SandboxHandle
from sandbox.state import StateDir
from sandbox.tools.git import Identity, git
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli


def test_status_lists_the_git_server_and_its_record(sandbox: SandboxHandle) -> None:
    result = run_cli("status", "--name", sandbox.name, "-o", "json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    git_record = status["services"]["git"]
    assert git_record["backend"] == "local"
    assert git_record["url"].startswith("http://127.0.0.1:")
    token_file = Path(git_record["token_file"])
    assert token_file.stat().st_mode & 0o777 == 0o600
    component = next(c for c in status["components"] if c["name"] == "git-server")
    assert component["state"] == "ready" and component["healthy"] is True
    assert component["endpoints"]["url"] == git_record["url"]
    assert token_file.read_text().strip() not in result.stdout


def test_repo_commands_end_to_end(sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = sandbox.name
    seed = tmp_path / "seed"
    (seed / "apps").mkdir(parents=True)
    (seed / "apps" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    result = run_cli("repo", "create", "cli-demo", "--from", str(seed), "--name", name)
    assert result.exit_code == 0, result.output

    listed = json.loads(run_cli("repo", "list", "--name", name, "-o", "json").stdout)
    demo = next(r for r in listed if r["name"] == "cli-demo")
    assert demo["private"] is True and demo["empty"] is False
    url = run_cli("repo", "url", "cli-demo", "--name", name).stdout.strip()
    assert url == demo["clone_url"] and url.endswith("/sandbox/cli-demo.git")
    assert run_cli("repo", "url", "cli-demo", "--in-cluster", "--name", name).stdout.strip() == url

    secret = "e2e-hook-secret"
    with WebhookRecorder(secret=secret) as recorder:
        monkeypatch.setenv("E2E_HOOK_SECRET", secret)
        result = run_cli("repo", "hook", "add", "cli-demo", recorder.url, "--secret-env", "E2E_HOOK_SECRET",
                         "--name", name)
        assert result.exit_code == 0, result.output
        hooks = run_cli("repo", "hook", "list", "cli-demo", "--name", name, "-o", "json")
        assert [h["url"] for h in json.loads(hooks.stdout)] == [recorder.url] and secret not in hooks.stdout

        # A clone made by the CLI pushes with plain git: its credential helper reads the token file.
        work = tmp_path / "cli-demo"
        assert run_cli("repo", "clone", "cli-demo", str(work), "--name", name).exit_code == 0
        token = service.connect(StateDir(name)).token()
        assert token not in (work / ".git" / "config").read_text()
        (work / "apps" / "cm.yaml").write_text("apiVersion: v1\nkind: Secret\n")
        git(["commit", "--quiet", "-am", "edit"], cwd=work, identity=Identity("e2e", "e2e@example.com"))
        git(["push", "--quiet"], cwd=work)
        got = wait_until(lambda: next(iter(recorder.snapshot()), None), timeout=5, what="the push webhook")
    assert got.gitea_signature_ok and got.json()["commits"][0]["modified"] == ["apps/cm.yaml"]
    deliveries = json.loads(run_cli("repo", "hook", "deliveries", "cli-demo", "--name", name, "-o", "json").stdout)
    assert [d["outcome"] for d in deliveries] == ["delivered"]

    hidden = run_cli("repo", "token", "--name", name)
    assert token not in hidden.output and "git-token" in hidden.stdout
    assert run_cli("repo", "token", "--show", "--name", name).stdout.strip() == token

    assert run_cli("repo", "delete", "cli-demo", "--name", name).exit_code == 0
    listed = json.loads(run_cli("repo", "list", "--name", name, "-o", "json").stdout)
    assert "cli-demo" not in [r["name"] for r in listed]


@pytest.mark.parametrize(("args", "message"), [
    (("repo", "create", "bad name"), "invalid repository name 'bad name'"),
    (("repo", "clone", "ghost"), "sandbox/ghost does not exist"),
    (("repo", "pr", "ghost", "--head", "x", "--title", "t"), "does not exist"),
], ids=["invalid-name", "missing-repo", "pr-on-missing"])
def test_cli_errors_are_one_clear_line(sandbox: SandboxHandle, args: tuple[str, ...], message: str,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(*args, "--name", sandbox.name)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
