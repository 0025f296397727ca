"""A small client of Gitea's REST API (``/api/v1``), which both git backends answer.

Only what the sandbox uses: version, repositories of the token's user, webhooks, pull requests and their comments.
Requests follow Gitea's OpenAPI spec; the token goes in ``Authorization: token …`` and never into a URL, log or
error message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from sandbox.errors import Conflict, InputError, NotFound, NotSupported, SandboxError


class GiteaAPI:
    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                what: str = "") -> Any:
        """``method`` ``/api/v1{path}`` with a JSON body; the decoded JSON answer (None when empty).

        Errors become SandboxErrors: 404 NotFound, 409 Conflict, 400/422 InputError, 501 NotSupported, others
        SandboxError; each names ``what`` and carries the server's own message.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}/api/v1{path}", data=data, method=method)
        request.add_header("Authorization", f"token {self._token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        subject = what or f"{method} /api/v1{path}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise self._error(err, subject) from None
        except (urllib.error.URLError, OSError) as err:
            raise SandboxError(f"{subject}: the git server at {self.base_url} is unreachable "
                               f"({getattr(err, 'reason', err)}); is the sandbox up? (`sandbox status`)") from err
        return json.loads(raw) if raw.strip() else None

    def _error(self, err: urllib.error.HTTPError, subject: str) -> SandboxError:
        try:
            detail = json.loads(err.read() or b"{}").get("message", "")
        except (ValueError, AttributeError):
            detail = ""
        message = f"{subject}: {detail or err.reason} (HTTP {err.code})"
        if err.code == 404:
            return NotFound(message, status=404)
        if err.code == 409:
            return Conflict(message, status=409)
        if err.code in (400, 422):
            return InputError(message)
        if err.code in (405, 412):
            return Conflict(message, status=err.code)
        if err.code in (401, 403):
            return SandboxError(f"{subject}: the git server refused the sandbox's token (HTTP {err.code}); "
                                "its token file may be stale — restart the sandbox")
        if err.code == 501:
            return NotSupported(message)
        return SandboxError(message)

    # --- endpoints (paths and bodies as in Gitea's OpenAPI spec) ------------------------------------------
    def version(self) -> str:
        return str(self.request("GET", "/version", what="git server version")["version"])

    def current_user(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/user", what="git server user")
        return result

    def create_repo(self, name: str, *, private: bool, default_branch: str, description: str = "") -> dict[str, Any]:
        body = {"name": name, "private": private, "default_branch": default_branch, "description": description,
                "auto_init": False}
        result: dict[str, Any] = self.request("POST", "/user/repos", body, what=f"creating repository {name}")
        return result

    def get_repo(self, owner: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/repos/{_seg(owner)}/{_seg(name)}",
                                              what=f"repository {owner}/{name}")
        return result

    def list_repos(self) -> list[dict[str, Any]]:
        repos: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.request("GET", f"/user/repos?page={page}&limit=50", what="listing repositories")
            repos.extend(batch or [])
            # The local server answers everything at once; Gitea pages (50 at most per page).
            if not batch or len(batch) < 50:
                return repos
            page += 1

    def delete_repo(self, owner: str, name: str) -> None:
        self.request("DELETE", f"/repos/{_seg(owner)}/{_seg(name)}", what=f"deleting repository {owner}/{name}")

    def create_hook(self, owner: str, name: str, *, url: str, secret: str, events: list[str]) -> dict[str, Any]:
        body = {"type": "gitea", "active": True, "events": events,
                "config": {"url": url, "content_type": "json", "secret": secret}}
        result: dict[str, Any] = self.request("POST", f"/repos/{_seg(owner)}/{_seg(name)}/hooks", body,
                                              what=f"adding a webhook to {owner}/{name}")
        return result

    def list_hooks(self, owner: str, name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", f"/repos/{_seg(owner)}/{_seg(name)}/hooks",
                                                    what=f"webhooks of {owner}/{name}") or []
        return result

    def delete_hook(self, owner: str, name: str, hook_id: int) -> None:
        self.request("DELETE", f"/repos/{_seg(owner)}/{_seg(name)}/hooks/{int(hook_id)}",
                     what=f"deleting webhook {hook_id} of {owner}/{name}")

    def create_pull(self, owner: str, name: str, *, head: str, base: str, title: str, body: str) -> dict[str, Any]:
        option = {"head": head, "base": base, "title": title, "body": body}
        result: dict[str, Any] = self.request("POST", f"/repos/{_seg(owner)}/{_seg(name)}/pulls", option,
                                              what=f"opening a pull request {head} -> {base} on {owner}/{name}")
        return result


    def _pulls(self, owner: str, name: str) -> str:
        return f"/repos/{_seg(owner)}/{_seg(name)}/pulls"

    def list_pulls(self, owner: str, name: str, *, state: str = "open") -> list[dict[str, Any]]:
        pulls: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.request("GET", f"{self._pulls(owner, name)}?state={quote(state)}&page={page}&limit=50",
                                 what=f"pull requests of {owner}/{name}") or []
            pulls.extend(batch)
            if len(batch) < 50:
                return pulls
            page += 1

    def get_pull(self, owner: str, name: str, number: int) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"{self._pulls(owner, name)}/{int(number)}",
                                              what=f"pull request #{number} of {owner}/{name}")
        return result

    def edit_pull(self, owner: str, name: str, number: int, option: dict[str, Any]) -> dict[str, Any]:
        """EditPullRequestOption (title, body, state open|closed)."""
        result: dict[str, Any] = self.request("PATCH", f"{self._pulls(owner, name)}/{int(number)}", option,
                                              what=f"editing pull request #{number} of {owner}/{name}")
        return result

    def merge_pull(self, owner: str, name: str, number: int, *, style: str, title: str = "", message: str = "",
                   delete_branch: bool = False) -> None:
        """MergePullRequestOption: ``Do`` is the style (merge, squash, rebase, rebase-merge, fast-forward-only)."""
        option: dict[str, Any] = {"Do": style, "delete_branch_after_merge": delete_branch}
        if title:
            option["MergeTitleField"] = title
        if message:
            option["MergeMessageField"] = message
        self.request("POST", f"{self._pulls(owner, name)}/{int(number)}/merge", option,
                     what=f"merging pull request #{number} of {owner}/{name}")

    def list_issue_comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """The comments of issue (pull request) ``number``, oldest first (Gitea answers them all at once)."""
        result: list[dict[str, Any]] = self.request(
            "GET", f"/repos/{_seg(owner)}/{_seg(name)}/issues/{int(number)}/comments",
            what=f"comments of pull request #{number} of {owner}/{name}") or []
        return result

    def is_pull_merged(self, owner: str, name: str, number: int) -> bool:
        try:
            self.request("GET", f"{self._pulls(owner, name)}/{int(number)}/merge",
                         what=f"whether pull request #{number} of {owner}/{name} is merged")
        except NotFound:
            return False
        return True


def _seg(value: str) -> str:
    return quote(value, safe="")
