"""The supervisor's children die with it, also when it dies while one of them is being started."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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
