"""Ctrl+C during setup and teardown: the first SIGINT interrupts, later ones wait for the cleanup."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest

from sandbox import interrupts


def ctrl_c(times: int = 1) -> None:
    for _ in range(times):
        signal.raise_signal(signal.SIGINT)


@pytest.fixture(autouse=True)
def default_handler() -> Iterator[None]:
    """Python's own SIGINT handler around each test, whatever runs the tests."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_first_interrupts_and_the_rest_cannot_cut_the_cleanup_short() -> None:
    cleaned = False
    with pytest.raises(KeyboardInterrupt), interrupts.interrupt_once():
        try:
            ctrl_c()
        except KeyboardInterrupt:
            ctrl_c(5)  # impatient
            cleaned = True
            raise
    assert cleaned
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_held_interrupts_wait_for_the_block_then_arrive_once() -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt):
        with interrupts.interrupts_held():
            ctrl_c(3)
            finished = True
        pytest.fail("the held Ctrl+C should have arrived at the end of the block")
    assert finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_held_interrupts_do_not_replace_an_exception_on_its_way_out() -> None:
    with pytest.raises(ValueError):
        try:
            raise ValueError("setup failed")
        except ValueError:
            with interrupts.interrupts_held():
                ctrl_c()
            raise


def test_nothing_held_nothing_delivered() -> None:
    with interrupts.interrupts_held():
        pass


def test_cleanup_held_inside_an_interrupted_setup_is_not_interrupted_again() -> None:
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), interrupts.interrupt_once():
        try:
            ctrl_c()
        except BaseException:
            with interrupts.interrupts_held():
                ctrl_c(2)
                steps.append("cleaned")
            ctrl_c()  # still the same Ctrl+C sequence: ignored
            steps.append("after")
            raise
    assert steps == ["cleaned", "after"]


def test_a_nested_guard_that_fired_marks_the_enclosing_one() -> None:
    outer = interrupts.interrupt_once()
    with outer:
        with pytest.raises(KeyboardInterrupt), interrupts.interrupt_once():
            ctrl_c()
        ctrl_c(3)  # the enclosing command is winding down after the same Ctrl+C


def test_other_threads_are_left_alone() -> None:
    seen: list[object] = []

    def in_thread() -> None:
        with interrupts.interrupt_once(), interrupts.interrupts_held():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def test_a_wedged_component_exits_within_its_stop_deadline() -> None:
    """A server whose clean-up hangs (a peer that never answers) still ends, with status 1, once its deadline is
    past — it must not outlive its supervisor."""
    import subprocess
    import sys

    script = ("import threading; from sandbox.interrupts import exit_within\n"
              "exit_within(0.2, 'the test component'); threading.Event().wait()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "the test component did not stop within 0.2s" in done.stderr
