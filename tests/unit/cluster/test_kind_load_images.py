"""`sandbox up --load-image`: refused on the embedded cluster and for images the local engine lacks, each saying why
and what to do, before anything starts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sandbox.cli.main import cli
from sandbox.cluster import kind
from sandbox.errors import InputError


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


def test_up_refuses_load_image_without_kind(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("SANDBOX_STATE_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["up", "--name", "loadimg", "--load-image", "my/app:dev"])
    assert result.exit_code != 0
    assert "--load-image" in result.output and "--cluster kind" in result.output
