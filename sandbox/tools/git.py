"""git: the only module that runs the git program. Credentials travel in the environment (never argv), and are
masked in every error."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from sandbox.tools.run import Completed, run


@dataclass(frozen=True)
class GitAuth:
    """HTTP credentials: basic (username + password) or a bearer token."""

    username: str = ""
    password: str = ""
    bearer_token: str = ""

    def header(self) -> str | None:
        if self.bearer_token:
            return f"Authorization: Bearer {self.bearer_token}"
        if self.username or self.password:
            raw = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return f"Authorization: Basic {raw}"
        return None

    def secrets(self) -> list[str]:
        values = [self.password, self.bearer_token]
        header = self.header()
        if header:
            values.append(header.split(" ", 2)[-1])
        return [v for v in values if v]


def _env(auth: GitAuth | None) -> dict[str, str]:
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "gitops-sandbox", "GIT_AUTHOR_EMAIL": "sandbox@localhost",
           "GIT_COMMITTER_NAME": "gitops-sandbox", "GIT_COMMITTER_EMAIL": "sandbox@localhost"}
    header = auth.header() if auth else None
    if header:
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": header})
    return env


def git(args: list[str | Path], *, cwd: Path | None = None, auth: GitAuth | None = None, timeout: float = 120,
        ok_codes: tuple[int, ...] = (0,)) -> Completed:
    return run(["git", *args], cwd=cwd, env=_env(auth), timeout=timeout, ok_codes=ok_codes,
               secrets=auth.secrets() if auth else ())


def ls_remote(url: str, *, auth: GitAuth | None = None, timeout: float = 60) -> dict[str, str]:
    """Map of ref name (``HEAD``, ``refs/heads/main``, ``refs/tags/v1``, ``refs/tags/v1^{}``) to commit sha."""
    out = git(["ls-remote", url], auth=auth, timeout=timeout).stdout
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref:
            refs[ref] = sha
    return refs


def init_bare(path: Path) -> None:
    if not (path / "HEAD").exists():
        path.mkdir(parents=True, exist_ok=True)
        git(["init", "--bare", "--quiet", path])


def fetch(mirror: Path, url: str, refspecs: list[str], *, auth: GitAuth | None = None, timeout: float = 60,
          depth: int | None = None) -> None:
    args: list[str | Path] = ["--git-dir", mirror, "fetch", "--quiet", "--no-tags", "--force"]
    if depth:
        args += ["--depth", str(depth)]
    git([*args, url, *refspecs], auth=auth, timeout=timeout)


def has_commit(mirror: Path, sha: str) -> bool:
    result = git(["--git-dir", mirror, "cat-file", "-e", f"{sha}^{{commit}}"], ok_codes=(0, 1, 128))
    return result.returncode == 0


def archive(mirror: Path, sha: str, target_tar: Path) -> None:
    """Write the tree of commit ``sha`` as a tar file."""
    git(["--git-dir", mirror, "archive", "--format=tar", "-o", target_tar, sha])


def commit_subject(mirror: Path, sha: str) -> str:
    return git(["--git-dir", mirror, "log", "-1", "--format=%s", sha]).stdout.strip()


def clone(url: str, target: Path, *, branch: str | None = None, auth: GitAuth | None = None,
          timeout: float = 120) -> None:
    args: list[str | Path] = ["clone", "--quiet"]
    if branch:
        args += ["--branch", branch]
    git([*args, url, target], auth=auth, timeout=timeout)


def commit_all(worktree: Path, message: str) -> str:
    """Stage everything in ``worktree`` and commit; return the new commit sha."""
    git(["add", "--all"], cwd=worktree)
    git(["commit", "--quiet", "--allow-empty", "-m", message], cwd=worktree)
    return git(["rev-parse", "HEAD"], cwd=worktree).stdout.strip()


def push(worktree: Path, remote: str = "origin", refspec: str = "HEAD", *, auth: GitAuth | None = None,
         timeout: float = 120) -> None:
    git(["push", "--quiet", remote, refspec], cwd=worktree, auth=auth, timeout=timeout)
