import pytest

from sandbox.errors import InputError
from sandbox.git.names import check_repo_name


@pytest.mark.parametrize("name", ["app", "fleet-infra", "my_repo.v2", "A1", "x" * 100])
def test_valid_names_pass(name: str) -> None:
    assert check_repo_name(name) == name


@pytest.mark.parametrize(("name", "why"), [
    ("", "letters, digits"),
    ("has space", "letters, digits"),
    ("slash/name", "letters, digits"),
    ("x" * 101, "letters, digits"),
    ("ünïcode", "letters, digits"),
    ("..", "reserved"),
    ("api", "reserved"),
    ("repo.git", "must not end in .git"),
    ("notes.wiki", "must not end in .git"),
    (".hidden", "must not start with '.'"),
    ("a..b", "contain '..'"),
], ids=["empty", "space", "slash", "too-long", "non-ascii", "dotdot", "reserved", "dot-git", "dot-wiki", "hidden",
        "double-dot"])
def test_invalid_names_say_what_is_allowed(name: str, why: str) -> None:
    with pytest.raises(InputError) as info:
        check_repo_name(name)
    assert repr(name) in str(info.value) and why in str(info.value)
