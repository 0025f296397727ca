"""``giteapullrequestcomment``, ``githubpullrequestcomment`` and ``gitlabmergerequestcomment``: one comment per
Provider and involved object on the pull (merge) request the event names, edited in place by later events.

As upstream's internal/notifier (git_change_request_comment.go, markdown.go and the three notifiers): the change
request is the number in the event's ``change_request`` metadata, which only the involved object's annotation
``event.toolkit.fluxcd.io/change_request`` can supply — an event without that annotation is dropped for these
providers (``sends``), whatever the Alert's ``eventMetadata`` says. The body starts with the hidden marker
``<!-- flux-pr-comment-key:<provider UID>/<kind>/<namespace>/<name> -->`` (``flux-mr-comment-key`` on GitLab),
then a Markdown "Flux Status" section; the first page of 100 comments is read, and a comment of the token's own
user holding the marker is edited, else a new one is created."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from sandbox.errors import InputError
from sandbox.reconciler.notification.event import go_json
from sandbox.reconciler.notification.providers.base import JSON, Fetch, Obj, Request, Settings
from sandbox.reconciler.notification.providers.commitstatus import repository

CHANGE_REQUEST = "change_request"
ANNOTATION = f"event.toolkit.fluxcd.io/{CHANGE_REQUEST}"
PULL_REQUEST_PREFIX = "flux-pr-comment-key"
MERGE_REQUEST_PREFIX = "flux-mr-comment-key"
TYPES = ("giteapullrequestcomment", "githubpullrequestcomment", "gitlabmergerequestcomment")
_NUMBER = re.compile(r"^[+-]?[0-9]+$")  # what Go's strconv.Atoi takes


def has_change_request(annotations: dict[str, str]) -> bool:
    """Whether the involved object's annotations name a change request (upstream's hasChangeRequestKey)."""
    return bool(annotations.get(ANNOTATION))


def comment_key(provider_uid: str, event: Obj) -> str:
    involved = event.get("involvedObject") or {}
    return f"{provider_uid}/{involved.get('kind', '')}/{involved.get('namespace', '')}/{involved.get('name', '')}"


def marker(prefix: str, provider_uid: str, event: Obj) -> str:
    """The HTML comment that finds the comment again: invisible on the page."""
    return f"<!-- {prefix}:{comment_key(provider_uid, event)} -->"


def markdown_post(event: Obj) -> str:
    """Upstream's formatMarkdownPost: severity emoji, ``Kind/namespace/name``, the message and the metadata
    sorted by key (all but ``change_request``), one ``* `key`: value`` line each."""
    involved = event.get("involvedObject") or {}
    emoji = "⚠️" if event.get("severity") == "error" else "ℹ️"
    object_id = f"{involved.get('kind', '')}/{involved.get('namespace', '')}/{involved.get('name', '')}"
    metadata = event.get("metadata") or {}
    lines = "".join(f"* `{key}`: {metadata[key]}\n" for key in sorted(metadata) if key != CHANGE_REQUEST)
    return f"## Flux Status\n\n{emoji} {object_id}\n\n{event.get('message', '')}\n\nMetadata:\n{lines}"


def comment_body(prefix: str, provider_uid: str, event: Obj) -> str:
    return f"{marker(prefix, provider_uid, event)}\n\n{markdown_post(event)}"


def change_request_number(event: Obj) -> int:
    """The pull (merge) request number of the event's ``change_request`` metadata."""
    metadata = event.get("metadata") or {}
    if CHANGE_REQUEST not in metadata:
        raise InputError(f'missing "{CHANGE_REQUEST}" metadata key')
    value = str(metadata[CHANGE_REQUEST])
    if not _NUMBER.match(value):
        raise InputError(f'invalid "{CHANGE_REQUEST}" metadata value "{value}": not a number')
    return int(value)


@dataclass(frozen=True)
class CommentAPI:
    """Where one forge keeps a change request's comments, and how its JSON names their authors."""

    user_url: str  # the token's own user
    login: Callable[[Obj], str]  # of the user
    list_url: str  # the first page of 100 comments, oldest first
    author: Callable[[Obj], str]  # of a comment
    create_url: str
    edit_method: str
    edit_url: Callable[[int], str]  # of comment id


def find_comment(comments: list[Obj], api: CommentAPI, login: str, key_marker: str) -> Obj | None:
    """The first comment of ``login`` holding the marker."""
    for comment in comments:
        if api.author(comment) == login and key_marker in str(comment.get("body") or ""):
            return comment
    return None


def exchange(api: CommentAPI, body: str, key_marker: str) -> Callable[[Fetch], None]:
    """The calls: the user, the comments, then an edit of ours or a new comment."""
    payload = go_json({"body": body})

    def run(fetch: Fetch) -> None:
        login = api.login(json.loads(fetch("GET", api.user_url, None) or b"{}") or {})
        comments = json.loads(fetch("GET", api.list_url, None) or b"[]") or []
        existing = find_comment(comments, api, login, key_marker)
        if existing is not None:
            fetch(api.edit_method, api.edit_url(int(existing["id"])), payload)
        else:
            fetch("POST", api.create_url, payload)

    return run


def _owner_repo(project: str) -> tuple[str, str]:
    pieces = project.split("/")
    if len(pieces) != 2:
        raise InputError(f"invalid repository id {project!r}")
    return pieces[0], pieces[1]


def _require_uid(provider_uid: str) -> None:
    if not provider_uid:
        raise InputError("provider UID cannot be empty")


def _request(api: CommentAPI, body: str, key_marker: str, headers: dict[str, str]) -> Request:
    return Request(api.create_url, go_json({"body": body}), headers, exchange=exchange(api, body, key_marker))


def _login(field: str) -> Callable[[Obj], str]:
    return lambda user: str(user.get(field) or "")


def _author(user_field: str, login_field: str) -> Callable[[Obj], str]:
    return lambda comment: str((comment.get(user_field) or {}).get(login_field) or "")


def gitea(settings: Settings, event: Obj, provider_uid: str) -> Request:
    """Gitea's issue-comment API (a pull request is an issue): ``Authorization: token …``."""
    _require_uid(provider_uid)
    token = settings.token or settings.password  # upstream's Gitea client falls back to the password
    if not token:
        raise InputError("gitea token cannot be empty: set `token` in the Provider's secretRef Secret")
    body = comment_body(PULL_REQUEST_PREFIX, provider_uid, event)
    number = change_request_number(event)
    host, project = repository(settings.address)
    owner, repo = (quote(part, safe="") for part in _owner_repo(project))
    base = f"{host}/api/v1/repos/{owner}/{repo}/issues"
    api = CommentAPI(f"{host}/api/v1/user", _login("login"), f"{base}/{number}/comments?limit=100&page=1",
                     _author("user", "login"), f"{base}/{number}/comments", "PATCH",
                     lambda comment_id: f"{base}/comments/{comment_id}")
    return _request(api, body, marker(PULL_REQUEST_PREFIX, provider_uid, event),
                    {"Content-Type": JSON, "Authorization": f"token {token}"})


def github(settings: Settings, event: Obj, provider_uid: str) -> Request:
    """GitHub's issue-comment API (api.github.com, or ``<host>/api/v3`` for GitHub Enterprise)."""
    _require_uid(provider_uid)
    if not settings.token:
        raise InputError("github token or github app details must be specified: set `token` in the Provider's "
                         "secretRef Secret (GitHub App credentials are not implemented here)")
    body = comment_body(PULL_REQUEST_PREFIX, provider_uid, event)
    number = change_request_number(event)
    host, project = repository(settings.address)
    owner, repo = _owner_repo(project)
    api_root = "https://api.github.com" if host == "https://github.com" else f"{host}/api/v3"
    base = f"{api_root}/repos/{owner}/{repo}/issues"
    api = CommentAPI(f"{api_root}/user", _login("login"),
                     f"{base}/{number}/comments?direction=asc&per_page=100&sort=created",
                     _author("user", "login"), f"{base}/{number}/comments", "PATCH",
                     lambda comment_id: f"{base}/comments/{comment_id}")
    return _request(api, body, marker(PULL_REQUEST_PREFIX, provider_uid, event),
                    {"Content-Type": JSON, "Accept": "application/vnd.github.v3+json",
                     "Authorization": f"Bearer {settings.token}"})


def gitlab(settings: Settings, event: Obj, provider_uid: str) -> Request:
    """GitLab's merge-request notes API (``PRIVATE-TOKEN``); a note is edited with PUT."""
    _require_uid(provider_uid)
    if not settings.token:
        raise InputError("gitlab token cannot be empty: set `token` in the Provider's secretRef Secret")
    host, project = repository(settings.address)
    body = comment_body(MERGE_REQUEST_PREFIX, provider_uid, event)
    number = change_request_number(event)
    base = f"{host}/api/v4/projects/{quote(project, safe='')}/merge_requests/{number}/notes"
    api = CommentAPI(f"{host}/api/v4/user", _login("username"),
                     f"{base}?order_by=created_at&per_page=100&sort=asc", _author("author", "username"), base,
                     "PUT", lambda note_id: f"{base}/{note_id}")
    return _request(api, body, marker(MERGE_REQUEST_PREFIX, provider_uid, event),
                    {"Content-Type": JSON, "PRIVATE-TOKEN": settings.token})
