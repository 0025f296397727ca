import pytest

from sandbox.errors import InputError
from sandbox.registry.reference import ImageReference, in_registry, parse

HOSTS = ("127.0.0.1:5555", "localhost:5555")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app", ImageReference("", "app")),
        ("app:v1", ImageReference("", "app", "v1")),
        ("team/app:1.0.0-rc.1", ImageReference("", "team/app", "1.0.0-rc.1")),
        ("team/a.b_c__d-e--f:TAG_1", ImageReference("", "team/a.b_c__d-e--f", "TAG_1")),
        ("127.0.0.1:5555/team/app:v2", ImageReference("127.0.0.1:5555", "team/app", "v2")),
        ("localhost/app", ImageReference("localhost", "app")),
        ("ghcr.io/org/app@sha256:" + "a" * 64, ImageReference("ghcr.io", "org/app", "", "sha256:" + "a" * 64)),
    ],
    ids=lambda v: str(v),
)
def test_valid_references(text: str, expected: ImageReference) -> None:
    assert parse(text) == expected
    assert str(parse(text)) == text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty"),
        (" app", "spaces"),
        ("Team/App:v1", "repository 'Team/App' is not valid"),
        ("app:-v1", "tag '-v1' is not valid"),
        ("app:" + "x" * 129, "is not valid"),
        ("team//app", "is not valid"),
        ("app_:v1", "is not valid"),
        ("app@sha256:xyz", "digest"),
        ("bad_host.io:5000/app", "registry host"),
        ("127.0.0.1:5555/", "repository name is empty"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_invalid_references_say_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(InputError, match="invalid image reference") as info:
        parse(text)
    assert complaint in str(info.value)


def test_reference_without_host_means_the_sandbox_registry_and_tag_defaults_to_latest() -> None:
    assert in_registry("team/app", HOSTS, want_tag=True) == ImageReference(HOSTS[0], "team/app", "latest")
    assert in_registry("localhost:5555/app:v3", HOSTS, want_tag=True) == ImageReference(HOSTS[0], "app", "v3")


@pytest.mark.parametrize(
    ("text", "want_tag", "complaint"),
    [
        ("docker.io/library/nginx:1.25", True, "names registry 'docker.io'"),
        ("127.0.0.1:9999/app:v1", True, "names registry '127.0.0.1:9999'"),
        ("app@sha256:" + "b" * 64, True, "has a digest"),
        ("app:v1", False, "has a tag"),
    ],
    ids=["other-registry", "other-port", "digest", "tag-where-repository-wanted"],
)
def test_references_outside_the_sandbox_registry_are_refused(text: str, want_tag: bool, complaint: str) -> None:
    with pytest.raises(InputError, match=complaint):
        in_registry(text, HOSTS, want_tag=want_tag)
