"""The health endpoint every long-running component of a sandbox serves on loopback (``/healthz``, ``/readyz``)."""

from __future__ import annotations

import http.server
from collections.abc import Callable

from sandbox.httpserve import LoopbackServer


def serve_health(port: int, ready: Callable[[], bool], *, name: str = "health") -> LoopbackServer:
    """Serve ``/healthz`` (alive: always 200) and ``/readyz`` (200 when ``ready()``, else 503) on 127.0.0.1."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            ok = path == "/healthz" or (path == "/readyz" and ready())
            body = b"ok" if ok else (b"not ready" if path == "/readyz" else b"not found")
            self.send_response(200 if ok else (503 if path == "/readyz" else 404))
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return LoopbackServer(Handler, name=name, port=port).start()
