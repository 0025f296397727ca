"""One small HTTP server on 127.0.0.1, serving in a background thread: every endpoint the sandbox serves itself
(git server, webhook recorder, Receivers, artifacts, chart repository, health, metrics) runs on it.

``LoopbackServer(handler, name=…)`` binds on ``start()`` (port 0: a free port, read back from ``port``/``url``),
serves each request on its own daemon thread, and ``stop()`` returns within about ``poll_interval`` (requests under
way are not waited for). Request lines go to the ``logging`` module (logger ``sandbox.http.<name>``, DEBUG) instead
of stderr, unless the handler logs them itself.
"""

from __future__ import annotations

import logging
import socketserver
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"

# What http.server accepts as a handler: a request handler class, or any callable making one (functools.partial).
HandlerFactory = Callable[..., socketserver.BaseRequestHandler]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer bound to 127.0.0.1 whose errors go to ``logging``; subclass it to give handlers shared
    state through ``self.server``."""

    daemon_threads = True  # a stuck request never holds up stop() or the process's exit
    allow_reuse_address = True  # a restarted component gets its recorded port back at once (no TIME_WAIT refusal)
    block_on_close = False

    def __init__(self, port: int, handler: HandlerFactory, *, name: str = "http") -> None:
        self.name = name
        self.log = logging.getLogger(f"sandbox.http.{name}")
        super().__init__((HOST, port), handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print the traceback to stderr. A client going away is routine; anything else is a bug.
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.log.debug("client %s went away", client_address, exc_info=True)
        else:
            self.log.warning("request from %s failed", client_address, exc_info=True)


def _quiet(handler: HandlerFactory, name: str) -> HandlerFactory:
    """``handler`` logging its request lines to ``logging`` instead of stderr, unless it overrides
    ``log_message`` already."""
    base = handler if isinstance(handler, type) and issubclass(handler, BaseHTTPRequestHandler) else None
    if base is None or base.log_message is not BaseHTTPRequestHandler.log_message:
        return handler
    logger = logging.getLogger(f"sandbox.http.{name}")

    def log_message(self: BaseHTTPRequestHandler, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    quiet: type[BaseHTTPRequestHandler] = type(base.__name__, (base,), {"log_message": log_message})
    return quiet


ServerFactory = Callable[[int, HandlerFactory], LoopbackHTTPServer]


class LoopbackServer:
    """An HTTP server on 127.0.0.1 with ``start()``/``stop()`` and context-manager use; ``start()`` undoes itself
    when it fails."""

    def __init__(self, handler: HandlerFactory, *, name: str, port: int = 0,
                 server_class: ServerFactory | None = None, poll_interval: float = 0.05) -> None:
        self.name = name
        self._handler = _quiet(handler, name)
        self._requested_port = port
        self._server_class = server_class
        self._poll_interval = poll_interval
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def server(self) -> LoopbackHTTPServer:
        """The running ``http.server`` object (handlers see it as ``self.server``)."""
        if self._server is None:
            raise RuntimeError(f"the {self.name} server is not started")
        return self._server

    @property
    def port(self) -> int:
        return self.server.port if self._server is not None else self._requested_port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> LoopbackServer:
        if self._server is not None:
            return self
        if self._server_class is None:
            server = LoopbackHTTPServer(self._requested_port, self._handler, name=self.name)
        else:
            server = self._server_class(self._requested_port, self._handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": self._poll_interval},
                                  name=self.name, daemon=True)
        try:
            thread.start()
        except BaseException:
            server.server_close()
            raise
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting requests and close the socket; returns within about ``poll_interval`` (at most
        ``timeout``). Requests under way finish on their own daemon threads. Idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        if thread.is_alive():
            # shutdown() waits for serve_forever's next poll; run it aside so a wedged loop cannot hold us.
            stopper = threading.Thread(target=server.shutdown, name=f"{self.name}-stop", daemon=True)
            stopper.start()
            thread.join(timeout)
        server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve(handler: HandlerFactory, *, name: str, port: int = 0) -> LoopbackServer:
    """Start and return a ``LoopbackServer`` for ``handler``."""
    return LoopbackServer(handler, name=name, port=port).start()


def stop_all(servers: list[LoopbackServer], timeout: float = 2.0) -> None:
    """Stop ``servers`` together: the wait for each one's next poll overlaps instead of adding up."""
    stoppers = [threading.Thread(target=s.stop, args=(timeout,), name=f"{s.name}-stop", daemon=True)
                for s in servers]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join(timeout)
