"""Push payloads and webhook signing: Gitea's field names and headers, GitHub's signature header."""

import hashlib
import hmac
import json

from sandbox.git import shapes
from sandbox.git.delivery import headers, new_delivery, redact_url, signature, signature_valid
from sandbox.git.store import HookMeta, RepoMeta
from sandbox.tools.git import ZERO_SHA, CommitInfo, Identity

META = RepoMeta(id=7, name="app", owner="sandbox", private=True, default_branch="main", description="",
                created_at=0.0)
A, B = "a" * 40, "b" * 40


def commit(sha: str, **changes: list[str]) -> CommitInfo:
    who = Identity("Ada", "ada@example.com")
    return CommitInfo(sha=sha, message="change\n", author=who, author_date="2024-01-01T00:00:00+00:00",
                      committer=who, committer_date="2024-01-01T00:00:01+00:00", **changes)


def test_push_payload_has_giteas_fields() -> None:
    repo = shapes.repository(META, base_url="http://127.0.0.1:1234", empty=False)
    payload = shapes.push_payload(repo=repo, pusher="sandbox", ref="refs/heads/main", before=A, after=B,
                                  commits=[commit(B, added=["new.yaml"], modified=["old.yaml"])], total_commits=1)
    assert payload["ref"] == "refs/heads/main"
    assert (payload["before"], payload["after"]) == (A, B)
    assert payload["compare_url"] == f"http://127.0.0.1:1234/sandbox/app/compare/{A}...{B}"
    assert payload["total_commits"] == 1
    assert payload["head_commit"]["id"] == B
    first = payload["commits"][0]
    assert first["url"] == f"http://127.0.0.1:1234/sandbox/app/commit/{B}"
    assert first["author"] == {"name": "Ada", "email": "ada@example.com", "username": ""}
    assert (first["added"], first["removed"], first["modified"]) == (["new.yaml"], [], ["old.yaml"])
    assert first["timestamp"] == "2024-01-01T00:00:01+00:00"
    assert payload["repository"]["full_name"] == "sandbox/app"
    assert payload["repository"]["clone_url"] == "http://127.0.0.1:1234/sandbox/app.git"
    assert payload["repository"]["html_url"] == "http://127.0.0.1:1234/sandbox/app"
    assert payload["pusher"]["login"] == payload["sender"]["login"] == "sandbox"


def test_deleted_branch_has_no_head_commit_or_compare_url() -> None:
    repo = shapes.repository(META, base_url="http://h", empty=False)
    payload = shapes.push_payload(repo=repo, pusher="p", ref="refs/heads/old", before=A, after=ZERO_SHA,
                                  commits=[], total_commits=0)
    assert payload["head_commit"] is None and payload["compare_url"] == "" and payload["commits"] == []


def test_hook_json_never_carries_the_secret() -> None:
    data = shapes.hook(HookMeta(id=3, url="http://r/hook", secret="s3cr3t-value", created_at=0.0))
    assert "s3cr3t-value" not in json.dumps(data)
    assert data["config"] == {"url": "http://r/hook", "content_type": "json"}
    assert data["type"] == "gitea" and data["events"] == ["push"]


def test_signature_is_hex_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"ref": "refs/heads/main"}'
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert signature(body, "key") == expected
    assert signature_valid(body, "key", expected)
    assert signature_valid(body, "key", f"sha256={expected}")
    assert not signature_valid(body + b" ", "key", expected)
    assert not signature_valid(body, "other", expected)


def test_headers_are_giteas_and_githubs() -> None:
    delivery = new_delivery(repo="sandbox/app", hook_id=1, url="http://r", secret="key", event="push",
                            payload={"ref": "refs/heads/main"}, summary={})
    sent = headers(delivery)
    digest = hmac.new(b"key", delivery.body, hashlib.sha256).hexdigest()
    assert sent["X-Gitea-Event"] == sent["X-GitHub-Event"] == "push"
    assert sent["X-Gitea-Delivery"] == sent["X-GitHub-Delivery"] == delivery.id
    assert sent["X-Gitea-Signature"] == digest
    assert sent["X-Hub-Signature-256"] == f"sha256={digest}"
    assert sent["X-Hub-Signature"].startswith("sha1=")
    assert sent["Content-Type"] == "application/json"
    assert json.loads(delivery.body) == {"ref": "refs/heads/main"}


def test_unsigned_delivery_has_no_signature_headers() -> None:
    delivery = new_delivery(repo="r", hook_id=1, url="http://r", secret="", event="push", payload={}, summary={})
    assert not any("Signature" in key for key in headers(delivery))


def test_logged_urls_lose_user_info_and_query() -> None:
    assert redact_url("http://user:pw@127.0.0.1:9292/hook/abc?token=x") == "http://127.0.0.1:9292/hook/abc"
