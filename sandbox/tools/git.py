"""git: the one module that runs the git program (commands, bare repositories, the smart-HTTP CGI, commit logs,
and the fetches of the source controller). Credentials travel in the environment, never in argv."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import binaries
from sandbox.tools.run import Completed, Streamed, run, run_streaming

ZERO_SHA = "0" * 40
_RECORD, _FIELD = "\x1e", "\x1f"
_LOG_FORMAT = _RECORD + _FIELD.join(["%H", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"]) + _FIELD


@dataclass(frozen=True)
class BasicAuth:
    """HTTP credentials for a git server; handed to git through its environment, never its argv or config."""

    username: str
    password: str

    def header(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Authorization: Basic " + base64.b64encode(pair).decode()


@dataclass(frozen=True)
class BearerAuth:
    """A bearer token (GitRepository secrets with ``bearerToken``); sent as a header through the environment."""

    token: str

    def header(self) -> str:
        return f"Authorization: Bearer {self.token}"


Auth = BasicAuth | BearerAuth


# Credentials go two ways, both through the environment (never argv, URLs or config files): an Authorization
# header sent up front (git 2.39 has no proactive auth: without it every request would first draw a 401), and a
# credential helper answering git's "get" from two variables, so that a refused token ends in git's own
# "Authentication failed" rather than a prompt it may not show.
_ENV_HELPER = ('!f() { test "$1" = get && printf \'username=%s\\npassword=%s\\n\' '
               '"$SANDBOX_GIT_USERNAME" "$SANDBOX_GIT_PASSWORD"; }; f')


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    author: Identity
    author_date: str  # ISO 8601 with offset, as git prints it
    committer: Identity
    committer_date: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)


def program() -> Path:
    return binaries.require("git")


def _config_env(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Per-invocation git config through GIT_CONFIG_COUNT/KEY/VALUE (git >= 2.31), invisible in ``ps``."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def git(
    args: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    auth: Auth | None = None,
    identity: Identity | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    ok_codes: Sequence[int] = (0,),
    input_text: str | None = None,
) -> Completed:
    """Run ``git ARGS``. Never prompts (a missing credential fails instead of hanging)."""
    full_env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}
    config: list[tuple[str, str]] = []
    secrets: list[str] = []
    if isinstance(auth, BearerAuth):
        config += [("http.extraHeader", auth.header()), ("credential.helper", "")]
        secrets.append(auth.token)
    elif auth is not None:
        # The empty value first clears helpers from the user's config, so only ours answers.
        config += [("http.extraHeader", auth.header()), ("credential.helper", ""),
                   ("credential.helper", _ENV_HELPER)]
        full_env.update({"SANDBOX_GIT_USERNAME": auth.username, "SANDBOX_GIT_PASSWORD": auth.password})
        secrets += [auth.password, auth.header().rsplit(" ", 1)[1]]
    if config:
        full_env.update(_config_env(config))
    if identity is not None:
        full_env.update({"GIT_AUTHOR_NAME": identity.name, "GIT_AUTHOR_EMAIL": identity.email,
                         "GIT_COMMITTER_NAME": identity.name, "GIT_COMMITTER_EMAIL": identity.email})
    if env:
        full_env.update(env)
    return run([program(), *args], cwd=cwd, env=full_env, timeout=timeout, ok_codes=ok_codes, secrets=secrets,
               input_text=input_text)


def init_bare(path: Path, *, default_branch: str) -> None:
    git(["init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path)])


def http_backend(
    *,
    project_root: Path,
    cgi_env: Mapping[str, str],
    input_chunks: Iterable[bytes],
    on_output: Callable[[bytes], None],
    home: Path,
    config: Sequence[tuple[str, str]] = (),
) -> Streamed:
    """Run ``git http-backend`` (the smart-HTTP CGI) for one request.

    ``cgi_env`` carries the request (REQUEST_METHOD, PATH_INFO, QUERY_STRING, CONTENT_TYPE, REMOTE_USER…). The
    environment is otherwise clean (HOME set to ``home``, no system config) so a user's git config cannot change
    what the server does. ``config`` adds git settings for this request (e.g. receive.procReceiveRefs).
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        # A GitRepository's ref.commit may name a commit no branch points at any more: v0 clients (go-git) may
        # fetch it by id too, as v2 clients can.
        **_config_env([("uploadpack.allowReachableSHA1InWant", "true"), *config]),
        **cgi_env,
    }
    return run_streaming([program(), "http-backend"], input_chunks=input_chunks, on_output=on_output, env=env,
                         inherit_env=False)


def _parse_log(text: str) -> list[CommitInfo]:
    commits = []
    for record in text.split(_RECORD)[1:]:
        parts = record.split(_FIELD)
        sha, an, ae, ad, cn, ce, cd, message = parts[:8]
        changes = parts[8] if len(parts) > 8 else ""
        added: list[str] = []
        removed: list[str] = []
        modified: list[str] = []
        for line in changes.splitlines():
            status, _, path = line.partition("\t")
            if not path:
                continue
            {"A": added, "D": removed}.get(status[:1], modified).append(path)
        commits.append(CommitInfo(sha=sha, message=message.rstrip("\n") + "\n" if message.strip() else "",
                                  author=Identity(an, ae), author_date=ad, committer=Identity(cn, ce),
                                  committer_date=cd, added=added, removed=removed, modified=modified))
    return commits


def pushed_commits(git_dir: Path, *, ref: str, before: str, after: str, limit: int) -> tuple[list[CommitInfo], int]:
    """The commits a push of ``ref`` from ``before`` to ``after`` brought in, newest first, and how many in all
    (none for a deleted ref)."""
    if after == ZERO_SHA:
        return [], 0
    # A new ref brings what no other ref had; an updated one what lies between its old and new commits. Not
    # --all: it includes HEAD, which in a bare repository is the default branch, so a first push would list nothing.
    revisions = ([after, "--not", f"--exclude={ref}", "--glob=refs/*"] if before == ZERO_SHA
                 else [f"{before}..{after}"])
    base = ["--git-dir", str(git_dir)]
    total = int(git([*base, "rev-list", "--count", *revisions]).stdout.strip() or 0)
    log = git([*base, "log", f"--max-count={limit}", "--no-renames", "--name-status", f"--format={_LOG_FORMAT}",
               *revisions, "--"])
    return _parse_log(log.stdout), total


# --- what the source controller needs ---------------------------------------------------------------------

def ls_remote(url: str, *, auth: Auth | None = None, timeout: float = 60) -> dict[str, str]:
    """Map of ref name (``HEAD``, ``refs/heads/main``, ``refs/tags/v1``, ``refs/tags/v1^{}``) to commit sha."""
    refs = {}
    for line in git(["ls-remote", url], auth=auth, timeout=timeout).stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref:
            refs[ref] = sha
    return refs


def ensure_mirror(path: Path) -> None:
    """A bare repository at ``path`` to fetch into (created once)."""
    if not (path / "HEAD").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        init_bare(path, default_branch="main")


def fetch(mirror: Path, url: str, refspecs: list[str], *, auth: Auth | None = None, timeout: float = 60,
          depth: int | None = None, unshallow: bool = False) -> None:
    args: list[str | Path] = ["--git-dir", mirror, "fetch", "--quiet", "--no-tags", "--force"]
    if depth:
        args += ["--depth", str(depth)]
    elif unshallow:
        args.append("--unshallow")
    git([*args, url, *refspecs], auth=auth, timeout=timeout)


def has_commit(mirror: Path, sha: str) -> bool:
    return git(["--git-dir", mirror, "cat-file", "-e", f"{sha}^{{commit}}"], ok_codes=(0, 1, 128)).returncode == 0


def archive(mirror: Path, sha: str, target_tar: Path) -> None:
    """Write the tree of commit ``sha`` as a tar file."""
    git(["--git-dir", mirror, "archive", "--format=tar", "-o", target_tar, sha])


def commit_subject(mirror: Path, sha: str) -> str:
    return git(["--git-dir", mirror, "log", "-1", "--format=%s", sha]).stdout.strip()


def fetch_commit(mirror: Path, url: str, sha: str, *, auth: Auth | None = None, timeout: float = 60) -> None:
    """Fetch commit ``sha`` by its id, whether or not a ref points at it (protocol v2 allows any reachable
    commit in a want; the sandbox's git server also allows it to v0 clients)."""
    fetch(mirror, url, [f"+{sha}:refs/sandbox/commits/{sha}"], auth=auth, timeout=timeout)


def is_shallow(mirror: Path) -> bool:
    """Whether ``mirror`` was fetched with a depth (its history is cut)."""
    return (mirror / "shallow").exists()


def has_object(mirror: Path, sha: str) -> bool:
    return git(["--git-dir", mirror, "cat-file", "-e", sha], ok_codes=(0, 1, 128)).returncode == 0


def is_ancestor(mirror: Path, ancestor: str, descendant: str) -> bool:
    return git(["--git-dir", mirror, "merge-base", "--is-ancestor", ancestor, descendant],
               ok_codes=(0, 1, 128)).returncode == 0


def archive_paths(mirror: Path, sha: str, target_tar: Path, paths: Sequence[str]) -> None:
    """Write the tree of commit ``sha`` as a tar file, only ``paths`` (directories) when given."""
    git(["--git-dir", mirror, "archive", "--format=tar", "-o", target_tar, sha, *(["--", *paths] if paths else [])])


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # 040000 for a directory, 160000 for a submodule (gitlink), 100644…
    type: str  # tree, blob, commit
    object: str
    path: str


def tree_entry(mirror: Path, sha: str, path: str) -> TreeEntry | None:
    """The entry at ``path`` in commit ``sha``'s tree, or None when there is none."""
    out = git(["--git-dir", mirror, "ls-tree", "-z", sha, "--", path.rstrip("/")]).stdout
    for record in out.split("\0"):
        meta, _, name = record.partition("\t")
        if name and name == path.rstrip("/"):
            mode, kind, obj = meta.split()
            return TreeEntry(mode, kind, obj, name)
    return None


def submodule_entries(mirror: Path, sha: str) -> list[TreeEntry]:
    """Every gitlink (submodule commit) in commit ``sha``'s tree."""
    out = git(["--git-dir", mirror, "ls-tree", "-r", "-z", sha]).stdout
    entries = []
    for record in out.split("\0"):
        meta, _, name = record.partition("\t")
        if name and meta.startswith("160000 "):
            mode, kind, obj = meta.split()
            entries.append(TreeEntry(mode, kind, obj, name))
    return entries


def config_from_blob(mirror: Path, blob: str) -> dict[str, str]:
    """The settings of a git-config-format file stored in the repository (``<sha>:.gitmodules``)."""
    out = git(["--git-dir", mirror, "config", "--blob", blob, "--null", "--list"], ok_codes=(0, 1)).stdout
    settings = {}
    for record in out.split("\0"):
        key, _, value = record.partition("\n")
        if key:
            settings[key] = value
    return settings


def raw_object(mirror: Path, kind: str, sha: str) -> str:
    """The raw text of a commit or tag object (headers, signature, message)."""
    return git(["--git-dir", mirror, "cat-file", kind, sha]).stdout


@dataclass(frozen=True)
class SignatureCheck:
    good: bool
    output: str  # git's and gpg's/ssh-keygen's report (status lines with --raw); never key material


def verify_signature(mirror: Path, kind: str, sha: str, *, gnupg_home: Path | None,
                     allowed_signers: Path | None, timeout: float = 30) -> SignatureCheck:
    """``git verify-commit`` (kind ``commit``) or ``git verify-tag`` (kind ``tag``) of ``sha`` against the OpenPGP
    keyring at ``gnupg_home`` and the SSH allowed-signers file; git runs gpg and ssh-keygen itself."""
    config = [("gpg.ssh.allowedSignersFile", str(allowed_signers) if allowed_signers else "/dev/null")]
    env = _config_env(config)
    if gnupg_home is not None:
        env["GNUPGHOME"] = str(gnupg_home)
    result = git(["--git-dir", mirror, f"verify-{kind}", "--raw", sha], env=env, timeout=timeout,
                 ok_codes=(0, 1, 128))
    return SignatureCheck(result.returncode == 0, (result.stderr + result.stdout).strip())


def signed_commit(workdir: Path, message: str, *, signing_key: str, ssh: bool, identity: Identity,
                  gnupg_home: Path | None = None, allow_empty: bool = False) -> str:
    """Commit everything in ``workdir`` signed with ``signing_key`` (a gpg fingerprint, or with ``ssh`` the path
    of an SSH private key) — for tests and lessons; returns the new commit's sha."""
    pairs = [("user.signingkey", signing_key), ("gpg.format", "ssh" if ssh else "openpgp")]
    env = _config_env(pairs)
    if gnupg_home is not None:
        env["GNUPGHOME"] = str(gnupg_home)
    git(["add", "--all"], cwd=workdir)
    git(["commit", "--quiet", "-S", "--message", message, *(["--allow-empty"] if allow_empty else [])],
        cwd=workdir, identity=identity, env=env)
    return git(["rev-parse", "HEAD"], cwd=workdir).stdout.strip()


def signed_tag(workdir: Path, tag: str, message: str, *, signing_key: str, ssh: bool, identity: Identity,
               gnupg_home: Path | None = None) -> None:
    """An annotated tag of HEAD signed with ``signing_key`` (see ``signed_commit``)."""
    env = _config_env([("user.signingkey", signing_key), ("gpg.format", "ssh" if ssh else "openpgp")])
    if gnupg_home is not None:
        env["GNUPGHOME"] = str(gnupg_home)
    git(["tag", "-s", tag, "-m", message], cwd=workdir, identity=identity, env=env)


# --- what the image automation controller needs: a work tree, a commit object written by hand, a push -------

def init_worktree(path: Path) -> None:
    """An empty repository with a work tree at ``path``, configured to touch nothing outside it."""
    path.mkdir(parents=True, exist_ok=True)
    git(["init", "--quiet", str(path)])
    # Files are committed byte for byte: no line-ending conversion, whatever the user's global config says.
    git(["config", "core.autocrlf", "false"], cwd=path)
    git(["config", "core.safecrlf", "false"], cwd=path)


def checkout_branch(workdir: Path, branch: str, sha: str) -> None:
    """Point local ``branch`` at ``sha`` and check it out, discarding any change in the work tree."""
    git(["checkout", "--quiet", "--force", "-B", branch, sha], cwd=workdir)
    git(["clean", "--quiet", "-d", "--force", "-x"], cwd=workdir)


def rev_parse(workdir: Path, rev: str) -> str | None:
    """The object ``rev`` names, or None."""
    result = git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=workdir, ok_codes=(0, 1, 128))
    return result.stdout.strip() or None if result.returncode == 0 else None


def stage_all(workdir: Path) -> bool:
    """Stage every change of the work tree; whether there is anything to commit."""
    git(["add", "--all"], cwd=workdir)
    return git(["diff", "--cached", "--quiet"], cwd=workdir, ok_codes=(0, 1)).returncode == 1


def write_tree(workdir: Path) -> str:
    return git(["write-tree"], cwd=workdir).stdout.strip()


def write_commit_object(workdir: Path, content: str) -> str:
    """Store a raw commit object (headers, blank line, message) and return its id; ``git fsck``'s rules apply."""
    return git(["hash-object", "-t", "commit", "-w", "--stdin"], cwd=workdir, input_text=content).stdout.strip()


def update_branch(workdir: Path, branch: str, sha: str) -> None:
    git(["update-ref", f"refs/heads/{branch}", sha], cwd=workdir)
    git(["reset", "--quiet", "--hard", sha], cwd=workdir)


@dataclass(frozen=True)
class PushOutcome:
    ok: bool
    rejected: bool  # the remote refused a non-fast-forward update: someone pushed first
    message: str  # git's report (credentials masked)


def push(workdir: Path, url: str, refspecs: Sequence[str], *, auth: Auth | None = None, force: bool = False,
         options: Mapping[str, str] | None = None, timeout: float = 60) -> PushOutcome:
    """``git push URL REFSPECS`` (with ``--force``, and ``-o key=value`` push options); a refused push is an
    outcome, not an exception."""
    args: list[str | Path] = ["push", "--porcelain"]
    if force:
        args.append("--force")
    for key, value in sorted((options or {}).items()):
        args += ["--push-option", f"{key}={value}" if value else key]
    result = git([*args, url, *refspecs], cwd=workdir, auth=auth, timeout=timeout, ok_codes=(0, 1, 128))
    report = (result.stderr + result.stdout).strip()
    rejected = any(word in report for word in ("non-fast-forward", "[rejected]", "fetch first", "stale info"))
    return PushOutcome(result.returncode == 0, rejected and result.returncode != 0, report)
