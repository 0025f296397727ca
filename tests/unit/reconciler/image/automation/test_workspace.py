"""The automation's Git work against a real local bare repository: checkout onto the push branch, commit as the
spec says (signed too), push to the same or a new branch, and the non-fast-forward retry."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.reconciler.image.automation import setters, signing
from sandbox.reconciler.image.automation.workspace import (
    GitOperationFailed,
    GitSettings,
    InvalidSourceConfiguration,
    RetryPolicy,
    Workspace,
    commit_and_push,
    push_branch_of,
)
from sandbox.tools import git, gpg

M = '# {"$imagepolicy": "apps:web"}'
AUTHOR = git.Identity("Flux Bot", "flux@example.com")
SETTERS = setters.setter_values([setters.Policy("apps", "web", setters.ImageRef("registry.local/web", "1.0.1"))])

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture()
def remote(tmp_path: Path) -> Path:
    """A bare repository whose main holds a marked deployment."""
    bare = tmp_path / "remote.git"
    git.init_bare(bare, default_branch="main")
    seed = tmp_path / "seed"
    git.init_worktree(seed)
    (seed / "deploy.yaml").write_text(
        f"kind: Deployment\nmetadata:\n  name: web\nimage: registry.local/web:1.0.0 {M}\n")
    git.git(["add", "--all"], cwd=seed)
    git.git(["commit", "--quiet", "-m", "seed"], cwd=seed, identity=AUTHOR)
    git.git(["push", "--quiet", str(bare), "HEAD:refs/heads/main"], cwd=seed)
    return bare


def settings(remote: Path, *, branch: str = "main", switch: bool = False, **extra: object) -> GitSettings:
    return GitSettings(str(remote), None, 30, {"branch": "main"}, branch, switch, **extra)  # type: ignore[arg-type]


def apply_in(workspace: Workspace) -> bool:
    return bool(setters.update_tree(workspace.path, SETTERS).written)


def log(remote: Path, ref: str) -> list[git.CommitInfo]:
    out = git.git(["--git-dir", str(remote), "log", f"--format={git._LOG_FORMAT}", ref]).stdout
    return git._parse_log(out)


def file_at(remote: Path, ref: str, path: str) -> str:
    return git.git(["--git-dir", str(remote), "show", f"{ref}:{path}"]).stdout


NO_WAIT = RetryPolicy(attempts=3, base_delay=0.0, budget=60)


def test_commit_and_push_to_the_checkout_branch(remote: Path, tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "work", settings(remote))
    checkout = workspace.checkout()
    assert checkout.revision == f"main@sha1:{checkout.sha}"
    assert apply_in(workspace)
    pushed = commit_and_push(workspace, lambda: apply_in(workspace), lambda: "bump web", AUTHOR, None, NO_WAIT)
    assert pushed is not None and pushed.attempts == 1 and pushed.branch == "main"
    head = log(remote, "main")[0]
    assert head.sha == pushed.sha and head.message == "bump web\n"
    assert head.author == AUTHOR and head.committer == AUTHOR, "the author commits, as go-git writes it"
    assert "registry.local/web:1.0.1" in file_at(remote, "main", "deploy.yaml")
    # Nothing left to change: no commit.
    assert commit_and_push(workspace, lambda: apply_in(workspace), lambda: "x", AUTHOR, None, NO_WAIT) is None


def test_push_to_a_new_branch_starts_from_the_checkout_and_leaves_main(remote: Path, tmp_path: Path) -> None:
    main_before = log(remote, "main")[0].sha
    workspace = Workspace(tmp_path / "work", settings(remote, branch="auto", switch=True))
    assert workspace.checkout().head == main_before
    apply_in(workspace)
    pushed = commit_and_push(workspace, lambda: apply_in(workspace), lambda: "bump", AUTHOR, None, NO_WAIT)
    assert pushed is not None
    assert log(remote, "main")[0].sha == main_before
    history = log(remote, "auto")
    assert [c.sha for c in history] == [pushed.sha, main_before]
    # A second run builds on the existing push branch (GitAllBranchReferences), not on main again.
    again = Workspace(tmp_path / "work2", settings(remote, branch="auto", switch=True))
    assert again.checkout().head == pushed.sha


def test_non_fast_forward_refetches_reapplies_and_retries(remote: Path, tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "work", settings(remote))
    workspace.checkout()
    apply_in(workspace)
    # Someone else pushes to main meanwhile.
    other = tmp_path / "other"
    git.git(["clone", "--quiet", str(remote), str(other)])
    (other / "README.md").write_text("hello\n")
    git.git(["add", "--all"], cwd=other)
    git.git(["commit", "--quiet", "-m", "someone else"], cwd=other, identity=AUTHOR)
    git.git(["push", "--quiet", "origin", "HEAD:main"], cwd=other)
    waits: list[float] = []
    pushed = commit_and_push(workspace, lambda: apply_in(workspace), lambda: "bump", AUTHOR, None,
                             RetryPolicy(attempts=5, base_delay=0.25, budget=60), sleep=waits.append)
    assert pushed is not None and pushed.attempts == 2
    assert waits == [0.25]
    history = log(remote, "main")
    assert history[0].sha == pushed.sha and history[1].message == "someone else\n", "rebased on the new head"
    assert "registry.local/web:1.0.1" in file_at(remote, "main", "deploy.yaml")
    assert file_at(remote, "main", "README.md") == "hello\n"


def test_retry_is_bounded(remote: Path, tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "work", settings(remote))
    workspace.checkout()
    apply_in(workspace)
    other = tmp_path / "other"
    git.git(["clone", "--quiet", str(remote), str(other)])

    def contend(_delay: float = 0.0) -> None:  # a writer that always pushes first
        (other / "n.txt").write_text(str(len(list(other.iterdir()))) + (other / "n.txt").read_text()
                                     if (other / "n.txt").exists() else "0")
        git.git(["add", "--all"], cwd=other)
        git.git(["commit", "--quiet", "-m", "race"], cwd=other, identity=AUTHOR)
        git.git(["push", "--quiet", "origin", "HEAD:main"], cwd=other)

    contend()
    original_checkout = workspace.checkout

    def checkout_then_race() -> object:
        result = original_checkout()
        contend()
        return result

    workspace.checkout = checkout_then_race  # type: ignore[method-assign]
    with pytest.raises(GitOperationFailed, match="giving up after 3 attempts: failed to push to branch 'main'"):
        commit_and_push(workspace, lambda: apply_in(workspace), lambda: "bump", AUTHOR, None, NO_WAIT,
                        sleep=lambda _: None)


def test_push_options_and_refspec(remote: Path, tmp_path: Path) -> None:
    git.git(["--git-dir", str(remote), "config", "receive.advertisePushOptions", "true"])
    hook = remote / "hooks" / "pre-receive"
    hook.write_text('#!/bin/sh\nfor i in $(seq 0 $((GIT_PUSH_OPTION_COUNT - 1))); do '
                    'eval "echo \\$GIT_PUSH_OPTION_$i"; done >> "$GIT_DIR/options.txt"\n')
    hook.chmod(0o755)
    s = settings(remote, branch="auto", switch=True, refspec="refs/heads/auto:refs/heads/release",
                 options={"topic": "bump web"})
    workspace = Workspace(tmp_path / "work", s)
    workspace.checkout()
    apply_in(workspace)
    pushed = commit_and_push(workspace, lambda: apply_in(workspace), lambda: "bump", AUTHOR, None, NO_WAIT)
    assert pushed is not None
    assert log(remote, "release")[0].sha == pushed.sha == log(remote, "auto")[0].sha
    assert (remote / "options.txt").read_text().splitlines() == ["topic=bump web", "topic=bump web"]


@pytest.mark.parametrize(("git_spec", "checkout_ref", "expected"), [
    ({"push": {"branch": "auto"}}, {"branch": "main"}, ("auto", True)),
    ({"push": {"branch": "main"}}, {"branch": "main"}, ("main", False)),
    ({}, {"branch": "main"}, ("main", False)),
    ({"push": {"branch": "master"}}, None, ("master", False)),
    ({"push": {"branch": "auto"}}, {"tag": "v1"}, ("auto", True)),
])
def test_push_branch(git_spec: dict[str, object], checkout_ref: dict[str, str] | None,
                     expected: tuple[str, bool]) -> None:
    assert push_branch_of(git_spec, checkout_ref) == expected


def test_push_branch_cannot_be_inferred_from_a_tag() -> None:
    with pytest.raises(InvalidSourceConfiguration, match="push spec not provided, and cannot be inferred"):
        push_branch_of({}, {"tag": "v1"})


# --- signing ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keyring() -> Iterator[tuple[Path, str]]:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    home = Path(tempfile.mkdtemp(prefix="iua-"))  # short: gpg-agent's socket path must fit
    home.chmod(0o700)
    try:
        fingerprint = gpg.generate_signing_key(home, "Flux Bot <flux@example.com>")
        yield home, fingerprint
    finally:
        gpg.stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def secret_key(home: Path, fingerprint: str) -> str:
    return gpg.gpg(home, ["--armor", "--pinentry-mode", "loopback", "--passphrase", "",
                          "--export-secret-keys", fingerprint]).stdout


def test_signed_commit_verifies_against_the_public_key(remote: Path, tmp_path: Path,
                                                       keyring: tuple[Path, str]) -> None:
    home, fingerprint = keyring
    key = signing.SigningKey("signing", secret_key(home, fingerprint), None)
    workspace = Workspace(tmp_path / "work", settings(remote))
    workspace.checkout()
    apply_in(workspace)
    pushed = commit_and_push(workspace, lambda: apply_in(workspace), lambda: "signed bump", AUTHOR,
                             lambda payload: signing.sign(key, payload), NO_WAIT)
    assert pushed is not None
    with gpg.throwaway_home() as verify_home:
        gpg.import_public_keys(verify_home, [gpg.export_public_key(home, fingerprint)])
        check = git.verify_signature(remote, "commit", pushed.sha, gnupg_home=verify_home, allowed_signers=None)
    assert check.good, check.output
    assert fingerprint[-16:] in check.output


def test_signing_key_errors_say_what_is_missing(keyring: tuple[Path, str]) -> None:
    with pytest.raises(signing.SigningError, match=r"does not contain a 'git\.asc' key"):
        signing.signing_key_from_secret("sk", {"other": "eA=="})
    with pytest.raises(signing.SigningError, match="could not find signing key secret 'sk'"):
        signing.signing_key_from_secret("sk", None)
    with pytest.raises(signing.SigningError, match=r"no private key|could not read signing key"):
        signing.sign(signing.SigningKey("sk", "not a key", None), "payload")


def test_signed_commit_object_places_gpgsig_after_committer() -> None:
    payload = "tree t\nauthor a\ncommitter c\n\nmessage"
    signature = "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
    signed = signing.signed_commit_object(payload, signature)
    assert signed == ("tree t\nauthor a\ncommitter c\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n"
                      " -----END PGP SIGNATURE-----\n\nmessage")


def test_passphrase_protected_key(tmp_path: Path) -> None:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    home = Path(tempfile.mkdtemp(prefix="iup-"))
    home.chmod(0o700)
    try:
        gpg.gpg(home, ["--pinentry-mode", "loopback", "--passphrase", "s3cret", "--quick-gen-key",
                       "Bot <bot@example.com>", "ed25519", "sign", "never"], timeout=60)
        armored = gpg.gpg(home, ["--armor", "--pinentry-mode", "loopback", "--passphrase", "s3cret",
                                 "--export-secret-keys", "bot@example.com"]).stdout
    finally:
        gpg.stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)
    with pytest.raises(signing.SigningError, match="can not use passphrase protected signing key without "
                                                   "'passphrase' field present in secret sk"):
        signing.sign(signing.SigningKey("sk", armored, None), "payload")
    with pytest.raises(signing.SigningError, match="could not decrypt private key of the signing key present in "
                                                   "secret sk") as failed:
        signing.sign(signing.SigningKey("sk", armored, "wrong"), "payload")
    assert "wrong" not in str(failed.value)
    assert "BEGIN PGP SIGNATURE" in signing.sign(signing.SigningKey("sk", armored, "s3cret"), "payload")
