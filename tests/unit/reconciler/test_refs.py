import pytest

from sandbox.reconciler.source.refs import RefNotFound, resolve

SHA_MAIN, SHA_DEV, SHA_V1, SHA_V12, SHA_V2, SHA_ANN = ("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40, "f" * 40)
REFS = {
    "HEAD": SHA_MAIN,
    "refs/heads/main": SHA_MAIN,
    "refs/heads/dev": SHA_DEV,
    "refs/tags/v1.0.0": SHA_V1,
    "refs/tags/v1.2.0": "9" * 40,  # annotated tag object...
    "refs/tags/v1.2.0^{}": SHA_V12,  # ...and the commit it points at
    "refs/tags/v2.0.0": SHA_V2,
    "refs/pull/7/head": SHA_ANN,
}
URL = "http://127.0.0.1/repo.git"


@pytest.mark.parametrize(("ref", "revision"), [
    ({"branch": "main"}, f"main@sha1:{SHA_MAIN}"),
    ({"tag": "v1.0.0"}, f"v1.0.0@sha1:{SHA_V1}"),
    ({"tag": "v1.2.0"}, f"v1.2.0@sha1:{SHA_V12}"),
    ({"semver": ">=1.0.0 <2.0.0"}, f"v1.2.0@sha1:{SHA_V12}"),
    ({"semver": ">=1.0.0, <2.0.0"}, f"v1.2.0@sha1:{SHA_V12}"),
    ({"semver": "^1.0"}, f"v1.2.0@sha1:{SHA_V12}"),
    ({"semver": "*"}, f"v2.0.0@sha1:{SHA_V2}"),
    ({"name": "refs/pull/7/head"}, f"refs/pull/7/head@sha1:{SHA_ANN}"),
    ({"commit": SHA_DEV}, f"sha1:{SHA_DEV}"),
    ({"commit": SHA_DEV, "branch": "dev"}, f"dev@sha1:{SHA_DEV}"),
    ({"branch": "main", "tag": "v1.0.0"}, f"v1.0.0@sha1:{SHA_V1}"),
    ({"tag": "v1.0.0", "semver": "^2"}, f"v2.0.0@sha1:{SHA_V2}"),
], ids=lambda v: str(v))
def test_resolution_and_precedence(ref: dict[str, str], revision: str) -> None:
    assert resolve(ref, REFS, URL).revision == revision


def test_no_ref_means_master_and_the_error_says_so() -> None:
    with pytest.raises(RefNotFound, match="default branch 'master'"):
        resolve(None, REFS, URL)
    assert resolve(None, {**REFS, "refs/heads/master": SHA_DEV}, URL).revision == f"master@sha1:{SHA_DEV}"


@pytest.mark.parametrize("ref", [{"branch": "nope"}, {"tag": "v9"}, {"semver": ">=3"}, {"name": "refs/x"}])
def test_missing_refs_are_named(ref: dict[str, str]) -> None:
    with pytest.raises(RefNotFound, match=URL):
        resolve(ref, REFS, URL)


def test_what_a_tag_verification_needs_is_kept() -> None:
    annotated = resolve({"tag": "v1.2.0"}, REFS, URL)
    assert (annotated.tag, annotated.tag_object, annotated.sha) == ("v1.2.0", "9" * 40, SHA_V12)
    lightweight = resolve({"semver": "1.0.0"}, REFS, URL)
    assert (lightweight.tag, lightweight.tag_object) == ("v1.0.0", None)
    named = resolve({"name": "refs/tags/v1.2.0"}, REFS, URL)
    assert (named.revision, named.tag, named.tag_object) == (f"refs/tags/v1.2.0@sha1:{SHA_V12}", "v1.2.0", "9" * 40)
    assert resolve({"branch": "main"}, REFS, URL).tag is None


def test_a_commit_is_fetched_by_id_or_through_its_branch() -> None:
    bare = resolve({"commit": SHA_DEV.upper()}, REFS, URL)
    assert (bare.fetch_ref, bare.branch_head, bare.revision) == (SHA_DEV, None, f"sha1:{SHA_DEV}")
    # A commit below the branch head: fetched with the branch, which must contain it.
    below = resolve({"commit": SHA_V1, "branch": "main"}, REFS, URL)
    assert (below.sha, below.fetch_ref, below.branch_head) == (SHA_V1, "refs/heads/main", SHA_MAIN)
    assert below.revision == f"main@sha1:{SHA_V1}"
    with pytest.raises(RefNotFound, match="branch 'gone'"):
        resolve({"commit": SHA_V1, "branch": "gone"}, REFS, URL)
