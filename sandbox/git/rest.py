"""A GitServer over Gitea's REST API: shared by the local backend (which answers a subset of it) and Gitea."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from sandbox.errors import NotFound
from sandbox.git.base import Comment, PullRequest, Repository, Webhook
from sandbox.git.gitea_api import GiteaAPI
from sandbox.git.layout import OWNER, read_token
from sandbox.git.names import check_repo_name
from sandbox.tools.git import BasicAuth


class RestGitServer:
    """Implements ``sandbox.git.base.GitServer``; subclasses say which backend it is."""

    backend = "rest"

    def __init__(self, *, url: str, token: str, owner: str, cluster_url: str = "") -> None:
        self.url = url.rstrip("/")
        self.cluster_url = (cluster_url or url).rstrip("/")
        self.owner = owner
        self._token = token
        self.api = GiteaAPI(self.url, token)

    @classmethod
    def connect(cls, url: str, token_file: Path, *, cluster_url: str = "") -> Self:
        """A client of the sandbox's server at ``url``, with the token read from ``token_file``."""
        return cls(url=url, token=read_token(token_file), owner=OWNER, cluster_url=cluster_url)

    def __repr__(self) -> str:  # never show the token
        return f"{type(self).__name__}(url={self.url!r}, owner={self.owner!r})"

    def token(self) -> str:
        return self._token

    def auth(self) -> BasicAuth:
        return BasicAuth(self.owner, self._token)

    def clone_url(self, name: str, *, in_cluster: bool = False) -> str:
        check_repo_name(name)
        return f"{self.cluster_url if in_cluster else self.url}/{self.owner}/{name}.git"

    def _repository(self, data: dict[str, Any]) -> Repository:
        name = str(data["name"])
        return Repository(
            name=name,
            full_name=str(data.get("full_name") or f"{self.owner}/{name}"),
            private=bool(data.get("private")),
            default_branch=str(data.get("default_branch") or "main"),
            empty=bool(data.get("empty")),
            clone_url=self.clone_url(name),
            cluster_clone_url=self.clone_url(name, in_cluster=True),
            html_url=str(data.get("html_url") or f"{self.url}/{self.owner}/{name}"),
        )

    @staticmethod
    def _webhook(data: dict[str, Any]) -> Webhook:
        config = data.get("config") or {}
        return Webhook(id=int(data["id"]), url=str(config.get("url", "")), events=tuple(data.get("events") or ()),
                       active=bool(data.get("active")), content_type=str(config.get("content_type", "json")))

    def create_repo(self, name: str, *, public: bool = False, default_branch: str = "main",
                    description: str = "") -> Repository:
        check_repo_name(name)
        return self._repository(self.api.create_repo(name, private=not public, default_branch=default_branch,
                                                     description=description))

    def get_repo(self, name: str) -> Repository:
        check_repo_name(name)
        try:
            return self._repository(self.api.get_repo(self.owner, name))
        except NotFound as err:
            raise NotFound(f"repository {self.owner}/{name} does not exist on the {self.backend} git server; "
                           f"create it with `sandbox repo create {name}`", status=404) from err

    def list_repos(self) -> list[Repository]:
        return sorted((self._repository(r) for r in self.api.list_repos()), key=lambda r: r.name)

    def delete_repo(self, name: str) -> None:
        check_repo_name(name)
        self.api.delete_repo(self.owner, name)

    def register_webhook(self, repo: str, url: str, secret: str, *, events: tuple[str, ...] = ("push",)) -> Webhook:
        check_repo_name(repo)
        return self._webhook(self.api.create_hook(self.owner, repo, url=url, secret=secret, events=list(events)))

    def list_webhooks(self, repo: str) -> list[Webhook]:
        check_repo_name(repo)
        return [self._webhook(h) for h in self.api.list_hooks(self.owner, repo)]

    def delete_webhook(self, repo: str, hook_id: int) -> None:
        check_repo_name(repo)
        self.api.delete_hook(self.owner, repo, hook_id)

    def open_pull_request(self, repo: str, *, head: str, base: str, title: str, body: str = "") -> PullRequest:
        check_repo_name(repo)
        return PullRequest.from_api(self.api.create_pull(self.owner, repo, head=head, base=base, title=title,
                                                         body=body))

    def list_pull_requests(self, repo: str, *, state: str = "open") -> list[PullRequest]:
        check_repo_name(repo)
        return [PullRequest.from_api(p) for p in self.api.list_pulls(self.owner, repo, state=state)]

    def get_pull_request(self, repo: str, number: int) -> PullRequest:
        check_repo_name(repo)
        return PullRequest.from_api(self.api.get_pull(self.owner, repo, number))

    def merge_pull_request(self, repo: str, number: int, *, style: str = "merge", title: str = "",
                           message: str = "", delete_branch: bool = False) -> PullRequest:
        check_repo_name(repo)
        self.api.merge_pull(self.owner, repo, number, style=style, title=title, message=message,
                            delete_branch=delete_branch)
        return self.get_pull_request(repo, number)

    def set_pull_request_state(self, repo: str, number: int, state: str) -> PullRequest:
        check_repo_name(repo)
        return PullRequest.from_api(self.api.edit_pull(self.owner, repo, number, {"state": state}))

    def list_pull_request_comments(self, repo: str, number: int) -> list[Comment]:
        check_repo_name(repo)
        return [Comment.from_api(c) for c in self.api.list_issue_comments(self.owner, repo, number)]
