"""The registry's htpasswd mode (`sandbox up --registry-auth`) on the local backend: anonymous requests are refused,
the sandbox's own clients (image push, tag listing, charts, the node agent's pull check) use the per-sandbox
credentials, and the reconciler's registry client lists tags and resolves digests with a pull Secret of them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import demochart, helmrepo
from sandbox.cluster.images import ImageChecker
from sandbox.config import UpOptions
from sandbox.errors import NotRunning
from sandbox.oci.distribution import Credentials, OCIError, RegistryClient, Unauthorized
from sandbox.reconciler.image.auth import Access, credentials_for
from sandbox.reconciler.image.reference import parse_image
from sandbox.reconciler.image.registryclient import list_tags, tag_digest
from sandbox.registry import artifacts, auth, container, oci
from sandbox.registry.base import RegistryEndpoint, endpoint_of
from sandbox.registry.service import RegistryService
from sandbox.state import StateDir
from tests.integration.helpers import running_services


@pytest.fixture(scope="module", params=["local", "container"])
def private_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """An authenticated registry on each backend (the container one mounts the htpasswd file read-only)."""
    backend = request.param
    if backend == "container":
        ok, why = container.availability(container.image_name())
        if not ok:
            pytest.skip(f"container registry backend unavailable: {why}")
    name = f"it-registry-auth-{backend}-{os.getpid()}"
    with running_services(name, [RegistryService()], UpOptions(name=name, registry=backend, registry_auth=True)):
        yield name


@pytest.fixture
def registry(private_name: str) -> RegistryEndpoint:
    return endpoint_of(private_name)


def test_credentials_are_private_files_and_the_registry_refuses_anonymous_requests(
        private_name: str, registry: RegistryEndpoint) -> None:
    state = StateDir(private_name)
    for path in (auth.credentials_file(state), auth.htpasswd_file(state)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    credentials = auth.credentials_of(private_name)
    assert credentials is not None
    assert credentials.password not in (state.path / "registry" / "config.yml").read_text()
    assert credentials.password not in repr(credentials)
    with pytest.raises(oci.RegistryRequestError, match="authenticated mode"):
        oci.ping(registry.host)
    with RegistryClient(registry.host, insecure=True) as anonymous, pytest.raises(Unauthorized):
        anonymous.tags("team/app")


def test_sandbox_clients_use_the_credentials(private_name: str, registry: RegistryEndpoint, tmp_path: Path) -> None:
    pushed = artifacts.push_image(private_name, "team/app:1.0.0")
    artifacts.push_image(private_name, "team/app:1.1.0")
    listed = artifacts.image_tags(private_name, "team/app")
    assert [t["tag"] for t in listed["tags"]] == ["1.0.0", "1.1.0"]
    assert listed["tags"][0]["digest"] == pushed["digest"]
    credentials = auth.credentials_of(private_name)
    checker = ImageChecker({registry.host: registry.url}, credentials_file=auth.credentials_file(StateDir(
        private_name)))
    assert checker.manifest(registry.host, "team/app", "1.0.0") is not None
    assert checker.manifest(registry.host, "team/app", "9.9.9") is None
    anonymous = ImageChecker({registry.host: registry.url})
    with pytest.raises(Exception, match="401"):
        anonymous.manifest(registry.host, "team/app", "1.0.0")
    archive = helmrepo.package(helmrepo.load_chart_dir(demochart.chart_dir(demochart.versions()[0])), tmp_path)
    chart = oci.push_chart(registry.host, archive, credentials=credentials)
    assert chart.version in oci.chart_versions(registry.host, chart.name, credentials=credentials)
    with pytest.raises(oci.RegistryRequestError):
        oci.push_chart(registry.host, archive)


def test_reflector_client_lists_tags_and_resolves_digests_with_a_pull_secret(
        private_name: str, registry: RegistryEndpoint) -> None:
    for n in range(5):
        artifacts.push_image(private_name, f"paged/app:0.{n}.0")
    secret = auth.pull_secret_of(private_name, "apps")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    image = parse_image(f"{registry.host}/paged/app")
    access = Access(credentials_for({**secret, "metadata": {"name": "registry-credentials", "namespace": "apps"}},
                                    image))
    # distribution 2.8 answers every tag at once (in storage order) whatever ``n`` asks: pagination itself is
    # covered against a paginating server in tests/unit/reconciler/image/test_registryclient.py.
    assert sorted(list_tags(image, access, page_size=2)) == [f"0.{n}.0" for n in range(5)]
    expected = oci.resolve_digest(registry.host, "paged/app", "0.3.0", credentials=auth.credentials_of(private_name))
    assert tag_digest(image, "0.3.0", access) == expected
    with pytest.raises(OCIError, match="401"):
        list_tags(image, Access(Credentials("nobody", "wrong")))


def test_pull_secret_of_a_sandbox_that_is_not_up() -> None:
    with pytest.raises(NotRunning, match="is not up"):
        auth.pull_secret_of("no-such-sandbox-here", "apps")
