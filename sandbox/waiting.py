"""The one way to wait for something: poll a predicate with a deadline, and fail with the last state seen."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sandbox.errors import WaitTimeout

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    max_interval: float = 0.5,
    describe: Callable[[], str] | None = None,
    hint: str = "",
    stop: threading.Event | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy and return that.

    ``probe`` may raise: the exception is remembered as the last state and polling goes on.
    On timeout, raise WaitTimeout naming ``what``, the time waited, the last state and ``hint``.
    """
    deadline = time.monotonic() + timeout
    last_state = "nothing observed yet"
    delay = interval
    while True:
        try:
            value = probe()
        except Exception as err:
            last_state = f"{type(err).__name__}: {err}"
            value = None
        else:
            if value:
                return value
            if describe is not None:
                try:
                    last_state = describe()
                except Exception as err:
                    last_state = f"(could not describe state: {err})"
            else:
                last_state = repr(value)
        now = time.monotonic()
        if now >= deadline:
            message = f"timed out after {timeout:g}s waiting for {what}; last state: {last_state}"
            if hint:
                message += f". Hint: {hint}"
            raise WaitTimeout(message)
        pause = min(delay, deadline - now)
        if stop is not None:
            if stop.wait(pause):
                raise WaitTimeout(f"stopped while waiting for {what}; last state: {last_state}")
        else:
            time.sleep(pause)
        delay = min(delay * 1.5, max_interval)
