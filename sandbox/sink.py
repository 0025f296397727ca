"""A webhook sink: a loopback HTTP server that records every POST it receives (path, headers, JSON body), so
alerts can be watched (``sandbox sink``) and asserted on (the pytest fixture ``alerts``). Given the token of a
``generic-hmac`` Provider, it verifies the ``X-Signature: sha256=<hex>`` header and answers 401 to a bad one.
``Authorization`` headers are never recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, TextIO

from sandbox.httpserve import LoopbackServer
from sandbox.waiting import wait_until

MAX_BODY = 4 << 20
HIDDEN_HEADERS = {"authorization", "proxy-authorization", "cookie"}


@dataclass(frozen=True)
class Received:
    """One request the sink received."""

    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON, or the text when it is not JSON
    signature: str | None = None  # "valid" / "invalid" when the sink checks this request's signature, else None
    time: float = field(default_factory=time.time)

    def as_line(self) -> dict[str, Any]:
        line: dict[str, Any] = {"time": self.time, "path": self.path, "headers": self.headers, "body": self.body}
        if self.signature is not None:
            line["signature"] = self.signature
        return line


def hmac_signature(body: bytes, token: str) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


class Sink:
    """``start()``, then point a Provider at ``url`` (any path under it); ``received()`` lists what came."""

    def __init__(self, *, port: int = 0, token: str | None = None, out: TextIO | None = None,
                 unsigned_ok: bool = False) -> None:
        self._token = token
        self._unsigned_ok = unsigned_ok  # with a token: accept requests without X-Signature (recorded unsigned)
        self._out = out
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._handler(), name="sink", port=port)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> Sink:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def verify_with(self, token: str | None) -> None:
        """Check X-Signature with ``token`` from now on (None: stop checking)."""
        self._token = token

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 10.0,
                 what: str = "a matching request at the sink") -> Received:
        """The first request received (earlier ones included) for which ``predicate`` is true."""
        def found() -> Received | None:
            return next((r for r in self.received() if predicate(r)), None)

        return wait_until(found, timeout=timeout, what=what,
                          describe=lambda: f"{len(self.received())} request(s) received, none matching")

    def record(self, path: str, headers: dict[str, str], raw: bytes) -> bool:
        """Record one request; False when its signature is checked and wrong."""
        signature = None
        given = next((v for k, v in headers.items() if k.lower() == "x-signature"), None)
        if self._token is not None and (given is not None or not self._unsigned_ok):
            valid = hmac.compare_digest(hmac_signature(raw, self._token), given or "")
            signature = "valid" if valid else "invalid"
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        entry = Received(path, {k: v for k, v in headers.items() if k.lower() not in HIDDEN_HEADERS}, body,
                         signature)
        with self._lock:
            self._received.append(entry)
            if self._out is not None:
                self._out.write(json.dumps(entry.as_line(), sort_keys=True) + "\n")
                self._out.flush()
        return signature != "invalid"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_error(413, "payload too large")
                    return
                raw = self.rfile.read(length)
                ok = sink.record(self.path, dict(self.headers.items()), raw)
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST  # noqa: N815

        return Handler
