"""Helpers for whole-sandbox tests."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner, Result

from sandbox.cli.main import cli


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and any(text in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN}


@pytest.fixture
def cli_runner() -> type[CliRunner]:
    return CliRunner


def state_path(name: str) -> Path:
    from sandbox.state import StateDir

    return StateDir(name).path
