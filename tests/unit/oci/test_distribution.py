"""The OCI distribution client against an in-memory registry over HTTP: resolve, manifests, blobs checked against
their digests, tags, basic auth and the errors a person can act on."""

from __future__ import annotations

import pytest

from sandbox.oci.distribution import (
    Credentials,
    NotFoundInRegistry,
    OCIError,
    RegistryClient,
    Unauthorized,
    Unreachable,
    sha256_digest,
)
from tests.unit.oci.fakeregistry import FakeRegistry


def test_resolve_manifest_blob_and_tags() -> None:
    with FakeRegistry() as fake:
        blob = fake.add_blob(b"content")
        digest = fake.add_manifest("team/app", "v1", b'{"schemaVersion":2}')
        fake.add_manifest("team/app", "v2", b'{"schemaVersion":2}')
        with RegistryClient(fake.host, insecure=True) as client:
            assert client.resolve("team/app", "v1") == digest
            manifest = client.manifest("team/app", digest)
            assert manifest.digest == digest and manifest.document == {"schemaVersion": 2}
            assert client.blob("team/app", blob) == b"content"
            assert sorted(client.tags("team/app")) == ["v1", "v2"]


def test_missing_tag_and_repository_are_not_found_naming_the_reference() -> None:
    with FakeRegistry() as fake, RegistryClient(fake.host, insecure=True) as client:
        with pytest.raises(NotFoundInRegistry, match=rf"{fake.host}/app:nope: HTTP 404 MANIFEST_UNKNOWN"):
            client.resolve("app", "nope")
        with pytest.raises(NotFoundInRegistry, match="NAME_UNKNOWN"):
            client.tags("app")


def test_a_blob_whose_content_does_not_match_its_digest_is_refused() -> None:
    with FakeRegistry() as fake:
        fake.blobs[sha256_digest(b"a")] = b"b"
        with RegistryClient(fake.host, insecure=True) as client, pytest.raises(OCIError, match="digest is"):
            client.blob("app", sha256_digest(b"a"))


def test_basic_auth_401_without_and_with_credentials() -> None:
    with FakeRegistry(username="u", password="p") as fake:
        fake.add_manifest("app", "v1", b"{}")
        with RegistryClient(fake.host, insecure=True) as client, \
                pytest.raises(Unauthorized, match=r"HTTP 401 UNAUTHORIZED.*\(no credentials were given\)"):
            client.resolve("app", "v1")
        with RegistryClient(fake.host, insecure=True, credentials=Credentials("u", "wrong")) as client, \
                pytest.raises(Unauthorized):
            client.resolve("app", "v1")
        with RegistryClient(fake.host, insecure=True, credentials=Credentials("u", "p")) as client:
            assert client.resolve("app", "v1") == sha256_digest(b"{}")


def test_nothing_listening_is_unreachable() -> None:
    with FakeRegistry() as fake:
        host = fake.host
    with RegistryClient(host, insecure=True, timeout=2) as client, pytest.raises(Unreachable, match="not reachable"):
        client.resolve("app", "v1")


def test_credentials_never_show_in_repr() -> None:
    assert "secret" not in repr(Credentials("u", "secret"))


def test_a_bearer_challenge_is_answered_with_a_token_for_the_basic_credentials() -> None:
    with FakeRegistry(username="u", password="p", token=True) as fake:
        fake.add_manifest("app", "v1", b"{}")
        with RegistryClient(fake.host, insecure=True, credentials=Credentials("u", "p")) as client:
            assert client.resolve("app", "v1") == sha256_digest(b"{}")
            assert client.manifest("app", "v1").raw == b"{}"  # the token is reused for the scope
        assert sum(r.startswith("GET /token") for r in fake.requests) == 1
        with RegistryClient(fake.host, insecure=True, credentials=Credentials("u", "bad")) as client, \
                pytest.raises(Unauthorized, match=r"the token service at .* answered HTTP 401"):
            client.resolve("app", "v1")
