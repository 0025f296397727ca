"""The loopback HTTP server helper every endpoint of the sandbox runs on."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from sandbox.health import serve_health
from sandbox.httpserve import HandlerFactory, LoopbackHTTPServer, LoopbackServer, serve, stop_all


class Hello(BaseHTTPRequestHandler):
    greeting = b"hello"

    def do_GET(self) -> None:
        body = getattr(self.server, "greeting", self.greeting)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_binds_loopback_on_a_free_port_and_serves_until_stopped() -> None:
    server = LoopbackServer(Hello, name="hello")
    assert server.port == 0
    with server:
        assert server.server.server_address[0] == "127.0.0.1"
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert get(server.url + "/") == (200, b"hello")
        assert any(t.name == "hello" and t.daemon for t in threading.enumerate())
    assert not server.running
    with pytest.raises(urllib.error.URLError):
        get(f"http://127.0.0.1:{server.port}/")


def test_stop_is_prompt_idempotent_and_ignores_requests_under_way() -> None:
    entered = threading.Event()
    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            entered.set()
            release.wait(10)

    def ask(url: str) -> None:
        with contextlib.suppress(OSError):
            get(url)

    server = serve(Slow, name="slow")
    threading.Thread(target=ask, args=(server.url + "/",), daemon=True).start()
    assert entered.wait(5)
    started = time.monotonic()
    server.stop()
    server.stop()
    assert time.monotonic() - started < 1.0
    release.set()


def test_stop_all_stops_servers_together() -> None:
    servers = [serve(Hello, name=f"many-{i}") for i in range(4)]
    started = time.monotonic()
    stop_all(servers)
    assert time.monotonic() - started < 1.0
    assert not any(s.running for s in servers)


def test_a_given_port_is_used_and_a_taken_one_fails_without_leaving_a_thread() -> None:
    with serve(Hello, name="first") as first:
        again = LoopbackServer(Hello, name="second", port=first.port)
        with pytest.raises(OSError):
            again.start()
        assert not again.running
        assert not any(t.name == "second" for t in threading.enumerate())
    # The port is free again at once (allow_reuse_address): a restarted component gets it back.
    with serve(Hello, name="third", port=first.port) as third:
        assert get(third.url + "/") == (200, b"hello")


def test_request_lines_go_to_logging_not_stderr(caplog: pytest.LogCaptureFixture,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level(logging.DEBUG, logger="sandbox.http.quiet"), serve(Hello, name="quiet") as server:
        get(server.url + "/missing")
        get(server.url + "/")
    assert capfd.readouterr().err == ""
    assert any('"GET / HTTP/1.1" 200' in record.getMessage() for record in caplog.records)


def test_a_handler_that_logs_itself_is_left_alone(capfd: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []

    class Own(Hello):
        def log_message(self, format: str, *args: Any) -> None:
            seen.append(format % args)

    with serve(Own, name="own") as server:
        get(server.url + "/")
    assert seen and capfd.readouterr().err == ""


def test_a_server_class_gives_handlers_shared_state() -> None:
    class Greeting(LoopbackHTTPServer):
        def __init__(self, port: int, handler: HandlerFactory, *, greeting: bytes) -> None:
            self.greeting = greeting
            super().__init__(port, handler, name="greeting")

    with LoopbackServer(Hello, name="greeting", server_class=partial(Greeting, greeting=b"hi")) as server:
        assert get(server.url + "/") == (200, b"hi")


def test_health_endpoint() -> None:
    ready = threading.Event()
    with serve_health(0, ready.is_set, name="health-test") as health:
        assert get(health.url + "/healthz") == (200, b"ok")
        assert get(health.url + "/readyz") == (503, b"not ready")
        ready.set()
        assert get(health.url + "/readyz") == (200, b"ok")
        assert get(health.url + "/other") == (404, b"not found")
