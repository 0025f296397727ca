"""The automation's Git work: check out the GitRepository at the checkout ref onto the push branch, commit as the
spec says (signed, with the author as committer, as go-git writes it), and push — the branch (forced when it is
not the checkout branch: the GitForcePushBranch gate, on by default), then the refspec, with the push options."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import CommandError, InputError, SandboxError
from sandbox.reconciler.source import refs as refmod
from sandbox.tools import git

DEFAULT_BRANCH = "master"  # go-git's default when neither the automation nor the GitRepository names a ref


class InvalidSourceConfiguration(InputError):
    """The spec cannot work (Stalled, reason InvalidSourceConfiguration)."""


class GitOperationFailed(SandboxError):
    """A fetch, checkout, commit or push failed (Ready=False, reason GitOperationFailed); retried."""


@dataclass(frozen=True)
class GitSettings:
    url: str
    auth: git.Auth | None
    timeout: float
    checkout_ref: Mapping[str, Any] | None  # spec.git.checkout.ref, else the GitRepository's spec.ref
    push_branch: str
    switch_branch: bool  # the push branch is not the checkout branch
    refspec: str = ""
    options: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # the auth holds a credential
        return f"GitSettings(url={self.url!r}, push_branch={self.push_branch!r})"


def push_branch_of(git_spec: Mapping[str, Any], checkout_ref: Mapping[str, Any] | None) -> tuple[str, bool]:
    """(push branch, whether it differs from the checkout branch), as upstream's configurePush decides."""
    push = git_spec.get("push") or {}
    if push.get("branch"):
        branch = str(push["branch"])
        checkout_branch = (checkout_ref or {}).get("branch") if checkout_ref is not None else DEFAULT_BRANCH
        return branch, branch != checkout_branch
    if not checkout_ref or not checkout_ref.get("branch"):
        raise InvalidSourceConfiguration("push spec not provided, and cannot be inferred from .spec.git.checkout.ref "
                                         "or GitRepository .spec.ref")
    return str(checkout_ref["branch"]), False


@dataclass(frozen=True)
class Checkout:
    sha: str
    revision: str  # Flux's form: main@sha1:<sha>
    head: str  # the commit the push branch starts from (the remote push branch's head when it exists)


@dataclass(frozen=True)
class Pushed:
    sha: str
    branch: str
    message: str
    attempts: int


Author = git.Identity
Signer = Callable[[str], str]  # commit object without signature -> armoured signature


class Workspace:
    """One work tree in ``path`` for one reconcile."""

    def __init__(self, path: Path, settings: GitSettings) -> None:
        self.path = path
        self.settings = settings
        self.checkout_info: Checkout | None = None

    # --- check out --------------------------------------------------------------------------------------------
    def resolve(self) -> refmod.ResolvedRef:
        """The commit the checkout ref names now (one ls-remote)."""
        s = self.settings
        try:
            remote = git.ls_remote(s.url, auth=s.auth, timeout=s.timeout)
            return refmod.resolve(dict(s.checkout_ref) if s.checkout_ref else None, remote, s.url)
        except (CommandError, InputError) as err:
            raise GitOperationFailed(str(err)) from err

    def checkout(self) -> Checkout:
        """Fetch every branch and tag, check out the checkout ref, and switch to the push branch."""
        s = self.settings
        resolved = self.resolve()
        try:
            if not (self.path / ".git").exists():
                git.init_worktree(self.path)
            git_dir = self.path / ".git"
            git.fetch(git_dir, s.url, ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"],
                      auth=s.auth, timeout=s.timeout)
            if not git.has_commit(git_dir, resolved.sha):
                git.fetch_commit(git_dir, s.url, resolved.sha, auth=s.auth, timeout=s.timeout)
            head = resolved.sha
            if s.switch_branch:
                # GitAllBranchReferences (on by default): an existing push branch is built upon, not replaced.
                head = git.rev_parse(self.path, f"refs/remotes/origin/{s.push_branch}") or resolved.sha
            git.checkout_branch(self.path, s.push_branch, head)
        except CommandError as err:
            raise GitOperationFailed(str(err)) from err
        self.checkout_info = Checkout(resolved.sha, resolved.revision, head)
        return self.checkout_info

    # --- commit -----------------------------------------------------------------------------------------------
    def commit(self, message: str, author: Author, signer: Signer | None, *, when: float | None = None) -> str | None:
        """Commit every change in the work tree; None when there is nothing to commit."""
        if not git.stage_all(self.path):
            return None
        tree = git.write_tree(self.path)
        parent = git.rev_parse(self.path, "HEAD")
        stamp = f"{int(when if when is not None else time.time())} +0000"
        person = f"{_clean(author.name)} <{_clean(author.email)}> {stamp}"
        payload = f"tree {tree}\n" + (f"parent {parent}\n" if parent else "") + \
            f"author {person}\ncommitter {person}\n\n{message}"
        if signer is not None:
            from sandbox.reconciler.image.automation.signing import signed_commit_object

            payload = signed_commit_object(payload, signer(payload))
        sha = git.write_commit_object(self.path, payload)
        git.update_branch(self.path, self.settings.push_branch, sha)
        return sha

    # --- push -------------------------------------------------------------------------------------------------
    def push_branch(self) -> git.PushOutcome:
        s = self.settings
        branch = f"refs/heads/{s.push_branch}"
        return git.push(self.path, s.url, [f"{branch}:{branch}"], auth=s.auth, force=s.switch_branch,
                        options=s.options, timeout=s.timeout)

    def push_refspec(self) -> None:
        s = self.settings
        if not s.refspec:
            return
        outcome = git.push(self.path, s.url, [s.refspec], auth=s.auth, options=s.options, timeout=s.timeout)
        if not outcome.ok:
            raise GitOperationFailed(f"failed to push to refspec '{s.refspec}': {outcome.message}")


def _clean(text: str) -> str:
    """A name or e-mail as a commit header can hold it (git drops these characters too)."""
    return "".join(ch for ch in text if ch not in "<>\n\r\0").strip()


@dataclass(frozen=True)
class RetryPolicy:
    """Non-fast-forward pushes are retried: wait, fetch, apply the policies again, commit, push — at most
    ``attempts`` pushes, and no retry starting later than ``budget`` seconds after the first failure (upstream's
    push_retry: 5 attempts, doubling delays with jitter, min(interval/2, 2m))."""

    attempts: int = 5
    base_delay: float = 0.5
    budget: float = 120.0


def commit_and_push(workspace: Workspace, apply: Callable[[], bool], message: Callable[[], str], author: Author,
                    signer: Signer | None, retry: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep,
                    jitter: Callable[[float], float] = lambda d: d) -> Pushed | None:
    """Commit what ``apply`` changed and push it; on a non-fast-forward refusal check out again, ``apply``
    again and retry. None when there is nothing (left) to push. ``apply`` returns whether files changed."""
    deadline = time.monotonic() + retry.budget
    delay = retry.base_delay
    attempt = 1
    while True:
        text = message()
        sha = workspace.commit(text, author, signer)
        if sha is None:
            return None
        outcome = workspace.push_branch()
        if outcome.ok:
            workspace.push_refspec()
            return Pushed(sha, workspace.settings.push_branch, text, attempt)
        waited = jitter(delay)
        if not outcome.rejected or attempt >= retry.attempts or time.monotonic() + waited > deadline:
            prefix = f"giving up after {attempt} attempts: " if attempt > 1 else ""
            raise GitOperationFailed(f"{prefix}failed to push to branch '{workspace.settings.push_branch}': "
                                     f"{outcome.message}")
        sleep(waited)
        delay *= 2
        attempt += 1
        try:
            workspace.checkout()
        except GitOperationFailed as err:
            raise GitOperationFailed(f"failed to refresh the source to retry the push: {err}") from err
        if not apply():
            return None  # the remote already has the changes
