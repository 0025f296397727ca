"""notification-controller's rate limit of incoming events: one event per key per interval (``--rate-limit-interval``,
5m), the key being ``event/<name>/<namespace>/<kind>/<message>[/<revision>]`` of the involved object (the revision
from the cleaned metadata) — so the same failure repeated by every retry is sent once per interval."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

DEFAULT_INTERVAL = 300.0


def event_key(event: dict[str, Any]) -> str:
    involved = event.get("involvedObject") or {}
    parts = ["event", str(involved.get("name", "")), str(involved.get("namespace", "")),
             str(involved.get("kind", "")), str(event.get("message", ""))]
    revision = (event.get("metadata") or {}).get("revision")
    if revision is not None:
        parts.append(str(revision))
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


class RateLimiter:
    def __init__(self, interval: float = DEFAULT_INTERVAL, *, clock: Callable[[], float] = time.monotonic,
                 size: int = 65536) -> None:
        self.interval = interval
        self._clock = clock
        self._size = size
        self._last: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """True (and the key's interval starts) unless the key was allowed less than ``interval`` ago."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                return False
            self._last[key] = now
            self._last.move_to_end(key)
            while len(self._last) > self._size:
                self._last.popitem(last=False)
            return True
