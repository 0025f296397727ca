"""The part of Gitea's REST API (``/api/v1``) the local git server answers: repositories, webhooks, pull requests,
their comments, commit statuses.

Requests and answers follow Gitea's OpenAPI spec (paths, methods, ``CreateRepoOption``, ``CreateHookOption``,
``CreatePullRequestOption``, ``EditPullRequestOption``, ``MergePullRequestOption``, ``CreateIssueCommentOption``,
``EditIssueCommentOption``, ``Repository``, ``Hook``, ``PullRequest``, ``Comment``), so
``sandbox.git.gitea_api.GiteaAPI`` drives both backends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from sandbox import __version__
from sandbox.errors import Conflict, InputError, NotFound
from sandbox.git import shapes
from sandbox.git.comments import CommentStore
from sandbox.git.names import check_repo_name
from sandbox.git.pulls import MergeRefused, PreconditionFailed, PullEvent, PullMeta, PullStore, RefUpdate
from sandbox.git.statuses import StatusStore
from sandbox.git.store import RepoMeta, RepoStore

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,100}(?<![./])$")
_HOOK_TYPES = {"gitea", "gogs"}
HOOK_EVENTS = ("push", "pull_request", "pull_request_sync")  # the events the local server sends
_PULL = rf"{_REPO}/pulls/(?P<index>\d+)"
_STATUSES = rf"{_REPO}/statuses/(?P<sha>[^/]+)"
_ISSUE_COMMENTS = rf"{_REPO}/issues/(?P<index>\d+)/comments"
_COMMENT = rf"{_REPO}/issues/comments/(?P<comment_id>\d+)"


class Notifier(Protocol):
    """Where the API announces what it changed: ref updates (sent like pushes) and pull-request events."""

    def refs_updated(self, meta: RepoMeta, pusher: str, updates: list[RefUpdate]) -> None: ...

    def pull_events(self, meta: RepoMeta, sender: str, events: list[PullEvent]) -> None: ...


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
    def __init__(self, store: RepoStore, *, base_url: str, notifier: Notifier | None = None) -> None:
        self.store = store
        self.base_url = base_url
        self.pulls = PullStore(store)
        self.statuses = StatusStore(store)
        self.comments = CommentStore(store, self.pulls)
        self.notifier = notifier
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
            ("GET", re.compile(f"^{_REPO}/pulls$"), self.list_pulls),
            ("POST", re.compile(f"^{_REPO}/pulls$"), self.create_pull),
            ("GET", re.compile(f"^{_PULL}$"), self.get_pull),
            ("PATCH", re.compile(f"^{_PULL}$"), self.edit_pull),
            ("GET", re.compile(f"^{_PULL}/merge$"), self.pull_is_merged),
            ("POST", re.compile(f"^{_PULL}/merge$"), self.merge_pull),
            ("GET", re.compile(f"^{_STATUSES}$"), self.list_statuses),
            ("POST", re.compile(f"^{_STATUSES}$"), self.create_status),
            ("GET", re.compile(f"^{_ISSUE_COMMENTS}$"), self.list_comments),
            ("POST", re.compile(f"^{_ISSUE_COMMENTS}$"), self.create_comment),
            ("GET", re.compile(f"^{_COMMENT}$"), self.get_comment),
            ("PATCH", re.compile(f"^{_COMMENT}$"), self.edit_comment),
            ("DELETE", re.compile(f"^{_COMMENT}$"), self.delete_comment),
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
            except MergeRefused as err:
                raise APIProblem(405, str(err)) from err
            except PreconditionFailed as err:
                raise APIProblem(412, str(err)) from err
        if allowed:
            raise APIProblem(405, f"{method} is not allowed on /api/v1{path}; use {', '.join(sorted(allowed))}")
        raise APIProblem(404, f"/api/v1{path} is not part of the local git server's API (a subset of Gitea's: "
                              "version, user, user/repos, repos/{owner}/{repo}, its hooks, pulls, statuses "
                              "and the comments of its pull requests)")

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
    def list_statuses(self, *, owner: str, repo: str, sha: str, query: dict[str, str], **_: Any) -> Answer:
        name = self._own(owner, repo)
        try:
            page = max(int(query.get("page") or 1), 1)
            limit = min(max(int(query.get("limit") or 50), 1), 50)
        except ValueError as err:
            raise InputError(f"page and limit must be numbers: {err}") from err
        found = self.statuses.list(name, sha)[(page - 1) * limit: page * limit]
        full_name = self.store.require(name).full_name
        return Answer(200, [shapes.commit_status(s, base_url=self.base_url, full_name=full_name) for s in found])

    def create_status(self, *, owner: str, repo: str, sha: str, body: Any, user: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        entry = self.statuses.create(name, sha, self._object(body), creator=user)
        full_name = self.store.require(name).full_name
        return Answer(201, shapes.commit_status(entry, base_url=self.base_url, full_name=full_name))

    # --- comments on pull requests (Gitea's issue comments) ------------------------------------------------
    def _comment_json(self, name: str, entry: dict[str, Any]) -> dict[str, Any]:
        return shapes.comment(entry, repo_html_url=self._repo_json(name)["html_url"])

    def list_comments(self, *, owner: str, repo: str, index: str, **_: Any) -> Answer:
        # Gitea's issueGetComments takes no page or limit (the SDK sends them anyway): every comment, oldest first.
        name = self._own(owner, repo)
        return Answer(200, [self._comment_json(name, c) for c in self.comments.list(name, int(index))])

    def create_comment(self, *, owner: str, repo: str, index: str, body: Any, user: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        return Answer(201, self._comment_json(name, self.comments.create(name, int(index), body, poster=user)))

    def get_comment(self, *, owner: str, repo: str, comment_id: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        return Answer(200, self._comment_json(name, self.comments.get(name, int(comment_id))))

    def edit_comment(self, *, owner: str, repo: str, comment_id: str, body: Any, **_: Any) -> Answer:
        name = self._own(owner, repo)
        return Answer(200, self._comment_json(name, self.comments.edit(name, int(comment_id), body)))

    def delete_comment(self, *, owner: str, repo: str, comment_id: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        self.comments.delete(name, int(comment_id))
        return Answer(204)

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
        unknown = [e for e in events if e not in HOOK_EVENTS]
        if unknown:
            raise InputError(f"CreateHookOption.events {unknown} are never sent by the local git server; it sends "
                             f"{', '.join(HOOK_EVENTS)}")
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

    # --- pull requests ------------------------------------------------------------------------------------
    def pull_json(self, name: str, pull: PullMeta) -> dict[str, Any]:
        """Gitea's PullRequest for ``pull`` of repository ``name``, head and base commits as they are now."""
        head_sha = self.pulls.head_sha(name, pull)
        base_sha = self.pulls.branch_sha(name, pull.base)
        merge_base = self.pulls.merge_base(name, base_sha, head_sha) if base_sha and head_sha else ""
        return shapes.pull_request(pull, repo=self._repo_json(name), head_ref=self.pulls.head_ref_name(name, pull),
                                   head_sha=head_sha, base_sha=base_sha, merge_base=merge_base,
                                   mergeable=self.pulls.mergeable(name, pull))

    def _announce(self, name: str, user: str, events: list[PullEvent], updates: Sequence[RefUpdate] = ()) -> None:
        if self.notifier is None:
            return
        meta = self.store.require(name)
        if updates:
            self.notifier.refs_updated(meta, user, list(updates))
        if events:
            self.notifier.pull_events(meta, user, events)

    @staticmethod
    def _refuse_unsupported(option: dict[str, Any], what: str, supported: tuple[str, ...]) -> None:
        """Gitea fields the local server does not implement are refused when set, never silently ignored."""
        unsupported = sorted(k for k, v in option.items() if k not in supported and v not in (None, "", [], 0, False))
        if unsupported:
            raise InputError(f"{what}: {', '.join(unsupported)} {'is' if len(unsupported) == 1 else 'are'} not "
                             f"supported by the local git server (it takes {', '.join(supported)}); use the Gitea "
                             "backend (`sandbox up --git gitea`) for them")

    @staticmethod
    def _text(option: dict[str, Any], key: str, *, required: bool = False) -> str | None:
        value = option.get(key)
        if value is None:
            if required:
                raise InputError(f"{key} is required")
            return None
        if not isinstance(value, str):
            raise InputError(f"{key} must be a string")
        return value

    def list_pulls(self, *, owner: str, repo: str, query: dict[str, str], **_: Any) -> Answer:
        name = self._own(owner, repo)
        try:
            page = max(int(query.get("page", 1)), 1)
            limit = min(max(int(query.get("limit", 50)), 1), 50)
        except ValueError as err:
            raise InputError(f"page and limit must be numbers: {err}") from err
        found = self.pulls.list_pulls(name, state=query.get("state") or "open")[(page - 1) * limit: page * limit]
        return Answer(200, [self.pull_json(name, p) for p in found])

    def create_pull(self, *, owner: str, repo: str, body: Any, user: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        option = self._object(body)
        self._refuse_unsupported(option, "CreatePullRequestOption", ("head", "base", "title", "body"))
        head = self._text(option, "head", required=True) or ""
        base = self._text(option, "base", required=True) or ""
        pull = self.pulls.create(name, head=head, base=base, title=self._text(option, "title", required=True) or "",
                                 body=self._text(option, "body") or "", poster=user)
        self._announce(name, user, [PullEvent("opened", pull.number)])
        return Answer(201, self.pull_json(name, pull))

    def get_pull(self, *, owner: str, repo: str, index: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        return Answer(200, self.pull_json(name, self.pulls.get(name, int(index))))

    def edit_pull(self, *, owner: str, repo: str, index: str, body: Any, user: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        option = self._object(body)
        self._refuse_unsupported(option, "EditPullRequestOption", ("title", "body", "state"))
        pull, events = self.pulls.edit(name, int(index), title=self._text(option, "title"),
                                       body=self._text(option, "body"), state=self._text(option, "state"))
        self._announce(name, user, events)
        return Answer(201, self.pull_json(name, pull))

    def pull_is_merged(self, *, owner: str, repo: str, index: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        if self.pulls.is_merged(name, int(index)):
            return Answer(204)
        raise NotFound(f"pull request #{index} of {owner}/{repo} has not been merged", status=404)

    def merge_pull(self, *, owner: str, repo: str, index: str, body: Any, user: str, **_: Any) -> Answer:
        name = self._own(owner, repo)
        option = self._object(body)
        # force_merge overrides branch protection and merge_when_checks_succeed waits for commit statuses: the
        # local server has neither, so both mean "merge now".
        self._refuse_unsupported(option, "MergePullRequestOption", (
            "Do", "MergeTitleField", "MergeMessageField", "head_commit_id", "delete_branch_after_merge",
            "force_merge", "merge_when_checks_succeed"))
        style = self._text(option, "Do", required=True) or ""
        result = self.pulls.merge(name, int(index), style=style, title=self._text(option, "MergeTitleField") or "",
                                  message=self._text(option, "MergeMessageField") or "",
                                  head_commit_id=self._text(option, "head_commit_id") or "",
                                  delete_branch=bool(option.get("delete_branch_after_merge", False)), merger=user)
        self._announce(name, user, [PullEvent("closed", result.pull.number)], result.updates)
        return Answer(200)
