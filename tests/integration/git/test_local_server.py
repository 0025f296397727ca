"""The local git server for real: git clone/push over smart HTTP, auth, webhooks and their retries."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sandbox.errors import CommandError, InputError, NotFound
from sandbox.git import repo as repos
from sandbox.git.delivery import DeliveryLog
from sandbox.git.gitea_api import GiteaAPI
from sandbox.git.local import LocalGitServer
from sandbox.git.webhook_recorder import Received, WebhookRecorder
from sandbox.ports import free_ports
from sandbox.tools.git import ZERO_SHA, git
from sandbox.waiting import wait_until
from tests.integration.git.conftest import RunningServer


def seeded(server: LocalGitServer, name: str, tmp_path: Path, *, public: bool = False) -> str:
    source = tmp_path / f"{name}-seed"
    (source / "apps").mkdir(parents=True)
    (source / "apps" / "app.yaml").write_text("kind: ConfigMap\n")
    (source / "README.md").write_text("# seed\n")
    server.create_repo(name, public=public)
    return repos.seed_from_dir(server, name, source)


def bare_ref(running: RunningServer, name: str, ref: str = "refs/heads/main") -> str:
    git_dir = running.layout.data / "repos" / "sandbox" / f"{name}.git"
    return git(["--git-dir", str(git_dir), "rev-parse", "--verify", "--quiet", ref], ok_codes=(0, 1)).stdout.strip()


def http_status(url: str, *, auth: tuple[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers.items())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items())


def test_seed_clone_commit_push_roundtrip(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    sha = seeded(server, "roundtrip", tmp_path)
    assert bare_ref(local_server, "roundtrip") == sha
    assert server.get_repo("roundtrip").empty is False

    copy = repos.clone(server, "roundtrip", tmp_path / "work")
    assert (copy.path / "apps" / "app.yaml").read_text() == "kind: ConfigMap\n"
    assert copy.head() == sha and copy.branch() == "main"
    pushed = copy.commit_and_push({"apps/app.yaml": "kind: Secret\n", "README.md": None, "new/file.txt": "x"},
                                  "change, delete and add")
    assert bare_ref(local_server, "roundtrip") == pushed != sha

    second = repos.clone(server, "roundtrip", tmp_path / "second")
    assert (second.path / "apps" / "app.yaml").read_text() == "kind: Secret\n"
    assert not (second.path / "README.md").exists()
    assert (second.path / "new" / "file.txt").read_text() == "x"


def test_wrong_token_is_401_and_nothing_is_pushed(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    sha = seeded(server, "guarded", tmp_path)
    intruder = LocalGitServer(url=server.url, token="not-the-token", owner="sandbox")
    copy = repos.WorkingCopy(tmp_path / "work", intruder, "guarded")
    git(["clone", "--quiet", server.clone_url("guarded"), str(copy.path)], auth=server.auth())
    copy.write({"evil.txt": "x"})
    copy.commit("should never land")
    with pytest.raises(CommandError) as info:
        copy.push()
    assert "Authentication failed" in str(info.value)
    assert "not-the-token" not in str(info.value)
    assert bare_ref(local_server, "guarded") == sha
    status, headers = http_status(f"{server.clone_url('guarded')}/info/refs?service=git-receive-pack",
                                  auth=("sandbox", "not-the-token"))
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")


def test_private_fetch_needs_the_token_public_fetch_does_not(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    seeded(server, "secretive", tmp_path)
    public_sha = seeded(server, "open-book", tmp_path, public=True)

    status, _ = http_status(f"{server.clone_url('secretive')}/info/refs?service=git-upload-pack")
    assert status == 401
    with pytest.raises(CommandError, match=r"could not read Username|Authentication failed"):
        git(["clone", "--quiet", server.clone_url("secretive"), str(tmp_path / "no-token")])
    assert not (tmp_path / "no-token").exists()

    git(["clone", "--quiet", server.clone_url("open-book"), str(tmp_path / "anonymous")])
    assert git(["rev-parse", "HEAD"], cwd=tmp_path / "anonymous").stdout.strip() == public_sha
    status, _ = http_status(f"{server.clone_url('open-book')}/info/refs?service=git-receive-pack")
    assert status == 401, "pushing to a public repository still needs the token"


def test_invalid_names_and_missing_repositories_are_clear_errors(local_server: RunningServer,
                                                                   tmp_path: Path) -> None:
    server = local_server.client
    with pytest.raises(InputError, match="invalid repository name 'bad name'"):
        server.create_repo("bad name")
    raw = GiteaAPI(server.url, server.token())  # past the client's own check: the server refuses too
    with pytest.raises(InputError, match=r"invalid repository name 'x\.git'.*HTTP 422"):
        raw.create_repo("x.git", private=True, default_branch="main")
    with pytest.raises(NotFound, match="sandbox/ghost does not exist on the local git server; create it with"):
        repos.clone(server, "ghost", tmp_path / "ghost")

    work = tmp_path / "orphan"
    git(["init", "--quiet", "-b", "main", str(work)])
    (work / "f").write_text("x")
    git(["add", "f"], cwd=work)
    git(["commit", "--quiet", "-m", "x"], cwd=work, identity=repos.DEFAULT_IDENTITY)
    with pytest.raises(CommandError, match=r"repository 'http://127\.0\.0\.1:[0-9]+/sandbox/ghost\.git/' not found"):
        git(["push", "--quiet", server.clone_url("ghost"), "main"], cwd=work, auth=server.auth())
    status, _ = http_status(f"{server.clone_url('ghost')}/info/refs?service=git-receive-pack",
                            auth=("sandbox", server.token()))
    assert status == 404


def test_push_webhook_is_signed_and_arrives_within_a_second(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    before = seeded(server, "hooked", tmp_path)
    with WebhookRecorder(secret="webhook-secret") as recorder:
        hook = server.register_webhook("hooked", recorder.url, "webhook-secret")
        assert [h.id for h in server.list_webhooks("hooked")] == [hook.id]
        after = repos.commit_files(server, "hooked", {"apps/app.yaml": "kind: Secret\n", "README.md": None,
                                                      "apps/new.yaml": "kind: Namespace\n"}, "bump")
        pushed_at = time.time()
        got: Received = wait_until(lambda: next(iter(recorder.snapshot()), None), timeout=5,
                                   what="the push webhook")
    assert got.at - pushed_at < 1.0, f"webhook arrived {got.at - pushed_at:.3f}s after the push returned"
    assert got.gitea_signature_ok and got.github_signature_ok
    assert got.headers["X-Gitea-Event"] == got.headers["X-GitHub-Event"] == "push"
    assert got.headers["X-Gitea-Delivery"] == got.headers["X-GitHub-Delivery"]
    payload = got.json()
    assert (payload["ref"], payload["before"], payload["after"]) == ("refs/heads/main", before, after)
    assert payload["total_commits"] == 1 and payload["head_commit"]["id"] == after
    change = payload["commits"][0]
    assert (change["added"], change["removed"], change["modified"]) == (["apps/new.yaml"], ["README.md"],
                                                                       ["apps/app.yaml"])
    assert change["message"] == "bump\n"
    assert payload["repository"]["full_name"] == "sandbox/hooked"
    assert payload["repository"]["clone_url"] == server.clone_url("hooked")
    assert payload["pusher"]["login"] == "sandbox"
    server.delete_webhook("hooked", hook.id)
    assert server.list_webhooks("hooked") == []


def test_new_and_deleted_branches_are_pushes_too(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    base = seeded(server, "branchy", tmp_path)
    with WebhookRecorder() as recorder:
        server.register_webhook("branchy", recorder.url, "")
        copy = repos.clone(server, "branchy", tmp_path / "work")
        copy.checkout("feature", create=True)
        tip = copy.commit_and_push({"f.txt": "1"}, "on feature")
        copy.git("push", "--quiet", "origin", ":refs/heads/feature")
        wait_until(lambda: len(recorder.snapshot()) >= 2, timeout=5, what="two webhooks")
    created, deleted = sorted((r.json() for r in recorder.snapshot()), key=lambda p: p["after"] == ZERO_SHA)
    assert (created["ref"], created["before"], created["after"]) == ("refs/heads/feature", ZERO_SHA, tip)
    assert [c["id"] for c in created["commits"]] == [tip], "only what main did not already have"
    assert base not in [c["id"] for c in created["commits"]]
    assert (deleted["before"], deleted["after"], deleted["commits"]) == (tip, ZERO_SHA, [])
    assert "X-Gitea-Signature" not in recorder.snapshot()[0].headers, "no secret, no signature"


def test_first_push_lists_its_commits(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    server.create_repo("fresh")
    source = tmp_path / "fresh-seed"
    source.mkdir()
    (source / "a.txt").write_text("a")
    with WebhookRecorder() as recorder:
        server.register_webhook("fresh", recorder.url, "")
        sha = repos.seed_from_dir(server, "fresh", source)
        got = wait_until(lambda: next(iter(recorder.snapshot()), None), timeout=5, what="the first push's webhook")
    payload = got.json()
    assert (payload["ref"], payload["before"], payload["after"]) == ("refs/heads/main", ZERO_SHA, sha)
    assert [c["id"] for c in payload["commits"]] == [sha] and payload["commits"][0]["added"] == ["a.txt"]


def test_every_push_is_logged_hooks_or_not(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    push_log = DeliveryLog(local_server.layout.push_log)
    first = seeded(server, "logged", tmp_path)  # no webhook registered
    copy = repos.clone(server, "logged", tmp_path / "work")
    second = copy.commit_and_push({"b.txt": "b"}, "second\n\nwith a body")

    def logged() -> list[dict[str, object]]:
        return [e for e in push_log.read() if e["repo"] == "sandbox/logged"]

    entries = wait_until(lambda: len(logged()) >= 2 and logged(), timeout=5, what="both pushes in the push log")
    assert [(e["ref"], e["before"], e["after"]) for e in entries] == [
        ("refs/heads/main", ZERO_SHA, first), ("refs/heads/main", first, second)]
    assert entries[1]["commits"] == [{"sha": second, "message": "second\n\nwith a body"}]
    assert entries[1]["total_commits"] == 1 and entries[1]["pusher"]
    assert isinstance(entries[1]["at"], float)
    assert local_server.layout.push_log.stat().st_mode & 0o777 == 0o600


def test_receiver_down_gets_retries_and_the_push_still_succeeds(local_server: RunningServer,
                                                                tmp_path: Path) -> None:
    server = local_server.client
    seeded(server, "patient", tmp_path)
    port = free_ports(1)[0]  # nothing listens here yet
    hook = server.register_webhook("patient", f"http://127.0.0.1:{port}/hook", "retry-secret")
    started = time.monotonic()
    sha = repos.commit_files(server, "patient", {"x.txt": "1"}, "while the receiver is down")
    assert time.monotonic() - started < 5, "the push must not wait for the receiver"
    assert bare_ref(local_server, "patient") == sha
    log = DeliveryLog(local_server.layout.delivery_log)

    def attempts(outcome: str) -> list[dict[str, object]]:
        return [e for e in log.read() if e["hook_id"] == hook.id and e["outcome"] == outcome]

    wait_until(lambda: len(attempts("retrying")) >= 2, timeout=10, what="two failed attempts")
    with WebhookRecorder(secret="retry-secret", port=port) as recorder:
        delivered = wait_until(lambda: attempts("delivered"), timeout=15, what="the retried delivery")
        assert recorder.snapshot()[0].gitea_signature_ok
    assert delivered[0]["attempt"] >= 3 and delivered[0]["after"] == sha
    retried = attempts("retrying")
    assert {e["delivery"] for e in retried} == {delivered[0]["delivery"]}, "one delivery, several attempts"
    assert all(e["status"] is None and e["error"] for e in retried)
    text = local_server.layout.delivery_log.read_text()
    assert "retry-secret" not in text and server.token() not in text
    assert local_server.layout.delivery_log.stat().st_mode & 0o777 == 0o600


def test_5xx_answers_are_retried_with_the_same_delivery(local_server: RunningServer, tmp_path: Path) -> None:
    server = local_server.client
    seeded(server, "flaky", tmp_path)
    with WebhookRecorder(secret="s", statuses=[500, 503]) as recorder:
        server.register_webhook("flaky", recorder.url, "s")
        repos.commit_files(server, "flaky", {"y.txt": "1"}, "flaky receiver")
        wait_until(lambda: len(recorder.snapshot()) >= 3, timeout=10, what="three attempts")
    got = recorder.snapshot()
    assert [r.status for r in got] == [500, 503, 200]
    assert len({r.headers["X-Gitea-Delivery"] for r in got}) == 1
    assert len({r.body for r in got}) == 1 and all(r.gitea_signature_ok for r in got)


def test_large_push_is_streamed(local_server: RunningServer, tmp_path: Path) -> None:
    """More than git's 1 MiB post buffer: the client sends the pack chunked, the server streams it through."""
    server = local_server.client
    server.create_repo("bulky")
    blob = os.urandom(3 * 2**20)
    source = tmp_path / "bulky-seed"
    source.mkdir()
    (source / "blob.bin").write_bytes(blob)
    sha = repos.seed_from_dir(server, "bulky", source)
    copy = repos.clone(server, "bulky", tmp_path / "bulky")
    assert copy.head() == sha and (copy.path / "blob.bin").read_bytes() == blob


def test_secrets_files_are_private(local_server: RunningServer) -> None:
    assert local_server.layout.token_file.stat().st_mode & 0o777 == 0o600
    assert local_server.client.token() not in local_server.log.read_text()
    listed = json.dumps([h.to_dict() for r in local_server.client.list_repos()
                         for h in local_server.client.list_webhooks(r.name)])
    assert "webhook-secret" not in listed and "retry-secret" not in listed
