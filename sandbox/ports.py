"""Free TCP ports on 127.0.0.1, so that several sandboxes and test sessions coexist."""

from __future__ import annotations

import socket
import threading
import time

# A port is free when picked, but only bound later by the component it is for. Within one process (one `up`
# plans every component in turn) a port handed out recently is not handed out again, so two components of one
# sandbox never get the same port.
_HOLD_SECONDS = 300.0
_given: dict[int, float] = {}
_lock = threading.Lock()


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that are free on 127.0.0.1 right now and not recently handed out."""
    sockets: list[socket.socket] = []
    chosen: list[int] = []
    try:
        with _lock:
            now = time.monotonic()
            for port, when in list(_given.items()):
                if now - when > _HOLD_SECONDS:
                    del _given[port]
            while len(chosen) < count:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind(("127.0.0.1", 0))
                sockets.append(sock)  # held open until all are chosen, so the kernel hands out distinct ones
                port = sock.getsockname()[1]
                if port not in _given:
                    chosen.append(port)
            for port in chosen:
                _given[port] = now
        return chosen
    finally:
        for sock in sockets:
            sock.close()

