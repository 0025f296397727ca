"""The local git server as its own process, started the way the supervisor starts it, on a free port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.git.layout import LocalLayout
from sandbox.git.local import LocalGitServer
from sandbox.ports import free_ports
from sandbox.probe import http_ok
from sandbox.state import Probe
from sandbox.waiting import wait_until


@dataclass
class RunningServer:
    state_dir: Path
    process: subprocess.Popen[bytes]
    client: LocalGitServer
    log: Path

    @property
    def layout(self) -> LocalLayout:
        return LocalLayout(self.state_dir)


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    state_dir = tmp_path_factory.mktemp("git-state")
    port = free_ports(1)[0]
    log = state_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "sandbox.git.server", "--state-dir", str(state_dir),
                                    "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(Probe(url=f"{url}/api/v1/version"))[0], timeout=20,
                   what="the local git server to answer", describe=lambda: log.read_text()[-500:])
        client = LocalGitServer.connect(url, LocalLayout(state_dir).token_file)
        yield RunningServer(state_dir, process, client, log)
    finally:
        process.terminate()
        process.wait(timeout=10)
