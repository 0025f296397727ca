"""Runs a set of controllers in one process with their HTTP servers, and shuts them down gracefully."""

from __future__ import annotations

import logging
import threading
import time

from sandbox.httpserve import LoopbackServer, stop_all
from sandbox.reconciler.runtime.controller import Controller

log = logging.getLogger(__name__)


class Manager:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.controllers: list[Controller] = []
        self.servers: list[LoopbackServer] = []
        self.started = threading.Event()

    def add(self, controller: Controller) -> Controller:
        self.controllers.append(controller)
        return controller

    def add_server(self, server: LoopbackServer) -> None:
        self.servers.append(server)

    def start(self) -> None:
        for controller in self.controllers:
            for informer in controller.watched:
                if not informer.started:
                    informer.start()
            controller.start()
        self.started.set()

    def synced(self) -> bool:
        return self.started.is_set() and all(c.informer.synced.is_set() for c in self.controllers)

    def shutdown(self, timeout: float = 1.5) -> None:
        """Stop everything within about ``timeout`` seconds: reconciles under way see the stop event (waits end at
        once), workers are given until the deadline, servers are closed."""
        deadline = time.monotonic() + timeout
        self.stop.set()
        for controller in self.controllers:
            controller.stop()
            for informer in controller.watched:
                informer.stop()
        for controller in self.controllers:
            controller.join(max(0.0, deadline - time.monotonic()))
        # Each HTTP server's loop notices shutdown only at its next poll: stop them all at once.
        stop_all(self.servers, timeout=max(0.5, deadline - time.monotonic()))
        log.info("reconciler stopped")
