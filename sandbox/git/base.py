"""What every git server backend provides: repositories, clone URLs, credentials, webhooks, pull requests."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sandbox.tools.git import BasicAuth


@dataclass(frozen=True)
class Repository:
    name: str
    full_name: str
    private: bool
    default_branch: str
    empty: bool
    clone_url: str  # as seen from this machine
    cluster_clone_url: str  # as seen from inside the cluster (the same for the embedded cluster)
    html_url: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Webhook:
    """A registered webhook; its secret is write-only (neither backend ever gives it back)."""

    id: int
    url: str
    events: tuple[str, ...]
    active: bool
    content_type: str = "json"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["events"] = list(self.events)
        return data


@dataclass(frozen=True)
class PullRequest:
    """A pull request as both backends report it (Gitea's ``PullRequest``, the fields the sandbox shows)."""

    number: int
    title: str
    head: str  # head.label: the branch (``user/topic`` for an AGit pull request)
    base: str
    state: str  # open | closed
    html_url: str
    body: str = ""
    merged: bool = False
    mergeable: bool = False
    head_sha: str = ""
    base_sha: str = ""
    merge_commit_sha: str = ""
    user: str = ""
    created_at: str = ""
    updated_at: str = ""
    merged_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_api(data: dict[str, Any]) -> PullRequest:
        """From Gitea's PullRequest JSON (either backend)."""
        head, base = data.get("head") or {}, data.get("base") or {}
        return PullRequest(
            number=int(data["number"]), title=str(data.get("title", "")),
            head=str(head.get("label") or head.get("ref") or ""), base=str(base.get("ref") or base.get("label") or ""),
            state=str(data.get("state", "open")), html_url=str(data.get("html_url", "")),
            body=str(data.get("body") or ""), merged=bool(data.get("merged")), mergeable=bool(data.get("mergeable")),
            head_sha=str(head.get("sha") or ""), base_sha=str(base.get("sha") or ""),
            merge_commit_sha=str(data.get("merge_commit_sha") or ""),
            user=str((data.get("user") or {}).get("login") or ""), created_at=str(data.get("created_at") or ""),
            updated_at=str(data.get("updated_at") or ""), merged_at=str(data.get("merged_at") or ""))


@dataclass(frozen=True)
class Comment:
    """A comment on a pull request (Gitea's ``Comment``), as both backends report it."""

    id: int
    user: str
    body: str
    created_at: str = ""
    updated_at: str = ""
    html_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_api(data: dict[str, Any]) -> Comment:
        return Comment(id=int(data["id"]), user=str((data.get("user") or {}).get("login") or ""),
                       body=str(data.get("body") or ""), created_at=str(data.get("created_at") or ""),
                       updated_at=str(data.get("updated_at") or ""), html_url=str(data.get("html_url") or ""))


class GitServer(Protocol):
    """A git server of the sandbox. Repository names are plain (``fleet-infra``); the owner is fixed."""

    backend: str  # "local" | "gitea"
    url: str  # base URL as seen from this machine
    cluster_url: str  # base URL as seen from inside the cluster
    owner: str

    def token(self) -> str:
        """The access token: the password for git over HTTP (any user name) and the API's token."""
        ...

    def auth(self) -> BasicAuth:
        """Credentials for ``sandbox.tools.git`` (user name and token)."""
        ...

    def clone_url(self, name: str, *, in_cluster: bool = False) -> str:
        """The HTTP clone URL of repository ``name`` (no credentials in it)."""
        ...

    def create_repo(self, name: str, *, public: bool = False, default_branch: str = "main",
                    description: str = "") -> Repository: ...

    def get_repo(self, name: str) -> Repository:
        """Raises NotFound naming the repository when it does not exist."""
        ...

    def list_repos(self) -> list[Repository]: ...

    def delete_repo(self, name: str) -> None: ...

    def register_webhook(self, repo: str, url: str, secret: str, *, events: tuple[str, ...] = ("push",)) -> Webhook:
        """Send Gitea-style push events for ``repo`` to ``url``, signed with ``secret`` (HMAC-SHA256)."""
        ...

    def list_webhooks(self, repo: str) -> list[Webhook]: ...

    def delete_webhook(self, repo: str, hook_id: int) -> None: ...

    def open_pull_request(self, repo: str, *, head: str, base: str, title: str, body: str = "") -> PullRequest:
        """Open a pull request from branch ``head`` into ``base``."""
        ...

    def list_pull_requests(self, repo: str, *, state: str = "open") -> list[PullRequest]:
        """Pull requests of ``repo`` in ``state`` (open, closed, all), newest first."""
        ...

    def get_pull_request(self, repo: str, number: int) -> PullRequest: ...

    def merge_pull_request(self, repo: str, number: int, *, style: str = "merge", title: str = "",
                           message: str = "", delete_branch: bool = False) -> PullRequest:
        """Merge it (``style`` merge, squash, fast-forward-only…); the pull request as it is afterwards."""
        ...

    def set_pull_request_state(self, repo: str, number: int, state: str) -> PullRequest:
        """Close (``closed``) or reopen (``open``) it."""
        ...

    def list_pull_request_comments(self, repo: str, number: int) -> list[Comment]:
        """Its comments, oldest first."""
        ...
