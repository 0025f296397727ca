"""Steps about commits the scenario does not make itself: ``await_commit`` waits for one someone else pushes (an
ImageUpdateAutomation, say) and ``merge_pr`` merges a pull request on the git server (through its Gitea-shaped API,
which both backends answer). Both move the run's ``head`` (and name the commit with ``id``) so that later checks can
say ``revision: head``."""

from __future__ import annotations

from typing import Any

from sandbox.errors import SandboxError, WaitTimeout
from sandbox.git.gitea_api import GiteaAPI
from sandbox.reconciler.runtime.timeutil import parse_duration
from sandbox.scenario import checks
from sandbox.scenario.context import RunContext
from sandbox.scenario.failures import CheckFailed
from sandbox.scenario.model import Step
from sandbox.tools import git as git_tool
from sandbox.waiting import wait_until

DEFAULT_TIMEOUT = 60.0


def _seconds(step: Step) -> float:
    value = step.body.get("timeout")
    if value is None:
        return DEFAULT_TIMEOUT
    return float(value) if isinstance(value, int | float) else parse_duration(str(value), field="timeout")


def branch_head(ctx: RunContext, branch: str) -> str | None:
    """The sha the git server's ``branch`` of the run's repository points at (None: no such branch)."""
    server = ctx.handle.git
    refs = git_tool.ls_remote(server.clone_url(ctx.repository.name), auth=server.auth(), timeout=30)
    return refs.get(f"refs/heads/{branch}")


def _moved_to(ctx: RunContext, branch: str, sha: str, commit_id: str | None) -> None:
    if branch == ctx.repository.branch:
        ctx.repository.head = sha
    if commit_id:
        ctx.commits[commit_id] = sha


def await_commit(ctx: RunContext, step: Step) -> str:
    """Wait until ``branch`` gets a new commit whose message contains ``message`` (pushed by anyone but the
    scenario: an ImageUpdateAutomation, a merge…)."""
    branch = ctx.render(step.body.get("branch") or ctx.repository.branch)
    wanted = ctx.render(step.body["message"])
    known = ctx.head if branch == ctx.repository.branch else ""
    looked_at = {""}
    seen = ["no commit yet"]

    def landed() -> checks.Commit | None:
        head = branch_head(ctx, branch)
        if head is None:
            seen[0] = f"branch {branch} does not exist yet"
            return None
        if head == known or head in looked_at:
            return None
        looked_at.add(head)
        history, _ = checks.read_history(ctx, branch, [])
        shas = [commit.sha for commit in history]
        newer = history[:shas.index(known)] if known in shas else history[:50]
        seen[0] = f"head {head[:12]} {history[0].subject!r}" if history else f"branch {branch} is empty"
        return next((commit for commit in newer if wanted in commit.subject), None)

    try:
        found = wait_until(landed, timeout=_seconds(step), what=f"a commit on {branch} whose message contains "
                                                                f"{wanted!r}", interval=0.2, max_interval=1.0,
                           describe=lambda: seen[0])
    except WaitTimeout as err:
        raise CheckFailed(f"no commit whose message contains {wanted!r} reached branch {branch} within "
                          f"{_seconds(step):g}s; last seen: {seen[0]}") from err
    head = branch_head(ctx, branch) or found.sha
    _moved_to(ctx, branch, head, step.body.get("id"))
    ctx.observer.committed(ctx, found.sha, found.subject, [])
    return f"{branch} got {found.sha[:12]} {found.subject!r}"


def _api(ctx: RunContext) -> GiteaAPI:
    server = ctx.handle.git
    return GiteaAPI(server.url, server.token())


def matches(pull: dict[str, Any], *, base: str, head: str | None, title: str | None, head_sha: str = "") -> bool:
    """Whether an open pull request (Gitea's JSON) is the one a ``merge_pr`` step names (``head_sha``: the
    commit branch ``head`` points at, when it exists)."""
    if pull.get("state", "open") != "open" or (pull.get("base") or {}).get("ref") != base:
        return False
    head_info = pull.get("head") or {}
    names = (str(head_info.get("ref", "")), str(head_info.get("label", "")))
    # An AGit pull request's head is "<user>/<topic>" (label), its ref refs/pull/N/head: the topic names it.
    # Gitea 1.27 names it by neither (label ""): pushed from branch ``head``, its head commit is that branch's.
    agit_same_commit = bool(head_sha) and not head_info.get("label") and head_info.get("sha") == head_sha
    if head and head not in names and not any(name.endswith(f"/{head}") for name in names) \
            and not agit_same_commit:
        return False
    return not title or title in str(pull.get("title", ""))


def merge_pr(ctx: RunContext, step: Step) -> str:
    """Wait for an open pull request into ``base`` (from ``head``, with ``title`` in its title) and merge it, as a
    reviewer would."""
    base = ctx.render(step.body.get("base") or ctx.repository.branch)
    head = ctx.render(step.body["head"]) if step.body.get("head") else None
    title = ctx.render(step.body["title"]) if step.body.get("title") else None
    owner, repo = ctx.handle.git.owner, ctx.repository.name
    api = _api(ctx)
    seen = ["no pull request yet"]

    def opened() -> dict[str, Any] | None:
        pulls = api.request("GET", f"/repos/{owner}/{repo}/pulls", what=f"listing the pull requests of {repo}")
        open_ones = [p for p in pulls or [] if p.get("state", "open") == "open"]
        seen[0] = "open pull requests: " + (", ".join(f"#{p.get('number')} {p.get('title')!r} "
                                                      f"({(p.get('head') or {}).get('ref')} → "
                                                      f"{(p.get('base') or {}).get('ref')})" for p in open_ones)
                                            or "none")
        head_sha = (branch_head(ctx, head) or "") if head and open_ones else ""
        return next((p for p in open_ones if matches(p, base=base, head=head, title=title, head_sha=head_sha)),
                    None)

    wanted = f"an open pull request into {base}" + (f" from {head}" if head else "") + (
        f" titled …{title}…" if title else "")
    try:
        pull = wait_until(opened, timeout=_seconds(step), what=wanted, interval=0.2, max_interval=1.0,
                          describe=lambda: seen[0])
    except WaitTimeout as err:
        raise CheckFailed(f"no {wanted} within {_seconds(step):g}s; {seen[0]}") from err
    number = int(pull["number"])
    try:
        api.request("POST", f"/repos/{owner}/{repo}/pulls/{number}/merge", {"Do": "merge"},
                    what=f"merging pull request #{number} of {repo}")
    except SandboxError as err:
        raise CheckFailed(f"pull request #{number} {pull.get('title')!r} could not be merged: {err}") from err
    sha = branch_head(ctx, base) or ""
    _moved_to(ctx, base, sha, step.body.get("id"))
    ctx.observer.committed(ctx, sha, f"Merge pull request #{number}: {pull.get('title', '')}", [])
    return f"merged pull request #{number} {pull.get('title')!r} into {base}, now at {sha[:12]}"
