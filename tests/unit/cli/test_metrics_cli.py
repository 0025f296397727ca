"""`sandbox up --monitoring` flags and `sandbox metrics` refusals that need no running sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.cli.main import cli


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_STATE_HOME", str(tmp_path / "state"))


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_alert_webhook_needs_monitoring() -> None:
    code, out = run("up", "--name", "m", "--alert-webhook", "http://127.0.0.1:1/hook")
    assert code == 1 and "--alert-webhook and --monitoring-settings need --monitoring" in out


def test_a_bad_webhook_url_is_refused_before_anything_starts() -> None:
    code, out = run("up", "--name", "m", "--monitoring", "--alert-webhook", "ftp://example/hook")
    assert code == 1 and "--alert-webhook 'ftp://example/hook' is not an http(s) URL" in out


def test_a_bad_settings_file_is_named(tmp_path: Path) -> None:
    settings = tmp_path / "mon.yaml"
    settings.write_text("failure_for: soon\n")
    code, out = run("up", "--name", "m", "--monitoring", "--monitoring-settings", str(settings))
    assert code == 1 and "failure_for='soon' is not a Prometheus duration" in out


def test_metrics_on_a_sandbox_that_is_not_up() -> None:
    code, out = run("metrics", "query", "up", "--name", "absent")
    assert code != 0 and "sandbox 'absent' is not up" in out and "--monitoring" in out
