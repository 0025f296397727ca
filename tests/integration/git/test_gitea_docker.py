"""The Gitea backend's Docker side, against a real engine but without Gitea: image checks and cleanup by label.
Uses an empty image it imports itself (and removes); skips when no Docker engine answers."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import SandboxError
from sandbox.git.gitea import STATE_LABEL, GiteaContainer, docker_usable, remove_stale_containers
from sandbox.ports import free_ports

docker = pytest.importorskip("docker")


def _engine() -> Any:
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        return client
    except Exception:
        return None


ENGINE = _engine()
pytestmark = pytest.mark.skipif(ENGINE is None, reason="needs a Docker engine (start dockerd)")


@pytest.fixture(scope="module")
def root_image() -> Iterator[str]:
    """An image with no files whose user is root, imported from an empty tarball."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w"):
        pass
    name = f"gitops-sandbox-test/empty:{uuid.uuid4().hex[:12]}"
    repository, tag = name.split(":")
    ENGINE.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)
    try:
        yield name
    finally:
        ENGINE.images.remove(name, force=True)


def test_usable_means_the_engine_has_the_image(root_image: str) -> None:
    assert docker_usable(root_image) == (True, "")
    usable, why = docker_usable("gitops-sandbox-test/absent:nope")
    assert not usable and "gitops-sandbox-test/absent:nope is not available" in why


def test_a_root_image_is_refused_before_anything_runs(root_image: str) -> None:
    label = f"/tmp/gitea-test-{uuid.uuid4().hex}"
    with pytest.raises(SandboxError, match=r"runs as root.*rootless"):
        GiteaContainer(image=root_image, port=free_ports(1)[0], labels={STATE_LABEL: label}).start()
    assert ENGINE.containers.list(all=True, filters={"label": f"{STATE_LABEL}={label}"}) == []


def test_containers_left_by_a_killed_runner_are_removed_by_label(root_image: str, tmp_path: Path) -> None:
    mine = ENGINE.containers.create(root_image, command=["/absent"], labels={STATE_LABEL: str(tmp_path)})
    other = ENGINE.containers.create(root_image, command=["/absent"], labels={STATE_LABEL: f"{tmp_path}-other"})
    try:
        assert remove_stale_containers(tmp_path) == 1
        remaining = {c.id for c in ENGINE.containers.list(all=True)}
        assert mine.id not in remaining and other.id in remaining
    finally:
        other.remove(force=True)
