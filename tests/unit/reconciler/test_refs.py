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
