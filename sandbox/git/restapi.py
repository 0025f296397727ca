"""The part of Gitea's REST API (``/api/v1``) the local git server answers: repositories and webhooks.

Requests and answers follow Gitea's OpenAPI spec (paths, methods, ``CreateRepoOption``, ``CreateHookOption``,
``Repository``, ``Hook``), so ``sandbox.git.gitea_api.GiteaAPI`` drives both backends. Pull requests are a Gitea
feature the local server does not have: it answers 501 with a message saying so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox import __version__
from sandbox.errors import Conflict, InputError, NotFound
from sandbox.git import shapes
from sandbox.git.names import check_repo_name
from sandbox.git.store import RepoStore

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,100}(?<![./])$")
_HOOK_TYPES = {"gitea", "gogs"}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None


class APIProblem(Exception):
    """An answer with an error status and Gitea's error body ``{"message": ..., "url": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LocalAPI:
    def __init__(self, store: RepoStore, *, base_url: str) -> None:
        self.store = store
        self.base_url = base_url
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
            ("GET", re.compile(r"^/version$"), self.version),
            ("GET", re.compile(r"^/user$"), self.get_user),
            ("GET", re.compile(r"^/user/repos$"), self.list_repos),
            ("POST", re.compile(r"^/user/repos$"), self.create_repo),
            ("GET", re.compile(f"^{_REPO}$"), self.get_repo),
            ("DELETE", re.compile(f"^{_REPO}$"), self.delete_repo),
            ("GET", re.compile(f"^{_REPO}/hooks$"), self.list_hooks),
            ("POST", re.compile(f"^{_REPO}/hooks$"), self.create_hook),
            ("GET", re.compile(rf"^{_REPO}/hooks/(?P<hook_id>\d+)$"), self.get_hook),
            ("DELETE", re.compile(rf"^{_REPO}/hooks/(?P<hook_id>\d+)$"), self.delete_hook),
            ("POST", re.compile(f"^{_REPO}/pulls$"), self.create_pull),
        ]

    def routes(self) -> list[tuple[str, re.Pattern[str]]]:
        """(method, path pattern below /api/v1) of every operation answered."""
        return [(method, pattern) for method, pattern, _ in self._routes]

    @staticmethod
    def is_public(path: str) -> bool:
        """Paths answered without a token (Gitea answers its version to anyone; readiness probes use it)."""
        return path == "/version"

    def handle(self, method: str, path: str, body: Any, *, user: str, query: dict[str, str] | None = None) -> Answer:
        """Answer ``method path`` (path below /api/v1); raises APIProblem for error answers."""
        allowed = []
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            try:
                return handler(body=body, user=user, query=query or {}, **match.groupdict())
            except NotFound as err:
                raise APIProblem(404, str(err)) from err
            except Conflict as err:
                raise APIProblem(409, str(err)) from err
            except InputError as err:
                raise APIProblem(422, str(err)) from err
        if allowed:
            raise APIProblem(405, f"{method} is not allowed on /api/v1{path}; use {', '.join(sorted(allowed))}")
        raise APIProblem(404, f"/api/v1{path} is not part of the local git server's API (a subset of Gitea's: "
                              "version, user, user/repos, repos/{owner}/{repo}, its hooks)")

    # --- helpers ------------------------------------------------------------------------------------------
    def _repo_json(self, name: str) -> dict[str, Any]:
        meta = self.store.require(name)
        return shapes.repository(meta, base_url=self.base_url, empty=self.store.is_empty(name))

    def _own(self, owner: str, repo: str) -> str:
        if owner != self.store.owner:
            raise NotFound(f"repository {owner}/{repo} does not exist: the local git server's repositories "
                           f"belong to {self.store.owner!r}")
        return repo

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InputError("the request body must be a JSON object")
        return body

    # --- handlers -----------------------------------------------------------------------------------------
    def version(self, **_: Any) -> Answer:
        return Answer(200, {"version": f"sandbox-local-{__version__}"})

    def get_user(self, *, user: str, **_: Any) -> Answer:
        return Answer(200, shapes.user(user))

    def list_repos(self, *, query: dict[str, str], **_: Any) -> Answer:
        try:
            page = max(int(query.get("page", 1)), 1)
            limit = min(max(int(query.get("limit", 50)), 1), 50)
        except ValueError as err:
            raise InputError(f"page and limit must be numbers: {err}") from err
        selected = self.store.repos()[(page - 1) * limit: page * limit]
        return Answer(200, [self._repo_json(meta.name) for meta in selected])

    def create_repo(self, *, body: Any, **_: Any) -> Answer:
        option = self._object(body)
        name = option.get("name")
        if not isinstance(name, str) or not name:
            raise InputError("CreateRepoOption.name is required")
        check_repo_name(name)
        branch = option.get("default_branch") or "main"
        if not isinstance(branch, str) or not _BRANCH.match(branch):
            raise InputError(f"invalid default_branch {branch!r}: use a plain branch name such as 'main'")
        if option.get("auto_init"):
            raise InputError("auto_init is not supported by the local git server; push a first commit instead "
                             "(`sandbox repo create NAME --from DIR` does it)")
        meta = self.store.create(name, private=bool(option.get("private", False)), default_branch=branch,
                                 description=str(option.get("description") or ""))
        return Answer(201, self._repo_json(meta.name))

    def get_repo(self, *, owner: str, repo: str, **_: Any) -> Answer:
        return Answer(200, self._repo_json(self._own(owner, repo)))

    def delete_repo(self, *, owner: str, repo: str, **_: Any) -> Answer:
        self.store.delete(self._own(owner, repo))
        return Answer(204)

    def list_hooks(self, *, owner: str, repo: str, **_: Any) -> Answer:
        return Answer(200, [shapes.hook(h) for h in self.store.hooks(self._own(owner, repo))])

    def create_hook(self, *, owner: str, repo: str, body: Any, **_: Any) -> Answer:
        name = self._own(owner, repo)
        option = self._object(body)
        hook_type = option.get("type")
        if hook_type not in _HOOK_TYPES:
            raise InputError(f"CreateHookOption.type {hook_type!r} is not supported: the local git server sends "
                             "Gitea payloads (type 'gitea')")
        config = option.get("config")
        if not isinstance(config, dict) or not config.get("url") or not config.get("content_type"):
            raise InputError("CreateHookOption.config needs 'url' and 'content_type'")
        if config["content_type"] != "json":
            raise InputError(f"content_type {config['content_type']!r} is not supported; use 'json'")
        url = str(config["url"])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"invalid webhook URL {url!r}: use an http:// or https:// URL")
        events = option.get("events") or ["push"]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise InputError("CreateHookOption.events must be a list of event names such as ['push']")
        hook = self.store.add_hook(name, url=url, secret=str(config.get("secret") or ""), events=events,
                                   active=bool(option.get("active", False)))
        return Answer(201, shapes.hook(hook))

    def get_hook(self, *, owner: str, repo: str, hook_id: str, **_: Any) -> Answer:
        for hook in self.store.hooks(self._own(owner, repo)):
            if hook.id == int(hook_id):
                return Answer(200, shapes.hook(hook))
        raise NotFound(f"webhook {hook_id} does not exist on repository {owner}/{repo}")

    def delete_hook(self, *, owner: str, repo: str, hook_id: str, **_: Any) -> Answer:
        self.store.delete_hook(self._own(owner, repo), int(hook_id))
        return Answer(204)

    def create_pull(self, *, owner: str, repo: str, **_: Any) -> Answer:
        self.store.require(self._own(owner, repo))
        raise APIProblem(501, "the local git server has no pull requests; start the sandbox with `--git gitea` "
                              "to get them")
