"""Start, watch and stop the processes of one sandbox, restarting those that crash.

Runs as its own detached process (``python -m sandbox.supervisor STATE_DIR``). Children get a parent-death
signal, so a killed supervisor takes its components with it; ``status.json`` tells the CLI what is running.
On :data:`RELOAD_SIGNAL` it reads the spec file again (``sandbox cluster add``/``remove``): components it names anew
start, components it no longer names stop.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sandbox import probe as probes
from sandbox.state import ComponentSpec, StateDir, write_json

log = logging.getLogger("sandbox.supervisor")

_PR_SET_PDEATHSIG = 1
_MAX_BACKOFF = 10.0
_STARTUP_EXITS_ALLOWED = 3
RELOAD_SIGNAL = signal.SIGUSR1


def _die_with_parent(signal_name: str) -> Callable[[], None]:
    """In the child, before exec: ask the kernel to send ``signal_name`` when the supervisor dies.

    libc is resolved here, in the parent: loading a library in the child of a multi-threaded process can deadlock
    on the loader's lock. A supervisor that died between fork and prctl would never send the signal, so the child
    checks its parent is still the one that forked it and, if not, signals itself."""
    number = int(signal.Signals[signal_name])
    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, number)
        if os.getppid() != parent:
            os.kill(os.getpid(), number)

    return preexec


@dataclass
class _Running:
    spec: ComponentSpec
    process: subprocess.Popen[bytes] | None = None
    log_handle: IO[bytes] | None = None
    state: str = "waiting"  # waiting | starting | ready | restarting | failed | stopped
    ready: bool = False
    restarts: int = 0
    exits_during_startup: int = 0
    last_exit: int | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    detail: str = ""
    probe_generation: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


OWNER_CHECK_SECONDS = 0.5


def owner_alive(owner: dict[str, Any]) -> bool:
    """Whether the owning process (``{"pid", "started"}``: its pid and start time, so a reused pid does not count)
    still runs."""
    import psutil

    try:
        process = psutil.Process(int(owner["pid"]))
        return abs(process.create_time() - float(owner["started"])) < 1.0 and \
            process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, TypeError, ValueError):
        return False


class Supervisor:
    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.components = [_Running(spec) for spec in state.read_specs()]
        self.by_name = {c.spec.name: c for c in self.components}
        self.phase = "starting"
        self.error = ""
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.lock = threading.Lock()
        self.started = time.time()
        self.owner: dict[str, Any] | None = state.read_record().get("owner") if state.record_file.exists() else None
        self.orphaned = False
        self._owner_checked = 0.0

    # --- status -------------------------------------------------------------------------------------------
    def write_status(self) -> None:
        # Built and written under one lock: a probe thread's older snapshot must never land after a newer one
        # (it could leave status.json saying "starting" after the phase became "ready").
        with self.lock:
            data = {
                "supervisor_pid": os.getpid(),
                "phase": self.phase,
                "error": self.error,
                "started_at": self.started,
                "components": [
                    {
                        "name": c.spec.name,
                        "pid": c.process.pid if c.process and c.process.poll() is None else None,
                        "state": c.state,
                        "restarts": c.restarts,
                        "last_exit_code": c.last_exit,
                        "started_at": c.started_at,
                        "detail": c.detail,
                        "endpoints": c.spec.endpoints,
                        "log": str(self.state.logs / f"{c.spec.name}.log"),
                        "restart_history": c.history[-10:],
                    }
                    for c in self.components
                ],
            }
            write_json(self.state.status_file, data)

    # --- processes ----------------------------------------------------------------------------------------
    def spawn(self, comp: _Running) -> None:
        spec = comp.spec
        log_path = self.state.logs / f"{spec.name}.log"
        if comp.log_handle is None:
            comp.log_handle = open_log(log_path)  # kept open for the child's lifetime
        env = dict(os.environ)
        env.update(spec.env)
        comp.process = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=comp.log_handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=spec.cwd or None,
            preexec_fn=_die_with_parent(spec.parent_death_signal),
            close_fds=True,
        )
        comp.started_at = time.time()
        comp.state = "starting"
        comp.ready = False
        comp.probe_generation += 1
        log.info("started %s (pid %d)", spec.name, comp.process.pid)
        threading.Thread(target=self._probe_until_ready, args=(comp, comp.probe_generation), daemon=True).start()

    def _probe_until_ready(self, comp: _Running, generation: int) -> None:
        deadline = time.monotonic() + comp.spec.startup_timeout
        delay = 0.02
        while not self.stop_requested.is_set() and generation == comp.probe_generation:
            if comp.process is None or comp.process.poll() is not None:
                return
            if comp.spec.probe is None:
                ok, why = True, ""
            else:
                ok, why = probes.http_ok(comp.spec.probe)
            if ok:
                with self.lock:
                    if generation == comp.probe_generation:
                        comp.ready = True
                        comp.state = "ready"
                        comp.detail = ""
                        comp.exits_during_startup = 0
                log.info("%s is ready", comp.spec.name)
                self.write_status()
                return
            comp.detail = why
            if time.monotonic() > deadline and self.phase == "starting":
                with self.lock:
                    comp.state = "failed"
                    comp.detail = f"not ready after {comp.spec.startup_timeout:g}s: {why}"
                self.fail(f"{comp.spec.name} did not become ready within {comp.spec.startup_timeout:g}s ({why})")
                return
            self.stop_requested.wait(delay)
            delay = min(delay * 1.5, 0.25)

    def fail(self, message: str) -> None:
        log.error("%s", message)
        with self.lock:
            if self.phase != "starting":
                return
            self.phase = "failed"
            self.error = message
        self.stop_requested.set()

    def handle_exit(self, comp: _Running, code: int) -> None:
        comp.last_exit = code
        was_ready = comp.ready
        comp.ready = False
        comp.history.append({"at": time.time(), "exit_code": code})
        if not was_ready:
            comp.exits_during_startup += 1
        log.warning("%s exited with code %d", comp.spec.name, code)
        if comp.exits_during_startup >= _STARTUP_EXITS_ALLOWED and self.phase == "starting":
            comp.state = "failed"
            self.fail(f"{comp.spec.name} exited {comp.exits_during_startup} times while starting "
                      f"(last exit code {code})")
            return
        backoff = min(0.25 * (2 ** comp.exits_during_startup), _MAX_BACKOFF)
        comp.state = "restarting"
        comp.restart_at = time.monotonic() + backoff
        comp.process = None

    def deps_ready(self, comp: _Running) -> bool:
        ready = all(self.by_name[d].ready for d in comp.spec.after if d in self.by_name)
        started = all(self.by_name[d].state != "waiting" for d in comp.spec.after_started if d in self.by_name)
        return ready and started

    def reload(self) -> None:
        """Take in the spec file again: new components wait for their dependencies, dropped ones stop."""
        specs = {spec.name: spec for spec in self.state.read_specs()}
        for comp in [c for c in self.components if c.spec.name not in specs]:
            self._stop(comp)
            with self.lock:
                self.components.remove(comp)
                del self.by_name[comp.spec.name]
        for name, spec in specs.items():
            if name not in self.by_name:
                comp = _Running(spec)
                with self.lock:
                    self.components.append(comp)
                    self.by_name[name] = comp
                log.info("added %s", name)

    def loop(self) -> None:
        self.write_status()
        last_written = ""
        while not self.stop_requested.is_set():
            changed = False
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
                changed = True
            for comp in self.components:
                if comp.state == "waiting" and self.deps_ready(comp):
                    self.spawn(comp)
                    changed = True
                elif comp.process is not None:
                    code = comp.process.poll()
                    if code is not None:
                        self.handle_exit(comp, code)
                        changed = True
                elif comp.state == "restarting" and time.monotonic() >= comp.restart_at:
                    comp.restarts += 1
                    self.spawn(comp)
                    changed = True
            with self.lock:
                if self.phase == "starting" and all(c.ready for c in self.components):
                    self.phase = "ready"
                    changed = True
            if self.owner and time.monotonic() - self._owner_checked >= OWNER_CHECK_SECONDS:
                self._owner_checked = time.monotonic()
                if not owner_alive(self.owner):
                    log.warning("the sandbox's owner (pid %s) exited without stopping it; stopping every component "
                                "and removing the sandbox", self.owner.get("pid"))
                    self.orphaned = True
                    self.stop_requested.set()
            snapshot = repr([(c.state, c.restarts, c.detail) for c in self.components]) + self.phase
            if changed or snapshot != last_written:
                self.write_status()
                last_written = snapshot
            self.stop_requested.wait(0.05)

    def stop_all(self) -> None:
        with self.lock:
            if self.phase != "failed":
                self.phase = "stopping"
        self.write_status()
        for comp in reversed(self.components):
            self._stop(comp)
        with self.lock:
            if self.phase != "failed":
                self.phase = "stopped"
        self.write_status()


    def _stop(self, comp: _Running) -> None:
        comp.probe_generation += 1
        proc = comp.process
        if proc is not None and proc.poll() is None:
            log.info("stopping %s (pid %d)", comp.spec.name, proc.pid)
            proc.terminate()
            try:
                proc.wait(timeout=comp.spec.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %gs; killing it", comp.spec.name, comp.spec.stop_timeout)
                proc.kill()
                proc.wait()
            comp.state = "stopped"
        if comp.log_handle is not None:
            comp.log_handle.close()
            comp.log_handle = None


def open_log(path: Path) -> IO[bytes]:
    """``path`` opened for appending, 0600: a component's log may quote what it was given."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def main(argv: list[str]) -> int:
    state = StateDir(Path(argv[0]).name, Path(argv[0]).parent)
    open_log(state.logs / "supervisor.log").close()  # created 0600 before logging opens it
    logging.basicConfig(
        filename=state.logs / "supervisor.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    supervisor = Supervisor(state)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received signal %d; stopping", signum)
        supervisor.stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(RELOAD_SIGNAL, lambda _signum, _frame: supervisor.reload_requested.set())
    try:
        supervisor.loop()
    finally:
        supervisor.stop_all()
        if supervisor.orphaned:  # nobody is left to run `down`: do what it would (containers, kind, the state)
            from sandbox import leftovers

            leftovers.remove(state)
    return 1 if supervisor.phase == "failed" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def launch(state: StateDir) -> int:
    """Start the supervisor for ``state`` as a detached process (own session); return its pid."""
    out = open_log(state.logs / "supervisor.out")  # handed to the child
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox.supervisor", str(state.path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )
    finally:
        out.close()
    return process.pid
