"""A work queue in client-go's model: keys are deduplicated, never processed twice at once, can be delayed,
and failing keys back off exponentially per key."""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable


class ShutDown(Exception):
    """The queue was shut down."""


class WorkQueue:
    def __init__(self, base_delay: float = 0.05, max_delay: float = 60.0) -> None:
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._counter = 0
        self._failures: dict[str, int] = {}
        self._cond = threading.Condition()
        self._shutdown = False
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.adds_total = 0
        self.retries_total = 0

    def add(self, key: str) -> None:
        with self._cond:
            if self._shutdown or key in self._dirty:
                return
            self._dirty.add(key)
            self.adds_total += 1
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutdown:
                return
            self._counter += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, self._counter, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> float:
        """Re-add ``key`` after its per-key exponential back-off; returns the delay chosen."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            self.retries_total += 1
        delay: float = min(self.base_delay * (2 ** failures), self.max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def _promote_due(self) -> float | None:
        """Move due delayed keys into the queue; return seconds until the next one (or None)."""
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            if key not in self._dirty:
                self._dirty.add(key)
                self.adds_total += 1
                if key not in self._processing:
                    self._queue.append(key)
        return self._delayed[0][0] - now if self._delayed else None

    def get(self) -> str:
        """Block until a key is ready; mark it processing. Raises ShutDown when the queue is shut down."""
        with self._cond:
            while True:
                if self._shutdown:
                    raise ShutDown
                wait = self._promote_due()
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                self._cond.wait(timeout=wait)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()


def run_worker(queue: WorkQueue, sync: Callable[[str], None], on_error: Callable[[str, Exception], None]) -> None:
    """Process keys until the queue shuts down; a failure goes to ``on_error`` (which may requeue the key) and
    never kills the worker. ``sync`` decides when a key's back-off is forgotten."""
    while True:
        try:
            key = queue.get()
        except ShutDown:
            return
        try:
            sync(key)
        except Exception as err:
            on_error(key, err)
        finally:
            queue.done(key)
