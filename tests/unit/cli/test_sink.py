"""`sandbox sink --help`: what it records, and an example wiring a generic-hmac Provider to it."""

from __future__ import annotations

from click.testing import CliRunner

from sandbox.cli.main import cli


def test_sink_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["sink", "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output and "sandbox sink --port 9099 --hmac-token-file" in result.output
    assert "--output" in result.output and "generic-hmac" in result.output
