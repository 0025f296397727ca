"""Pull requests of the local git server: stored beside each bare repository, merged with real git plumbing.

Behaviour follows Gitea's (``services/pull``, ``services/agit``, ``routers/api/v1/repo/pull.go``): one open pull
request per head/base pair, ``refs/pull/N/head`` tracks the head commit, merging is a ``merge``, ``squash`` or
``fast-forward-only`` commit on the base branch updated with a compare-and-swap, pushing to the head branch
synchronises the pull request, deleting a head or base branch closes its pull requests, and AGit pushes to
``refs/for/<base>`` open or update the pull request of ``<user>/<topic>``.

The store is safe across threads and processes (the AGit hook runs in receive-pack's process): every change
holds an exclusive ``flock`` on the repository's ``sandbox-pulls.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sandbox.errors import Conflict, InputError, NotFound, SandboxError
from sandbox.git.store import RepoStore
from sandbox.state import write_json
from sandbox.tools import git as gittool
from sandbox.tools.git import ZERO_SHA, Identity
from sandbox.tools.run import Completed

_PULLS = "sandbox-pulls.json"
_LOCK = "sandbox-pulls.lock"
MERGE_STYLES = ("merge", "squash", "fast-forward-only")
GITEA_ONLY_STYLES = ("rebase", "rebase-merge", "manually-merged")


class MergeRefused(SandboxError):
    """A merge Gitea refuses with 405 (already merged, closed, unsupported style)."""


class PreconditionFailed(SandboxError):
    """A change Gitea refuses with 412 (the state of a merged pull request)."""


@dataclass(frozen=True)
class PullMeta:
    number: int
    title: str
    body: str
    head: str  # the head branch; for AGit pull requests "<user>/<topic>" (no such branch exists)
    base: str
    poster: str
    created_at: float
    updated_at: float
    state: str = "open"  # open | closed
    flow: str = "branch"  # branch | agit
    merged: bool = False
    merged_at: float | None = None
    merged_by: str = ""
    merge_commit_sha: str = ""
    closed_at: float | None = None

    @property
    def ref(self) -> str:
        """Where the server keeps the head commit, as Gitea does."""
        return f"refs/pull/{self.number}/head"


@dataclass(frozen=True)
class RefUpdate:
    """One ref changed by the server itself (a merge, a deleted branch): announced like a push."""

    ref: str
    before: str
    after: str


@dataclass(frozen=True)
class PullEvent:
    """A pull-request webhook to send: Gitea's action (opened, closed, reopened, edited, synchronized)."""

    action: str
    number: int


@dataclass(frozen=True)
class MergeResult:
    pull: PullMeta
    updates: list[RefUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class AGitResult:
    """What the proc-receive hook reports for one ``refs/for/…`` command: ``error`` set means ``ng``."""

    original_ref: str
    ref: str = ""
    old: str = ""
    new: str = ""
    error: str = ""
    pull: PullMeta | None = None
    created: bool = False


class PullStore:
    """Pull requests of the repositories of ``store``."""

    def __init__(self, store: RepoStore, *, identity: Identity | None = None) -> None:
        self.store = store
        self.identity = identity or Identity(store.owner, f"{store.owner}@sandbox.local")

    # --- storage ------------------------------------------------------------------------------------------
    def _file(self, repo: str) -> Path:
        return self.store.git_dir(repo) / _PULLS

    @contextlib.contextmanager
    def _locked(self, repo: str) -> Iterator[list[PullMeta]]:
        """The repository's pull requests, held under an exclusive lock; changes to the list are written back."""
        self.store.require(repo)
        lock_path = self.store.git_dir(repo) / _LOCK
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                pulls = self._read(repo)
                before = list(pulls)
                yield pulls
                if pulls != before:
                    write_json(self._file(repo), [asdict(p) for p in pulls])
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self, repo: str) -> list[PullMeta]:
        try:
            raw: list[dict[str, Any]] = json.loads(self._file(repo).read_text())
        except FileNotFoundError:
            return []
        return [PullMeta(**item) for item in raw]

    def list_pulls(self, repo: str, *, state: str = "open") -> list[PullMeta]:
        """Newest first, as Gitea lists them by default; ``state`` open, closed or all."""
        if state not in ("open", "closed", "all"):
            raise InputError(f"state {state!r} is not one of open, closed, all")
        self.store.require(repo)
        found = [p for p in self._read(repo) if state == "all" or p.state == state]
        return sorted(found, key=lambda p: p.number, reverse=True)

    def get(self, repo: str, number: int) -> PullMeta:
        self.store.require(repo)
        for pull in self._read(repo):
            if pull.number == number:
                return pull
        raise NotFound(f"pull request #{number} does not exist in {self.store.owner}/{repo}", status=404)

    # --- git ----------------------------------------------------------------------------------------------
    def _git(self, repo: str, *args: str, ok_codes: tuple[int, ...] = (0,)) -> Completed:
        return gittool.git(["--git-dir", str(self.store.git_dir(repo)), *args], ok_codes=ok_codes,
                           identity=self.identity)

    def ref_sha(self, repo: str, ref: str) -> str:
        """The commit ``ref`` points at, or "" when there is no such ref."""
        return self._git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                         ok_codes=(0, 1, 128)).stdout.strip()

    def branch_sha(self, repo: str, branch: str) -> str:
        return self.ref_sha(repo, f"refs/heads/{branch}")

    def head_sha(self, repo: str, pull: PullMeta) -> str:
        """The head commit as Gitea reports it: the branch tip while the branch exists, else refs/pull/N/head."""
        if pull.flow == "branch" and not pull.merged:
            tip = self.branch_sha(repo, pull.head)
            if tip:
                return tip
        return self.ref_sha(repo, pull.ref)

    def head_ref_name(self, repo: str, pull: PullMeta) -> str:
        """Gitea's ``head.ref``: the branch name while it exists, else ``refs/pull/N/head``."""
        if pull.flow == "branch" and self.branch_sha(repo, pull.head):
            return pull.head
        return pull.ref

    def merge_base(self, repo: str, base: str, head: str) -> str:
        return self._git(repo, "merge-base", base, head, ok_codes=(0, 1)).stdout.strip()

    def mergeable(self, repo: str, pull: PullMeta) -> bool:
        """Whether the head merges into the base without conflicts (always False once merged or closed)."""
        if pull.state != "open":
            return False
        base, head = self.branch_sha(repo, pull.base), self.head_sha(repo, pull)
        if not base or not head or not self.merge_base(repo, base, head):
            return False
        return self._merge_tree(repo, base, head)[0] != ""

    def _merge_tree(self, repo: str, base: str, head: str) -> tuple[str, list[str]]:
        """(tree, []) for a clean merge of ``head`` into ``base``; ("", conflicted paths) otherwise."""
        result = self._git(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", base, head,
                           ok_codes=(0, 1))
        lines = result.stdout.splitlines()
        if result.returncode == 0:
            return lines[0].strip(), []
        return "", [line for line in lines[1:] if line.strip()]

    def _set_ref(self, repo: str, ref: str, new: str, old: str) -> None:
        """Compare-and-swap ``ref`` from ``old`` (ZERO_SHA: must not exist) to ``new``."""
        result = self._git(repo, "update-ref", "-m", "gitops-sandbox pull request", ref, new, old, ok_codes=(0, 1, 128))
        if result.returncode != 0:
            raise Conflict(f"{ref} moved while it was being updated (merge push out of date); try again",
                           status=409)

    def _delete_ref(self, repo: str, ref: str, old: str) -> None:
        self._git(repo, "update-ref", "-d", ref, old, ok_codes=(0, 1, 128))

    # --- operations ---------------------------------------------------------------------------------------
    def create(self, repo: str, *, head: str, base: str, title: str, body: str = "",
               poster: str = "") -> PullMeta:
        """Open a pull request from branch ``head`` into ``base`` (CreatePullRequestOption)."""
        if not title.strip():
            raise InputError("CreatePullRequestOption.title is required")
        if ":" in head:
            owner, _, head = head.partition(":")  # Gitea accepts "owner:branch" for the head
            if owner != self.store.owner:
                raise NotFound(f"head repository {owner}/{repo} does not exist: pull requests between forks "
                               "are not part of the local git server", status=404)
        base_sha, head_sha = self.branch_sha(repo, base), self.branch_sha(repo, head)
        if not base_sha:
            raise NotFound(f"base branch {base!r} does not exist in {self.store.owner}/{repo}", status=404)
        if not head_sha:
            raise NotFound(f"head branch {head!r} does not exist in {self.store.owner}/{repo}; push it first",
                           status=404)
        if head == base:
            raise InputError(f"head and base are the same branch ({head!r}): there are no changes to merge")
        if self._git(repo, "merge-base", "--is-ancestor", head_sha, base_sha, ok_codes=(0, 1)).returncode == 0:
            raise InputError(f"there are no changes between the head ({head}) and the base ({base}): every "
                             f"commit of {head} is already on {base}")
        now = time.time()
        with self._locked(repo) as pulls:
            for existing in pulls:
                if existing.state == "open" and existing.head == head and existing.base == base:
                    raise Conflict(f"pull request already exists for these targets: #{existing.number} "
                                   f"({head} -> {base})", status=409)
            pull = PullMeta(number=max((p.number for p in pulls), default=0) + 1, title=title.strip(), body=body,
                            head=head, base=base, poster=poster or self.store.owner, created_at=now,
                            updated_at=now)
            self._git(repo, "update-ref", pull.ref, head_sha)
            pulls.append(pull)
        return pull

    def edit(self, repo: str, number: int, *, title: str | None = None, body: str | None = None,
             state: str | None = None) -> tuple[PullMeta, list[PullEvent]]:
        """EditPullRequestOption: title, body, state open|closed; the events it raises."""
        if state not in (None, "open", "closed"):
            raise InputError(f"state {state!r} is not one of open, closed")
        if title is not None and not title.strip():
            raise InputError("the title of a pull request cannot be empty")
        events: list[PullEvent] = []
        with self._locked(repo) as pulls:
            index = self._index(pulls, repo, number)
            pull = pulls[index]
            now = time.time()
            if state is not None and state != pull.state:
                if pull.merged:
                    raise PreconditionFailed(f"cannot change state of pull request #{number}, it was already "
                                             "merged")
                if state == "open":
                    if pull.flow == "branch" and not self.branch_sha(repo, pull.head):
                        raise InputError(f"cannot reopen pull request #{number}: its head branch {pull.head!r} "
                                         "was deleted")
                    if any(p.state == "open" and p.head == pull.head and p.base == pull.base for p in pulls):
                        raise Conflict(f"cannot reopen pull request #{number}: another pull request is open for "
                                       f"{pull.head} -> {pull.base}", status=409)
                pull = replace(pull, state=state, closed_at=now if state == "closed" else None, updated_at=now)
                events.append(PullEvent("closed" if state == "closed" else "reopened", number))
            new_title = pull.title if title is None else title.strip()
            new_body = pull.body if body is None else body
            if (new_title, new_body) != (pull.title, pull.body):
                pull = replace(pull, title=new_title, body=new_body, updated_at=now)
                events.append(PullEvent("edited", number))
            pulls[index] = pull
        return pull, events

    def merge(self, repo: str, number: int, *, style: str, title: str = "", message: str = "",
              head_commit_id: str = "", delete_branch: bool = False, merger: str = "") -> MergeResult:
        """Merge pull request ``number`` (MergePullRequestOption); the ref updates to announce as pushes."""
        if style in GITEA_ONLY_STYLES:
            raise MergeRefused(f"merge style {style!r} is not supported by the local git server; use "
                               f"{', '.join(MERGE_STYLES)} (or the Gitea backend)")
        if style not in MERGE_STYLES:
            raise InputError(f"Do {style!r} is not a merge style; use one of {', '.join(MERGE_STYLES)}")
        with self._locked(repo) as pulls:
            index = self._index(pulls, repo, number)
            pull = pulls[index]
            if pull.merged:
                raise MergeRefused(f"pull request #{number} is already merged")
            if pull.state != "open":
                raise NotFound(f"pull request #{number} is closed; reopen it to merge it", status=404)
            base_ref = f"refs/heads/{pull.base}"
            base_sha, head_sha = self.branch_sha(repo, pull.base), self.head_sha(repo, pull)
            if not base_sha:
                raise NotFound(f"base branch {pull.base!r} of pull request #{number} does not exist", status=404)
            if head_commit_id and head_commit_id != head_sha:
                raise Conflict(f"head out of date: pull request #{number}'s head is {head_sha}, not "
                               f"{head_commit_id}", status=409)
            if not self.merge_base(repo, base_sha, head_sha):
                raise Conflict(f"pull request #{number}: {pull.head} and {pull.base} have unrelated histories",
                               status=409)
            new_sha = self._merge_commit(repo, pull, style, base_sha, head_sha, title, message)
            self._set_ref(repo, base_ref, new_sha, base_sha)
            updates = [RefUpdate(base_ref, base_sha, new_sha)]
            self._git(repo, "update-ref", pull.ref, head_sha)
            now = time.time()
            pull = replace(pull, state="closed", merged=True, merged_at=now, merged_by=merger or self.store.owner,
                           merge_commit_sha=new_sha, closed_at=now, updated_at=now)
            pulls[index] = pull
            if delete_branch and pull.flow == "branch":
                head_ref = f"refs/heads/{pull.head}"
                tip = self.ref_sha(repo, head_ref)
                if tip and tip == head_sha:
                    self._delete_ref(repo, head_ref, tip)
                    updates.append(RefUpdate(head_ref, tip, ZERO_SHA))
        return MergeResult(pull, updates)

    def _merge_commit(self, repo: str, pull: PullMeta, style: str, base_sha: str, head_sha: str, title: str,
                      message: str) -> str:
        if style == "fast-forward-only":
            if self._git(repo, "merge-base", "--is-ancestor", base_sha, head_sha, ok_codes=(0, 1)).returncode:
                raise Conflict(f"pull request #{pull.number} cannot be fast-forwarded: {pull.base} has commits "
                               f"that {pull.head} does not have", status=409)
            return head_sha
        tree, conflicts = self._merge_tree(repo, base_sha, head_sha)
        if not tree:
            raise Conflict(f"merge failed because of conflict in pull request #{pull.number}: "
                           f"{', '.join(conflicts) or 'conflicting changes'}", status=409)
        default = (f"{pull.title} (#{pull.number})" if style == "squash" else
                   f"Merge pull request '{pull.title}' (#{pull.number}) from {pull.head} into {pull.base}")
        full = (title.strip() or default) + (f"\n\n{message.strip()}" if message.strip() else "") + "\n"
        parents = ["-p", base_sha] + ([] if style == "squash" else ["-p", head_sha])
        return self._git(repo, "commit-tree", tree, *parents, "-m", full).stdout.strip()

    def is_merged(self, repo: str, number: int) -> bool:
        return self.get(repo, number).merged

    def on_push(self, repo: str, ref: str, before: str, after: str) -> list[PullEvent]:
        """Follow a pushed ref: a head branch moved synchronises its open pull requests; a deleted branch
        closes the open pull requests with it as head or base (Gitea's CloseBranchPulls)."""
        if not ref.startswith("refs/heads/") or not self._file(repo).exists():
            return []
        branch = ref[len("refs/heads/"):]
        events: list[PullEvent] = []
        with self._locked(repo) as pulls:
            now = time.time()
            for index, pull in enumerate(pulls):
                if pull.state != "open" or pull.flow != "branch":
                    continue
                if after == ZERO_SHA and branch in (pull.head, pull.base):
                    pulls[index] = replace(pull, state="closed", closed_at=now, updated_at=now)
                    events.append(PullEvent("closed", pull.number))
                elif after != ZERO_SHA and branch == pull.head:
                    self._git(repo, "update-ref", pull.ref, after)
                    pulls[index] = replace(pull, updated_at=now)
                    events.append(PullEvent("synchronized", pull.number))
        return events

    def agit(self, repo: str, *, ref: str, old: str, new: str, options: dict[str, str],
             user: str) -> AGitResult:
        """One ``refs/for/<base>[/<topic>]`` command of an AGit push (Gitea's ProcReceive)."""
        target = ref[len("refs/for/"):]
        base, topic = target, ""
        if not self.branch_sha(repo, base):
            # refs/for/<base>/<topic>: the longest prefix that is a branch is the base.
            for cut in range(len(target) - 1, 0, -1):
                if target[cut] == "/" and self.branch_sha(repo, target[:cut]):
                    base, topic = target[:cut], target[cut + 1:]
                    break
            else:
                return AGitResult(ref, error=f"base branch {target!r} does not exist")
        topic = topic or options.get("topic", "")
        if not topic:
            return AGitResult(ref, error="topic-branch is not set")
        head = topic if topic.startswith(f"{user}/") else f"{user}/{topic}"
        with self._locked(repo) as pulls:
            existing = next((i for i, p in enumerate(pulls) if p.flow == "agit" and p.state == "open"
                             and p.head == head and p.base == base), None)
            now = time.time()
            if existing is None:
                title = options.get("title") or self._git(repo, "log", "-1", "--format=%s", new).stdout.strip()
                pull = PullMeta(number=max((p.number for p in pulls), default=0) + 1, title=title,
                                body=options.get("description", ""), head=head, base=base, poster=user,
                                created_at=now, updated_at=now, flow="agit")
                self._git(repo, "update-ref", pull.ref, new)
                pulls.append(pull)
                return AGitResult(ref, ref=pull.ref, old=ZERO_SHA, new=new, pull=pull, created=True)
            pull = pulls[existing]
            current = self.ref_sha(repo, pull.ref)
            if current == new:
                return AGitResult(ref, error="new commit is same with old commit")
            forced = options.get("force-push", "").lower() in ("true", "1", "yes")
            if current and not forced and self._git(repo, "rev-list", "--max-count=1", current, f"^{new}").stdout:
                return AGitResult(ref, error="request `force-push` push option")
            self._git(repo, "update-ref", pull.ref, new)
            pull = replace(pull, updated_at=now)
            pulls[existing] = pull
            return AGitResult(ref, ref=pull.ref, old=current or ZERO_SHA, new=new, pull=pull)

    def _index(self, pulls: list[PullMeta], repo: str, number: int) -> int:
        for index, pull in enumerate(pulls):
            if pull.number == number:
                return index
        raise NotFound(f"pull request #{number} does not exist in {self.store.owner}/{repo}", status=404)

