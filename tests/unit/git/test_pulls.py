"""Pull requests of the local git server against real bare repositories: create, merge, sync, close, AGit."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import Conflict, InputError, NotFound
from sandbox.git.pulls import MergeRefused, PreconditionFailed, PullEvent, PullStore
from sandbox.git.store import RepoStore
from sandbox.tools.git import ZERO_SHA, Identity, git

ME = Identity("Tester", "tester@example.com")


class Work:
    """A working copy pushing to the bare repository by path."""

    def __init__(self, path: Path, bare: Path) -> None:
        self.path, self.bare = path, bare
        git(["init", "--quiet", "--initial-branch=main", str(path)])
        git(["remote", "add", "origin", str(bare)], cwd=path)

    def commit(self, branch: str, files: dict[str, str], message: str, *, start: str | None = None) -> str:
        git(["checkout", "--quiet", "-B", branch, *([start] if start else [])], cwd=self.path)
        for name, text in files.items():
            (self.path / name).write_text(text)
        git(["add", "--all"], cwd=self.path)
        git(["commit", "--quiet", "-m", message], cwd=self.path, identity=ME)
        git(["push", "--quiet", "--force", "origin", f"{branch}:{branch}"], cwd=self.path)
        return git(["rev-parse", "HEAD"], cwd=self.path).stdout.strip()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[PullStore, Work]:
    store = RepoStore(tmp_path / "data", "sandbox")
    store.create("app", private=True)
    work = Work(tmp_path / "work", store.git_dir("app"))
    work.commit("main", {"app.yaml": "image: app:1.0.0\n", "README.md": "hi\n"}, "initial")
    return PullStore(store), work


def bare(pulls: PullStore, *args: str) -> str:
    return git(["--git-dir", str(pulls.store.git_dir("app")), *args]).stdout.strip()


def test_create_tracks_head_in_refs_pull_and_refuses_duplicates(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    head = work.commit("bump", {"app.yaml": "image: app:1.0.1\n"}, "bump", start="main")
    pull = pulls.create("app", head="bump", base="main", title=" Bump app ", body="why")
    assert (pull.number, pull.title, pull.state, pull.merged) == (1, "Bump app", "open", False)
    assert pulls.ref_sha("app", "refs/pull/1/head") == head == pulls.head_sha("app", pull)
    assert pulls.mergeable("app", pull) is True
    with pytest.raises(Conflict, match="already exists for these targets: #1"):
        pulls.create("app", head="bump", base="main", title="again")
    with pytest.raises(NotFound, match="head branch 'nope' does not exist"):
        pulls.create("app", head="nope", base="main", title="t")
    with pytest.raises(InputError, match="no changes"):
        work.commit("same", {"README.md": "hi\n", "x": "y"}, "x", start="main")
        pulls.create("app", head="main", base="same", title="t")
    assert [p.number for p in pulls.list_pulls("app")] == [1]


def test_merge_makes_a_two_parent_commit_on_base(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    base_before = pulls.branch_sha("app", "main")
    head = work.commit("bump", {"app.yaml": "image: app:1.0.1\n"}, "bump", start="main")
    work.commit("main", {"README.md": "changed on main\n"}, "main moves", start="main")
    base_moved = pulls.branch_sha("app", "main")
    pulls.create("app", head="bump", base="main", title="Bump app")
    result = pulls.merge("app", 1, style="merge", merger="sandbox")
    merged = result.pull
    assert merged.merged and merged.state == "closed" and merged.merge_commit_sha
    assert pulls.branch_sha("app", "main") == merged.merge_commit_sha != base_moved != base_before
    assert bare(pulls, "log", "-1", "--format=%P", "main").split() == [base_moved, head]
    assert bare(pulls, "log", "-1", "--format=%s", "main") == "Merge pull request 'Bump app' (#1) from bump into main"
    assert bare(pulls, "show", "main:app.yaml") == "image: app:1.0.1"
    assert bare(pulls, "show", "main:README.md") == "changed on main"
    assert [(u.ref, u.before, u.after) for u in result.updates] == [("refs/heads/main", base_moved,
                                                                      merged.merge_commit_sha)]
    with pytest.raises(MergeRefused, match="already merged"):
        pulls.merge("app", 1, style="merge")
    assert pulls.is_merged("app", 1)
    with pytest.raises(PreconditionFailed, match="already merged"):
        pulls.edit("app", 1, state="open")


def test_squash_has_one_parent_and_deletes_the_branch_when_asked(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    base = pulls.branch_sha("app", "main")
    work.commit("bump", {"app.yaml": "image: app:1.0.1\n"}, "one", start="main")
    head = work.commit("bump", {"app.yaml": "image: app:1.0.2\n"}, "two")
    pulls.create("app", head="bump", base="main", title="Bump app")
    result = pulls.merge("app", 1, style="squash", message="details", delete_branch=True)
    assert bare(pulls, "log", "-1", "--format=%P", "main") == base
    assert bare(pulls, "log", "-1", "--format=%B", "main") == "Bump app (#1)\n\ndetails"
    assert pulls.branch_sha("app", "bump") == ""
    assert result.updates[1].ref == "refs/heads/bump" and result.updates[1].after == ZERO_SHA
    assert pulls.ref_sha("app", "refs/pull/1/head") == head, "the head stays reachable under refs/pull"
    assert pulls.head_ref_name("app", result.pull) == "refs/pull/1/head"


def test_conflict_is_409_and_changes_nothing(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    work.commit("bump", {"app.yaml": "image: app:1.0.1\n"}, "bump", start="main")
    work.commit("main", {"app.yaml": "image: app:2.0.0\n"}, "conflicting", start="main")
    base = pulls.branch_sha("app", "main")
    pull = pulls.create("app", head="bump", base="main", title="Bump app")
    assert pulls.mergeable("app", pull) is False
    with pytest.raises(Conflict, match=r"merge failed because of conflict.*app.yaml"):
        pulls.merge("app", 1, style="merge")
    assert pulls.branch_sha("app", "main") == base and not pulls.get("app", 1).merged


def test_unsupported_styles_name_the_supported_ones(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    work.commit("bump", {"app.yaml": "image: app:1.0.1\n"}, "bump", start="main")
    pulls.create("app", head="bump", base="main", title="t")
    with pytest.raises(MergeRefused, match=r"'rebase' is not supported.*merge, squash, fast-forward-only"):
        pulls.merge("app", 1, style="rebase")
    with pytest.raises(InputError, match="not a merge style"):
        pulls.merge("app", 1, style="octopus")
    with pytest.raises(Conflict, match="head out of date"):
        pulls.merge("app", 1, style="merge", head_commit_id="0" * 40)


def test_fast_forward_only(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    head = work.commit("bump", {"app.yaml": "image: app:1.0.1\n"}, "bump", start="main")
    pulls.create("app", head="bump", base="main", title="t")
    assert pulls.merge("app", 1, style="fast-forward-only").pull.merge_commit_sha == head
    assert pulls.branch_sha("app", "main") == head


def test_push_synchronises_and_branch_deletion_closes(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    first = work.commit("bump", {"app.yaml": "image: app:1.0.1\n"}, "bump", start="main")
    pulls.create("app", head="bump", base="main", title="t")
    second = work.commit("bump", {"app.yaml": "image: app:1.0.2\n"}, "again")
    assert pulls.on_push("app", "refs/heads/bump", first, second) == [PullEvent("synchronized", 1)]
    assert pulls.ref_sha("app", "refs/pull/1/head") == second
    assert pulls.on_push("app", "refs/heads/other", first, second) == []
    assert pulls.on_push("app", "refs/heads/bump", second, ZERO_SHA) == [PullEvent("closed", 1)]
    assert pulls.get("app", 1).state == "closed"


def test_edit_close_and_reopen(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    work.commit("bump", {"app.yaml": "image: app:1.0.1\n"}, "bump", start="main")
    pulls.create("app", head="bump", base="main", title="t")
    pull, events = pulls.edit("app", 1, title="New title", state="closed")
    assert (pull.title, pull.state) == ("New title", "closed") and pull.closed_at
    assert events == [PullEvent("closed", 1), PullEvent("edited", 1)]
    assert pulls.list_pulls("app") == [] and [p.number for p in pulls.list_pulls("app", state="closed")] == [1]
    pull, events = pulls.edit("app", 1, state="open")
    assert pull.state == "open" and events == [PullEvent("reopened", 1)]
    with pytest.raises(InputError):
        pulls.list_pulls("app", state="merged")


def test_agit_opens_then_updates_the_same_pull_request(setup: tuple[PullStore, Work]) -> None:
    pulls, work = setup
    first = work.commit("flux-updates", {"app.yaml": "image: app:1.0.1\n"}, "Update app to 1.0.1", start="main")
    opened = pulls.agit("app", ref="refs/for/main", old=ZERO_SHA, new=first, options={"topic": "flux"},
                        user="sandbox")
    assert opened.created and opened.ref == "refs/pull/1/head" and opened.pull is not None
    assert (opened.pull.head, opened.pull.base, opened.pull.title) == ("sandbox/flux", "main", "Update app to 1.0.1")
    second = work.commit("flux-updates", {"app.yaml": "image: app:1.0.2\n"}, "Update app to 1.0.2")
    updated = pulls.agit("app", ref="refs/for/main", old=ZERO_SHA, new=second,
                         options={"topic": "flux", "title": "ignored for an existing one"}, user="sandbox")
    assert not updated.created and updated.old == first and updated.pull is not None
    assert updated.pull.number == 1 and updated.pull.title == "Update app to 1.0.1"
    assert pulls.head_sha("app", updated.pull) == second
    # A rewritten history needs force-push=true, as on Gitea.
    rewritten = work.commit("rewritten", {"app.yaml": "image: app:1.0.3\n"}, "rewrite", start="main")
    refused = pulls.agit("app", ref="refs/for/main", old=ZERO_SHA, new=rewritten, options={"topic": "flux"},
                         user="sandbox")
    assert refused.error == "request `force-push` push option"
    forced = pulls.agit("app", ref="refs/for/main", old=ZERO_SHA, new=rewritten,
                        options={"topic": "flux", "force-push": "true"}, user="sandbox")
    assert not forced.error and pulls.ref_sha("app", "refs/pull/1/head") == rewritten
    assert pulls.agit("app", ref="refs/for/main", old=ZERO_SHA, new=rewritten, options={"topic": "flux"},
                      user="sandbox").error == "new commit is same with old commit"
    assert pulls.agit("app", ref="refs/for/main", old=ZERO_SHA, new=rewritten, options={},
                      user="sandbox").error == "topic-branch is not set"
    # The topic may also follow the base in the ref.
    other = pulls.agit("app", ref="refs/for/main/feature-x", old=ZERO_SHA, new=first, options={}, user="sandbox")
    assert other.created and other.pull is not None and other.pull.head == "sandbox/feature-x"
    merged = pulls.merge("app", 1, style="merge")
    assert bare(pulls, "show", "main:app.yaml") == "image: app:1.0.3" and merged.pull.merged


def test_repositories_of_older_servers_get_the_agit_hook(tmp_path: Path) -> None:
    store = RepoStore(tmp_path / "data", "sandbox")
    store.create("old", private=False)
    hook = store.git_dir("old") / "hooks" / "proc-receive"
    assert hook.stat().st_mode & 0o111
    hook.unlink()
    store.ensure_hooks()
    assert "sandbox.git.agit" in hook.read_text() and hook.stat().st_mode & 0o111
