"""Ctrl+C while a sandbox is set up or torn down: the first SIGINT interrupts, later ones wait for the cleanup the
first one started, so an impatient second (or tenth) Ctrl+C cannot leave processes, keys or tokens behind.

Signal handlers can only be set from the main thread; elsewhere (where SIGINT never arrives anyway) both context
managers change nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)


class _FirstOnly:
    """SIGINT handler: raise KeyboardInterrupt the first time, ignore the rest."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.fired:
            log.info("interrupted again: still cleaning up")
            return
        self.fired = True
        raise KeyboardInterrupt


class _Holding:
    """SIGINT handler: count, and do nothing else."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        log.info("interrupted during cleanup: finishing it first")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class _Installed:
    """Installs ``handler`` for SIGINT on enter, puts back what was there on exit."""

    def __init__(self, handler: _FirstOnly | _Holding) -> None:
        self.handler = handler
        self.previous: Any = None
        self.active = False

    def __enter__(self) -> _Installed:
        if _in_main_thread():
            self.previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self.handler)
            self.active = True
        return self

    def restore(self) -> None:
        if self.active:
            # None: a handler installed from C, which cannot be put back; Python's own is the closest.
            signal.signal(signal.SIGINT, self.previous if self.previous is not None else signal.default_int_handler)
            self.active = False


class _OnceGuard(_Installed):
    def __init__(self) -> None:
        super().__init__(_FirstOnly())

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        handler = self.handler
        previous = self.previous
        self.restore()
        if isinstance(handler, _FirstOnly) and handler.fired and isinstance(previous, _FirstOnly):
            previous.fired = True  # the same Ctrl+C sequence: the enclosing cleanup must not be interrupted either


class _HoldGuard(_Installed):
    def __init__(self) -> None:
        super().__init__(_Holding())

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        held = isinstance(self.handler, _Holding) and self.handler.count > 0
        was_active = self.active
        self.restore()
        if held and was_active and exc_type is None and sys.exception() is None:
            signal.raise_signal(signal.SIGINT)


def interrupt_once() -> _OnceGuard:
    """A context manager: within it, the first SIGINT raises KeyboardInterrupt as usual and later ones are ignored,
    so the cleanup the first one started finishes. On exit the previous handler is back (marked as already fired
    when it is one of these too: the same Ctrl+C sequence)."""
    return _OnceGuard()


def interrupts_held() -> _HoldGuard:
    """A context manager: within it, SIGINT does not interrupt (a cleanup that must run to its end). On exit, a
    SIGINT that arrived is delivered again to the previous handler, unless an exception is already on its way out
    (which it would only replace)."""
    return _HoldGuard()


def install_interrupt_once() -> None:
    """For a whole process (the ``sandbox`` command): the first SIGINT raises KeyboardInterrupt, later ones are
    ignored while it winds down. Never restored: the process ends with its command."""
    if _in_main_thread():
        signal.signal(signal.SIGINT, _FirstOnly())


def ignore_while_exiting() -> None:
    """The process is ending: a Ctrl+C now could only turn a clean exit into a death by signal (the interpreter
    puts back the default action of a Python-handled signal while it shuts down; an ignored one stays ignored)."""
    if _in_main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def exit_within(seconds: float, what: str) -> threading.Timer:
    """A stopping component (a server the supervisor started): if its clean-up has not ended the process within
    ``seconds``, end it anyway — a wedged request or a hung peer must not keep it alive after its supervisor
    died. Returns the (daemon) timer; the process's normal exit makes it moot."""

    def give_up() -> None:
        log.warning("%s did not stop within %gs; exiting now", what, seconds)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(1)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer
