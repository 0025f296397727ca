"""The local git backend: a supervised ``sandbox.git.server`` process and a GitServer client for it."""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox.git.layout import LocalLayout, ensure_token
from sandbox.git.rest import RestGitServer
from sandbox.state import ComponentSpec, Probe
from sandbox.tools import git as gittool

COMPONENT = "git-server"


class LocalGitServer(RestGitServer):
    backend = "local"


def component(state_dir: Path, port: int) -> ComponentSpec:
    """The supervised server process; its token file is created now so the sandbox record can name it."""
    gittool.program()  # a missing git is a clear error now, not a failing component later
    layout = LocalLayout(state_dir)
    ensure_token(layout.token_file)
    url = f"http://127.0.0.1:{port}"
    return ComponentSpec(
        name=COMPONENT,
        argv=[sys.executable, "-m", "sandbox.git.server", "--state-dir", str(state_dir), "--port", str(port)],
        probe=Probe(url=f"{url}/api/v1/version", expect_body='"version"'),
        endpoints={"url": url},
        startup_timeout=30.0,
    )
