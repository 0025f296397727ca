"""Helpers for whole-sandbox tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner, Result

from sandbox.cli.main import cli
from sandbox.handle import SandboxHandle


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


@contextlib.contextmanager
def sandbox_whose_registry_reaches_receivers(shared: SandboxHandle, name: str) -> Iterator[SandboxHandle]:
    """The session sandbox when its registry can call the reconciler's receiver; else (the registry in a container,
    as where Docker runs) a sandbox of the caller's own with the local registry — so registry webhooks are tested
    wherever the tests run, never skipped for a setting."""
    from sandbox import registry_hooks
    from sandbox.config import UpOptions

    reachable, _ = registry_hooks.registry_can_reach_receivers(shared.state)
    if reachable:
        yield shared
        return
    handle = SandboxHandle.start(UpOptions(name=f"{name}-{os.getpid()}", registry="local"))
    try:
        yield handle
    finally:
        handle.stop()
