"""``github``, ``gitlab`` and ``gitea``: a commit status on the revision the event names (its ``revision``
metadata; an event without one is an error, as upstream). As upstream's internal/notifier: the status context is
``<kind>/<name>/<first part of the Provider's UID>`` lower-cased (generateCommitStatusID), the description the
event's reason split at its capitals and lower-cased (``BuildFailed`` → ``build failed``); the existing statuses are
read first and an identical latest one is not posted again. GitHub and GitLab skip ``Progressing`` events; Gitea
marks them ``pending``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from sandbox.errors import InputError
from sandbox.reconciler.notification.event import go_json
from sandbox.reconciler.notification.providers.base import JSON, Obj, Request, Settings

PROGRESSING = "Progressing"
Duplicate = Callable[[bytes], bool]


def commit_status_id(provider_uid: str, event: Obj) -> str:
    involved = event.get("involvedObject") or {}
    return f"{involved.get('kind', '')}/{involved.get('name', '')}/{provider_uid.split('-')[0]}".lower()


def split_camelcase(text: str) -> list[str]:
    """Go's splitCamelcase (fatih/camelcase): runs of lower, upper, digit and other characters; an upper run
    followed by lower case gives its last letter to the next word (``PDFLoader`` → ``PDF Loader``)."""
    runs: list[str] = []
    last = 0
    for char in text:
        kind = 1 if char.islower() else 2 if char.isupper() else 3 if char.isdigit() else 4
        if kind == last and runs:
            runs[-1] += char
        else:
            runs.append(char)
        last = kind
    for i in range(len(runs) - 1):
        if runs[i][:1].isupper() and runs[i + 1][:1].islower():
            runs[i + 1] = runs[i][-1] + runs[i + 1]
            runs[i] = runs[i][:-1]
    return [run for run in runs if run]


def description(event: Obj) -> str:
    return " ".join(split_camelcase(str(event.get("reason", "")))).lower()


def commit_sha(event: Obj) -> str:
    """The commit of the event's revision: ``main@sha1:<sha>``, ``sha1:<sha>`` or the older ``main/<sha>``."""
    revision = str((event.get("metadata") or {}).get("revision") or "")
    if not revision:
        raise InputError("missing revision metadata")
    match = re.search(r"(?:sha1|sha256):([0-9a-f]+)$", revision)
    if match:
        return match.group(1)
    if "/" in revision and revision.rsplit("/", 1)[1]:
        return revision.rsplit("/", 1)[1]
    raise InputError(f"Revision string format incorrect: {revision}")


def repository(address: str) -> tuple[str, str]:
    """(``scheme://host``, ``owner/repo``) of a Git address, ssh:// read as https://."""
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https", "ssh") or not parts.hostname:
        raise InputError(f"invalid repository address {address!r}: an https:// (or ssh://) repository URL is needed")
    scheme = "https" if parts.scheme == "ssh" else parts.scheme
    host = parts.hostname + (f":{parts.port}" if parts.port and parts.scheme != "ssh" else "")
    project = parts.path.strip("/").removesuffix(".git")
    if not project:
        raise InputError(f"invalid repository address {address!r}: no repository path")
    return f"{scheme}://{host}", project


def _owner_repo(project: str) -> tuple[str, str]:
    pieces = project.split("/")
    if len(pieces) != 2:
        raise InputError(f"invalid repository id {project!r}")
    return pieces[0], pieces[1]


def _latest_same_context(listing: bytes, context: str, state: str, desc: str, *, state_key: str,
                         skip_blank: bool) -> bool:
    """Whether the newest status of ``context`` says the same (GitHub's statuses carry ``state``, Gitea's
    ``status``)."""
    for status in json.loads(listing or b"[]") or []:
        if skip_blank and not (status.get("context") and status.get(state_key) and status.get("description")):
            continue
        if status.get("context") == context:
            return bool(status.get(state_key) == state and status.get("description") == desc)
    return False


def _require_token(settings: Settings, what: str) -> None:
    if not settings.token:
        raise InputError(f"{what} token cannot be empty: set `token` in the Provider's secretRef Secret")


def github(settings: Settings, event: Obj, provider_uid: str) -> Request | None:
    if event.get("reason") == PROGRESSING:
        return None
    _require_token(settings, "github")
    host, project = repository(settings.address)
    owner, repo = _owner_repo(project)
    api = "https://api.github.com" if host == "https://github.com" else f"{host}/api/v3"
    sha, context, desc = commit_sha(event), commit_status_id(provider_uid, event), description(event)
    state = "failure" if event.get("severity") == "error" else "success"
    headers = {"Content-Type": JSON, "Accept": "application/vnd.github.v3+json",
               "Authorization": f"Bearer {settings.token}"}
    return Request(f"{api}/repos/{owner}/{repo}/statuses/{sha}",
                   go_json({"state": state, "description": desc, "context": context}), headers,
                   check_url=f"{api}/repos/{owner}/{repo}/commits/{sha}/statuses?per_page=50",
                   duplicate=lambda listing: _latest_same_context(listing, context, state, desc, state_key="state",
                                                                  skip_blank=False))


def gitea(settings: Settings, event: Obj, provider_uid: str) -> Request | None:
    _require_token(settings, "gitea")
    host, project = repository(settings.address)
    owner, repo = _owner_repo(project)
    sha, context, desc = commit_sha(event), commit_status_id(provider_uid, event), description(event)
    state = "pending" if event.get("reason") == PROGRESSING else \
        "failure" if event.get("severity") == "error" else "success"
    url = f"{host}/api/v1/repos/{owner}/{repo}/statuses/{sha}"
    return Request(url, go_json({"state": state, "target_url": "", "description": desc, "context": context}),
                   {"Content-Type": JSON, "Authorization": f"token {settings.token}"},
                   check_url=f"{url}?page=0&limit=50",
                   duplicate=lambda listing: _latest_same_context(listing, context, state, desc, state_key="status",
                                                                  skip_blank=True))


def gitlab(settings: Settings, event: Obj, provider_uid: str) -> Request | None:
    if event.get("reason") == PROGRESSING:
        return None
    _require_token(settings, "gitlab")
    host, project = repository(settings.address)
    sha, name, desc = commit_sha(event), commit_status_id(provider_uid, event), description(event)
    state = "failed" if event.get("severity") == "error" else "success"
    project_id = quote(project, safe="")

    def duplicate(listing: bytes) -> bool:
        return any(s.get("sha") == sha and s.get("status") == state and s.get("description") == desc
                   and s.get("name") == name for s in json.loads(listing or b"[]") or [])

    return Request(f"{host}/api/v4/projects/{project_id}/statuses/{sha}",
                   go_json({"state": state, "name": name, "description": desc}),
                   {"Content-Type": JSON, "PRIVATE-TOKEN": settings.token},
                   check_url=f"{host}/api/v4/projects/{project_id}/repository/commits/{sha}/statuses",
                   duplicate=duplicate)
