"""Gitea-shaped JSON for the local git server: users, repositories, webhooks, pull requests and payloads.

The local server answers a subset of Gitea's REST API and sends Gitea's push payload, so one client and one
webhook receiver serve both backends. Field names follow Gitea's ``modules/structs`` (Repository, User, Hook,
PushPayload, PayloadCommit).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.git.pulls import PullMeta
from sandbox.git.store import HookMeta, RepoMeta
from sandbox.tools.git import ZERO_SHA, CommitInfo


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def user(login: str, *, user_id: int = 1) -> dict[str, Any]:
    return {"id": user_id, "login": login, "username": login, "login_name": "", "full_name": "",
            "email": f"{login}@sandbox.local", "avatar_url": "", "is_admin": True}


def repository(meta: RepoMeta, *, base_url: str, empty: bool) -> dict[str, Any]:
    html_url = f"{base_url}/{meta.full_name}"
    return {
        "id": meta.id,
        "owner": user(meta.owner),
        "name": meta.name,
        "full_name": meta.full_name,
        "description": meta.description,
        "empty": empty,
        "private": meta.private,
        "fork": False,
        "template": False,
        "mirror": False,
        "html_url": html_url,
        "url": f"{base_url}/api/v1/repos/{meta.full_name}",
        "clone_url": f"{html_url}.git",
        "ssh_url": "",
        "default_branch": meta.default_branch,
        "archived": False,
        "has_pull_requests": True,
        "created_at": timestamp(meta.created_at),
        "updated_at": timestamp(meta.created_at),
        "permissions": {"admin": True, "push": True, "pull": True},
    }


def hook(meta: HookMeta) -> dict[str, Any]:
    """A webhook as Gitea lists it: the secret is never part of it."""
    return {
        "id": meta.id,
        "type": "gitea",
        "config": {"url": meta.url, "content_type": meta.content_type},
        "events": list(meta.events),
        "active": meta.active,
        "authorization_header": "",
        "created_at": timestamp(meta.created_at),
        "updated_at": timestamp(meta.created_at),
    }


def commit(info: CommitInfo, *, html_url: str) -> dict[str, Any]:
    return {
        "id": info.sha,
        "message": info.message,
        "url": f"{html_url}/commit/{info.sha}",
        "author": {"name": info.author.name, "email": info.author.email, "username": ""},
        "committer": {"name": info.committer.name, "email": info.committer.email, "username": ""},
        "verification": None,
        "timestamp": info.committer_date,
        "added": list(info.added),
        "removed": list(info.removed),
        "modified": list(info.modified),
    }


def push_payload(*, repo: dict[str, Any], pusher: str, ref: str, before: str, after: str,
                 commits: list[CommitInfo], total_commits: int) -> dict[str, Any]:
    """Gitea's push event: ``commits`` newest first, ``head_commit`` the commit the ref now points at."""
    html_url = repo["html_url"]
    payload_commits = [commit(c, html_url=html_url) for c in commits]
    head = next((c for c in payload_commits if c["id"] == after), None)
    compare = "" if ZERO_SHA in (before, after) else f"{html_url}/compare/{before}...{after}"
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "compare_url": compare,
        "commits": payload_commits,
        "total_commits": total_commits,
        "head_commit": head,
        "repository": repo,
        "pusher": user(pusher),
        "sender": user(pusher),
    }


def _maybe_timestamp(seconds: float | None) -> str | None:
    return None if seconds is None else timestamp(seconds)


def pull_request(pull: PullMeta, *, repo: dict[str, Any], head_ref: str, head_sha: str, base_sha: str,
                 merge_base: str, mergeable: bool) -> dict[str, Any]:
    """Gitea's ``PullRequest``: ``head.label`` is the head branch (``user/topic`` for AGit), ``head.ref`` the
    branch while it exists, else ``refs/pull/N/head``; the head repository is the base one (no forks)."""
    html_url = f"{repo['html_url']}/pulls/{pull.number}"
    return {
        "id": pull.number,
        "url": html_url,
        "number": pull.number,
        "user": user(pull.poster),
        "title": pull.title,
        "body": pull.body,
        "labels": [],
        "milestone": None,
        "assignee": None,
        "assignees": None,
        "requested_reviewers": None,
        "state": pull.state,
        "draft": False,
        "is_locked": False,
        "comments": 0,
        "html_url": html_url,
        "diff_url": f"{html_url}.diff",
        "patch_url": f"{html_url}.patch",
        "mergeable": mergeable,
        "merged": pull.merged,
        "merged_at": _maybe_timestamp(pull.merged_at),
        "merge_commit_sha": pull.merge_commit_sha or None,
        "merged_by": user(pull.merged_by) if pull.merged_by else None,
        "allow_maintainer_edit": False,
        "base": {"label": pull.base, "ref": pull.base, "sha": base_sha, "repo_id": repo["id"], "repo": repo},
        "head": {"label": pull.head, "ref": head_ref, "sha": head_sha, "repo_id": repo["id"], "repo": repo},
        "merge_base": merge_base,
        "due_date": None,
        "created_at": timestamp(pull.created_at),
        "updated_at": timestamp(pull.updated_at),
        "closed_at": _maybe_timestamp(pull.closed_at),
    }


def pull_request_payload(*, action: str, pull: dict[str, Any], repo: dict[str, Any], sender: str) -> dict[str, Any]:
    """Gitea's ``PullRequestPayload`` (event ``pull_request``)."""
    return {"action": action, "number": pull["number"], "pull_request": pull, "requested_reviewer": None,
            "repository": repo, "sender": user(sender), "commit_id": "", "review": None}


def commit_status(entry: dict[str, Any], *, base_url: str, full_name: str) -> dict[str, Any]:
    """Gitea's ``CommitStatus`` (its state is under ``status``)."""
    return {"id": entry["id"], "status": entry["status"], "target_url": entry["target_url"],
            "description": entry["description"], "url": f"{base_url}/api/v1/repos/{full_name}/statuses/{entry['sha']}",
            "context": entry["context"], "creator": user(str(entry["creator"])),
            "created_at": entry["created_at"], "updated_at": entry["created_at"]}


def comment(entry: dict[str, Any], *, repo_html_url: str) -> dict[str, Any]:
    """Gitea's ``Comment`` on a pull request: ``html_url`` the pull request's page with ``#issuecomment-<id>``,
    ``pull_request_url`` the page, ``issue_url`` empty (it is a pull request)."""
    pull_url = f"{repo_html_url}/pulls/{entry['index']}"
    return {"id": entry["id"], "html_url": f"{pull_url}#issuecomment-{entry['id']}", "pull_request_url": pull_url,
            "issue_url": "", "user": user(str(entry["poster"])), "original_author": "", "original_author_id": 0,
            "body": entry["body"], "assets": [], "created_at": timestamp(entry["created_at"]),
            "updated_at": timestamp(entry["updated_at"])}
