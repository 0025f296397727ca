"""The monitoring web config: a bcrypt hash of the sandbox's password, a private password file, and the header the
clients and the supervisor's probe present."""

from __future__ import annotations

import base64
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import bcrypt
import pytest
import yaml

from sandbox import probe
from sandbox.httpserve import LoopbackServer
from sandbox.monitoring import webauth
from sandbox.monitoring.client import Prometheus, PrometheusError
from sandbox.state import Probe, StateDir


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateDir:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    made = StateDir("webauth")
    made.secrets.mkdir(parents=True, mode=0o700)
    return made


def test_the_password_is_made_once_private_and_only_hashed_in_the_web_config(state: StateDir, tmp_path: Path) -> None:
    path = webauth.ensure_password(state)
    password = path.read_text().strip()
    assert len(password) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert webauth.ensure_password(state).read_text().strip() == password  # kept, not made again
    web = webauth.write_web_config(state, tmp_path / "web.yml")
    assert stat.S_IMODE(web.stat().st_mode) == 0o600
    assert password not in web.read_text()
    hashed = yaml.safe_load(web.read_text())["basic_auth_users"]["sandbox"]
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    assert not bcrypt.checkpw(b"guessed", hashed.encode())


class _Checking:
    """A loopback server answering 200 only to the expected basic credentials (as Prometheus's web config does)."""

    def __init__(self, expected: str) -> None:
        self.seen: list[str] = []
        lock, seen = threading.Lock(), self.seen

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                return None

            def _answer(self) -> None:
                got = self.headers.get("Authorization", "")
                with lock:
                    seen.append(got)
                ok = got == expected
                body = b'{"status": "success", "data": {"resultType": "vector", "result": []}}' if ok else b"no"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

        self.server = LoopbackServer(Handler, name="webauth-check").start()


@pytest.fixture
def checking() -> Iterator[_Checking]:
    expected = "Basic " + base64.b64encode(b"sandbox:s3cret").decode()
    server = _Checking(expected)
    yield server
    server.server.stop()


def test_the_probe_and_the_client_present_the_credentials(checking: _Checking, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    ok, why = probe.http_ok(Probe(url=f"{checking.server.url}/-/ready", username="sandbox",
                                  password_file=str(secret)))
    assert ok, why
    assert probe.http_ok(Probe(url=f"{checking.server.url}/-/ready")) == (False, "HTTP 401")
    assert Prometheus(checking.server.url, auth=("sandbox", "s3cret")).query("up") == []
    Prometheus(checking.server.url, auth=("sandbox", "s3cret")).reload()
    with pytest.raises(PrometheusError, match="answered 401"):
        Prometheus(checking.server.url).query("up")
    with pytest.raises(PrometheusError) as refused:
        Prometheus(checking.server.url, auth=("sandbox", "wrong")).reload()
    assert "wrong" not in str(refused.value)
