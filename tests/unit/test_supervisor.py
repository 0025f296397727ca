"""The supervisor's children die with it, also when it dies while one of them is being started; it takes in a
changed spec file on request."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from sandbox.state import ComponentSpec, StateDir
from sandbox.supervisor import Supervisor
from sandbox.waiting import wait_until

# Plays the supervisor: prepares the pre-exec hook, forks, and dies at once. The child runs the hook only after its
# parent is gone (the window between fork and prctl, where the kernel would never send the parent-death signal),
# then reports on the pipe whose write end (fd ``{fd}``) the test handed down.
_SUPERVISOR = textwrap.dedent("""
    import os, time
    from sandbox.supervisor import _die_with_parent
    preexec = _die_with_parent("SIGTERM")
    parent = os.getpid()
    if os.fork() == 0:
        deadline = time.monotonic() + 30
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.01)
        preexec()
        os.write({fd}, b"survived")
    os._exit(0)
""")


def test_a_child_whose_supervisor_died_before_it_asked_for_the_parent_death_signal_ends_itself() -> None:
    read_end, write_end = os.pipe()
    supervisor = subprocess.run([sys.executable, "-c", _SUPERVISOR.format(fd=write_end)], pass_fds=(write_end,),
                                capture_output=True, text=True, timeout=60)
    os.close(write_end)
    assert supervisor.returncode == 0, supervisor.stderr
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read()  # end of file once the child is gone, whichever way it went
    assert said == b"", "the child outlived its dead supervisor"


def test_reload_starts_components_named_anew_and_stops_those_no_longer_named(tmp_path: Path) -> None:
    state = StateDir("s", root=tmp_path)
    state.create()
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    state.write_specs([ComponentSpec(name="kept", argv=sleeper), ComponentSpec(name="dropped", argv=sleeper)])
    sup = Supervisor(state)
    loop = threading.Thread(target=sup.loop, daemon=True)
    loop.start()
    try:
        wait_until(lambda: sup.phase == "ready", timeout=30, what="the first components to start")
        dropped = sup.by_name["dropped"].process
        assert dropped is not None
        state.write_specs([ComponentSpec(name="kept", argv=sleeper),
                           ComponentSpec(name="added", argv=sleeper, after=["kept"])])
        sup.reload_requested.set()

        def states() -> dict[str, str]:
            return {c["name"]: c["state"] for c in (state.read_status() or {}).get("components", [])}

        wait_until(lambda: states() == {"kept": "ready", "added": "ready"}, timeout=30,
                   what="the added component to start and the dropped one to go", describe=lambda: str(states()))
        assert dropped.poll() is not None
    finally:
        sup.stop_requested.set()
        loop.join(timeout=30)
        sup.stop_all()
    assert all(c.process is None or c.process.poll() is not None for c in sup.components)
