import pytest

from sandbox.cluster.images import CRASH_ANNOTATION, ImageChecker, parse_image


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "nginx", "latest", ""),
        ("nginx:1.25", "docker.io", "nginx", "1.25", ""),
        ("library/nginx:1.25", "docker.io", "library/nginx", "1.25", ""),
        ("127.0.0.1:5000/app:v1", "127.0.0.1:5000", "app", "v1", ""),
        ("localhost/app", "localhost", "app", "latest", ""),
        ("ghcr.io/org/app@sha256:abc", "ghcr.io", "org/app", "", "sha256:abc"),
        ("ghcr.io/org/app:v2@sha256:abc", "ghcr.io", "org/app", "v2", "sha256:abc"),
        ("registry:5000/team/app", "registry:5000", "team/app", "latest", ""),
    ],
    ids=lambda v: str(v),
)
def test_parse_image(image: str, registry: str, repository: str, tag: str, digest: str) -> None:
    ref = parse_image(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_images_from_sandbox_registry_are_looked_up() -> None:
    seen = []

    def lookup(host: str, repository: str, reference: str) -> bool:
        seen.append((host, repository, reference))
        return reference == "v1"

    checker = ImageChecker({"127.0.0.1:5000": "http://127.0.0.1:5000"}, lookup=lookup)
    assert checker.check("127.0.0.1:5000/app:v1").pullable
    missing = checker.check("127.0.0.1:5000/app:v2")
    assert not missing.pullable
    assert "not found" in missing.message and "app:v2" in missing.message
    assert seen == [("127.0.0.1:5000", "app", "v1"), ("127.0.0.1:5000", "app", "v2")]


def test_other_images_are_pullable_unless_strict() -> None:
    def lookup(host: str, repository: str, reference: str) -> bool:
        raise AssertionError("must not be called for foreign registries")

    assert ImageChecker({"reg:5000": "http://x"}, lookup=lookup).check("nginx:1.25").pullable
    strict = ImageChecker({"reg:5000": "http://x"}, lookup=lookup, strict=True).check("nginx:1.25")
    assert not strict.pullable and "strict" in strict.message


def test_unreachable_registry_is_a_pull_failure() -> None:
    def lookup(host: str, repository: str, reference: str) -> bool:
        raise OSError("connection refused")

    verdict = ImageChecker({"reg:5000": "http://x"}, lookup=lookup).check("reg:5000/app:v1")
    assert not verdict.pullable and "unreachable" in verdict.message


def test_an_image_annotated_as_a_bad_release_is_pullable_and_crashes() -> None:
    def marks(host: str, repository: str, reference: str) -> dict[str, str]:
        return {CRASH_ANNOTATION: "true"} if reference == "1.1.0" else {}

    checker = ImageChecker({"reg:5000": "http://x"}, lookup=lambda *_: True, marks=marks)
    bad = checker.check("reg:5000/app:1.1.0")
    assert bad.pullable and bad.crash
    good = checker.check("reg:5000/app:1.0.1")
    assert good.pullable and not good.crash

