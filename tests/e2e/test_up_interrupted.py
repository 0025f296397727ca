"""Ctrl+C pressed again and again during `sandbox up`: the first starts the cleanup, the others cannot cut it short —
no process of the sandbox is left, and neither is its state directory (keys, admin token)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from sandbox.state import StateDir
from sandbox.waiting import wait_until
from tests.e2e.helpers import processes_mentioning


def component_running(state: StateDir, program: str) -> Callable[[], bool]:
    def running() -> bool:
        for proc in processes_mentioning(str(state.path)):
            try:
                if any(part.endswith(program) for part in proc.cmdline()[:3]):
                    return True
            except psutil.NoSuchProcess:
                continue
        return False

    return running


MOMENTS: dict[str, Callable[[StateDir], Callable[[], bool]]] = {
    # planning: certificates, keys and the admin token are being written, nothing runs yet
    "state-dir": lambda state: state.path.is_dir,
    # the control plane is starting under the supervisor
    "apiserver": lambda state: component_running(state, "kube-apiserver"),
    # the control plane is up, the reconciler is starting (installing its CRDs)
    "reconciler": lambda state: component_running(state, "sandbox.reconciler"),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_repeated_ctrl_c_during_up_leaves_nothing_behind(moment: str, tmp_path: Path) -> None:
    name = f"e2e-ctrl-c-{moment}"
    state = StateDir(name)
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as err:
        # Its own process group, signalled as a terminal does on Ctrl+C: the command and any child it runs.
        proc = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "up", "--name", name],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    sent = 0

    def ctrl_c() -> None:
        nonlocal sent
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            sent += 1

    try:
        wait_until(MOMENTS[moment](state), timeout=120, interval=0.01, max_interval=0.05,
                   what=f"`sandbox up` to reach {moment}", describe=lambda: stderr.read_text(errors="replace"))
        for _ in range(3):  # a burst: the later ones land while the first is still unwinding
            ctrl_c()

        def exited_while_pressing() -> bool:
            ctrl_c()  # and more, all through the cleanup
            return proc.poll() is not None

        started = time.monotonic()
        wait_until(exited_while_pressing, timeout=60, interval=0.05, max_interval=0.1,
                   what="`sandbox up` to exit after Ctrl+C", describe=lambda: stderr.read_text(errors="replace"))
        cleanup_took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = stderr.read_text(errors="replace")
    assert sent >= 3, f"only {sent} Ctrl+C sent; the cleanup took {cleanup_took:.1f}s"
    assert proc.returncode == 130, output
    assert "Traceback" not in output, output
    assert not state.path.exists(), f"state directory left: {sorted(p.name for p in state.path.iterdir())}"
    wait_until(lambda: not processes_mentioning(str(state.path)), timeout=10,
               what="no process of the sandbox left",
               describe=lambda: repr([p.cmdline() for p in processes_mentioning(str(state.path))]))
