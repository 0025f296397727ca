"""Working with repositories on any GitServer: seed one from a folder, clone, commit and push, open a PR.

Credentials reach git through its environment (``sandbox.tools.git.BasicAuth``), never through a URL, argv or a
working copy's config; a clone made for a person may remember a credential helper that reads the token file.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sandbox.errors import Conflict, InputError
from sandbox.git.base import GitServer, PullRequest
from sandbox.tools.git import Identity, git

DEFAULT_IDENTITY = Identity("gitops-sandbox", "sandbox@sandbox.local")
FileChanges = Mapping[str, str | bytes | None]  # path in the repository -> new content, or None to delete


@dataclass(frozen=True)
class WorkingCopy:
    """A clone of ``repo`` at ``path`` whose fetches and pushes authenticate against ``server``."""

    path: Path
    server: GitServer
    repo: str
    identity: Identity = DEFAULT_IDENTITY

    def git(self, *args: str) -> str:
        return git(list(args), cwd=self.path, auth=self.server.auth(), identity=self.identity).stdout

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def branch(self) -> str:
        return self.git("symbolic-ref", "--short", "HEAD").strip()

    def checkout(self, branch: str, *, create: bool = False) -> None:
        self.git("checkout", "--quiet", *(["-b"] if create else []), branch)

    def write(self, changes: FileChanges) -> None:
        """Add, change (content) or delete (None) files, by paths relative to the repository root."""
        for name, content in changes.items():
            target = self.path / _safe_relative(name)
            if content is None:
                if not target.exists():
                    raise InputError(f"cannot delete {name!r} from {self.repo}: it does not exist")
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def commit(self, message: str, *, allow_empty: bool = False) -> str:
        """Commit everything in the working tree; returns the new commit's sha."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "--message", message, *(["--allow-empty"] if allow_empty else []))
        return self.head()

    def push(self, branch: str | None = None, *, force: bool = False) -> str:
        """Push ``branch`` (default: the current one) to the server; returns the pushed sha."""
        target = branch or self.branch()
        self.git("push", "--quiet", *(["--force"] if force else []), "origin", f"HEAD:refs/heads/{target}")
        return self.head()

    def commit_and_push(self, changes: FileChanges, message: str, *, branch: str | None = None) -> str:
        self.write(changes)
        self.commit(message)
        return self.push(branch)

    def pull(self) -> None:
        self.git("pull", "--quiet", "--ff-only")


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] == ".git":
        raise InputError(f"invalid file path {name!r}: use a path inside the repository, such as 'apps/app.yaml'")
    return path


def clone(server: GitServer, repo: str, dest: Path, *, branch: str | None = None,
          identity: Identity = DEFAULT_IDENTITY) -> WorkingCopy:
    """Clone ``repo`` into ``dest`` (which must not exist or be empty); an empty repository clones too."""
    server.get_repo(repo)  # a clear NotFound before git's terse one
    if dest.exists() and any(dest.iterdir()):
        raise InputError(f"{dest} exists and is not empty; clone into a new directory")
    git(["clone", "--quiet", *(["--branch", branch] if branch else []), server.clone_url(repo), str(dest)],
        auth=server.auth())
    return WorkingCopy(dest, server, repo, identity)


def remember_credentials(copy: WorkingCopy, *, token_file: Path) -> None:
    """Let plain ``git push``/``git pull`` in ``copy`` authenticate: a credential helper that reads the token
    file (0600) when git asks, so the token itself is stored nowhere in the working copy."""
    helper = (f"!f() {{ test \"$1\" = get || exit 0; echo username={copy.server.owner}; "
              f"printf 'password=%s\\n' \"$(cat {shlex.quote(str(token_file))})\"; }}; f")
    url = copy.server.clone_url(copy.repo)
    git(["config", f"credential.{url}.helper", helper], cwd=copy.path)


@contextmanager
def temporary_clone(server: GitServer, repo: str, *, branch: str | None = None,
                    identity: Identity = DEFAULT_IDENTITY) -> Iterator[WorkingCopy]:
    """A clone in a temporary directory, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-clone-"))
    try:
        yield clone(server, repo, tmp / repo, branch=branch, identity=identity)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def seed_from_dir(server: GitServer, repo: str, source: Path, *, message: str = "Initial commit",
                  identity: Identity = DEFAULT_IDENTITY) -> str:
    """Push the files under ``source`` (its .git excluded) as the first commit of the empty ``repo``'s default
    branch; returns the commit's sha."""
    if not source.is_dir():
        raise InputError(f"cannot seed {repo} from {source}: not a directory")
    info = server.get_repo(repo)
    if not info.empty:
        raise Conflict(f"repository {info.full_name} already has commits; seed only new repositories, or push "
                       "with `sandbox repo clone` and git", status=409)
    with temporary_clone(server, repo, identity=identity) as copy:
        shutil.copytree(source, copy.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
        copy.git("checkout", "--quiet", "-B", info.default_branch)
        copy.commit(message, allow_empty=True)
        return copy.push(info.default_branch)


def commit_files(server: GitServer, repo: str, changes: FileChanges, message: str, *, branch: str | None = None,
                 identity: Identity = DEFAULT_IDENTITY) -> str:
    """Clone, apply ``changes``, commit and push to ``branch`` (default: the repository's default branch)."""
    target = branch or server.get_repo(repo).default_branch
    with temporary_clone(server, repo, identity=identity) as copy:
        remote_branches = copy.git("branch", "--remotes", "--list", f"origin/{target}").strip()
        copy.git("checkout", "--quiet", "-B", target, *([f"origin/{target}"] if remote_branches else []))
        return copy.commit_and_push(changes, message, branch=target)


def open_pull_request(server: GitServer, repo: str, *, head: str, base: str | None = None, title: str,
                      body: str = "") -> PullRequest:
    """Open a pull request from branch ``head`` into ``base`` (default: the repository's default branch)."""
    return server.open_pull_request(repo, head=head, base=base or server.get_repo(repo).default_branch,
                                    title=title, body=body)
