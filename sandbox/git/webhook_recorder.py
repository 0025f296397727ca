"""A small webhook receiver that records what it gets: for tests, benchmarks and checking a hook by hand.

It listens on 127.0.0.1, answers each POST with the next status of a script (then 200), and keeps every request
with the time it arrived and whether its signature checked out against the secret it was given.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from sandbox.git.delivery import signature_valid
from sandbox.httpserve import LoopbackServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival
    status: int  # what the recorder answered
    gitea_signature_ok: bool
    github_signature_ok: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookRecorder:
    secret: str = ""
    port: int = 0
    statuses: list[int] = field(default_factory=list)  # answers to the first requests, in order
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recorder._lock:
                    status = recorder.statuses.pop(0) if recorder.statuses else 200
                    recorder.received.append(Received(
                        path=self.path, headers=dict(self.headers.items()), body=body, at=time.time(), status=status,
                        gitea_signature_ok=signature_valid(body, recorder.secret,
                                                           self.headers.get("X-Gitea-Signature", "")),
                        github_signature_ok=signature_valid(body, recorder.secret,
                                                            self.headers.get("X-Hub-Signature-256", ""))))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = LoopbackServer(Handler, name="webhook-recorder", port=self.port).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def __enter__(self) -> WebhookRecorder:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
