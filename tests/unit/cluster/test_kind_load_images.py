"""`sandbox up --load-image`: refused on the embedded cluster and for images the local engine lacks, each saying why
and what to do, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.cli.main import cli
from sandbox.cluster import kind
from sandbox.errors import InputError
from sandbox.state import StateDir


def test_no_images_is_always_fine() -> None:
    kind.check_load_images("embedded", (), lambda _: False)


def test_refused_on_the_embedded_cluster_saying_why() -> None:
    with pytest.raises(InputError, match=r"simulated nodes run no image.*--cluster kind"):
        kind.check_load_images("embedded", ("my/app:dev",), lambda _: True)


def test_a_missing_local_image_is_named_with_what_to_do() -> None:
    present = {"nginx:1.25"}
    with pytest.raises(InputError) as caught:
        kind.check_load_images("kind", ("nginx:1.25", "postgres:16", "my/app:dev"), present.__contains__)
    message = str(caught.value)
    assert "postgres:16, my/app:dev" in message and "nginx:1.25" not in message.split(".")[0]
    assert "docker pull postgres:16" in message
    assert "python -m sandbox.kindnode.standins postgres:16 my/app:dev" in message


def test_images_the_engine_has_pass() -> None:
    kind.check_load_images("kind", ("nginx:1.25",), {"nginx:1.25"}.__contains__)


def test_up_refuses_load_image_without_kind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SANDBOX_STATE_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["up", "--name", "loadimg", "--load-image", "my/app:dev"])
    assert result.exit_code != 0
    assert "--load-image" in result.output and "--cluster kind" in result.output


class FakeKind:
    """The kind CLI's calls as plan() makes them, in order (the real ones run in tests/e2e_kind)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def get_clusters(self, binary: object) -> list[str]:
        return []

    def create_cluster(self, binary: object, name: str, config: object, kubeconfig: Path) -> None:
        self.calls.append(("create", name))
        kubeconfig.write_text("clusters:\n- cluster: {server: 'https://127.0.0.1:6443'}\n")

    def load_docker_image(self, binary: object, name: str, images: tuple[str, ...]) -> None:
        self.calls.append(("load", name, *images))


def _fake_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, local: set[str]) -> FakeKind:
    fake = FakeKind()
    monkeypatch.setenv("SANDBOX_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(kind.docker, "usable", lambda: (True, ""))
    monkeypatch.setattr(kind.docker, "image_exists", local.__contains__)
    monkeypatch.setattr(kind.docker, "cgroup_version", lambda: "2")
    monkeypatch.setattr(kind, "locate", lambda bin_dir=None: tmp_path / "kind")
    for name in ("get_clusters", "create_cluster", "load_docker_image"):
        monkeypatch.setattr(kind.kindcli, name, getattr(fake, name))
    return fake


def test_plan_loads_the_images_once_the_cluster_exists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _fake_engine(monkeypatch, tmp_path, {"nginx:1.25", "postgres:16"})
    state = StateDir("loads")
    state.create()
    kind.KindCluster("loads", load_images=("nginx:1.25", "postgres:16")).plan(state)
    assert fake.calls == [("create", "sandbox-loads"), ("load", "sandbox-loads", "nginx:1.25", "postgres:16")]
    assert kind.read_record(state)["loaded_images"] == ["nginx:1.25", "postgres:16"]


def test_plan_refuses_a_missing_image_before_creating_anything(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    fake = _fake_engine(monkeypatch, tmp_path, {"nginx:1.25"})
    state = StateDir("missing")
    state.create()
    with pytest.raises(InputError, match="postgres:16"):
        kind.KindCluster("missing", load_images=("nginx:1.25", "postgres:16")).plan(state)
    assert fake.calls == [] and not kind.read_record(state)
