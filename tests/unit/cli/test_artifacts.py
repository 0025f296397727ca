"""`sandbox push|tag artifact` and `sandbox list artifacts`: the commands exist with their help and examples, and
annotations are parsed as flux parses them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sandbox.cli.main import cli
from sandbox.cli.push import parse_annotations
from sandbox.errors import UsageError


@pytest.mark.parametrize("words", [["push", "artifact"], ["tag", "artifact"], ["list", "artifacts"],
                                   ["reconcile", "source", "oci"], ["get", "sources", "oci"]])
def test_the_commands_are_there_with_examples(words: list[str]) -> None:
    result = CliRunner().invoke(cli, [*words, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_push_needs_source_and_revision() -> None:
    result = CliRunner().invoke(cli, ["push", "artifact", "oci://127.0.0.1:1/app:v1", "--path", "."],
                                catch_exceptions=False)
    assert result.exit_code == 2 and "--source" in result.output


def test_annotations_are_key_value() -> None:
    assert parse_annotations(("a=b", "team=web")) == {"a": "b", "team": "web"}
    with pytest.raises(UsageError, match="invalid annotation nokey, must be in the format key=value"):
        parse_annotations(("nokey",))
