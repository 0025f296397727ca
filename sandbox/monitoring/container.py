"""Prometheus and Alertmanager as containers (``sandbox up --monitoring --monitoring-backend container``): the
upstream images (``$SANDBOX_PROMETHEUS_IMAGE``, ``$SANDBOX_ALERTMANAGER_IMAGE``) or the stand-ins that
``python -m sandbox.monitoring.standin`` builds from the Debian binaries.

The supervisor runs ``python -m sandbox.monitoring.container …``, a small keeper process per program, as it does
for the registry container: it starts the container, streams its log, and removes it when told to stop or when
the supervisor dies (parent-death signal); every container is labelled with the sandbox's state directory, so
``sandbox down`` removes it even if the keeper was killed outright.

The containers share the host's network namespace: the scrape targets (the reconciler's ``/metrics``, the
kube-apiserver) listen on the host's 127.0.0.1 only, which a container on a bridge network cannot reach, and
Prometheus and Alertmanager themselves listen on 127.0.0.1 (``--web.listen-address``), so nothing is published
beyond loopback. The sandbox's monitoring directory and the credential files Prometheus reads are mounted at their
host paths, so the configuration files are the same for both backends.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from sandbox.errors import InputError
from sandbox.state import ComponentSpec, Probe, StateDir
from sandbox.tools import docker

PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
# The images a user pulls, at the versions of the Debian packages the local backend runs (the same software).
DEFAULT_IMAGES = {PROMETHEUS: "prom/prometheus:v2.42.0", ALERTMANAGER: "prom/alertmanager:v0.25.0"}
IMAGE_ENV = {PROMETHEUS: "SANDBOX_PROMETHEUS_IMAGE", ALERTMANAGER: "SANDBOX_ALERTMANAGER_IMAGE"}
STANDIN_IMAGES = {PROMETHEUS: "local/prometheus:debian", ALERTMANAGER: "local/alertmanager:debian"}
# testcontainers' reaper image cannot be pulled everywhere, and the sandbox removes its containers itself (labels).
TESTCONTAINERS_ENV = {"TESTCONTAINERS_RYUK_DISABLED": "true", "TESTCONTAINERS_HOST_OVERRIDE": "localhost"}


def image_name(program: str) -> str:
    return os.environ.get(IMAGE_ENV[program]) or DEFAULT_IMAGES[program]


def availability() -> tuple[bool, str]:
    """(True, "") when Docker answers and both images are present locally, else (False, why)."""
    ok, why = docker.usable()
    if not ok:
        return False, why
    absent = [image_name(program) for program in (PROMETHEUS, ALERTMANAGER)
              if not docker.image_exists(image_name(program))]
    if absent:
        return False, (f"the image(s) {', '.join(absent)} are not present locally (pull them, or build the stand-ins "
                       "from the Debian binaries with `python -m sandbox.monitoring.standin` and set "
                       + " and ".join(f"{IMAGE_ENV[p]}={STANDIN_IMAGES[p]}" for p in (PROMETHEUS, ALERTMANAGER))
                       + ")")
    return True, ""


def container_labels(state: StateDir, program: str) -> dict[str, str]:
    return {docker.LABEL_STATE_DIR: str(state.path), docker.LABEL_SANDBOX: state.name,
            docker.LABEL_COMPONENT: program}


def component(state: StateDir, program: str, flags: list[str], mounts: list[tuple[Path, str]], *,
              probe: Probe, endpoints: dict[str, str]) -> ComponentSpec:
    """The keeper of ``program``'s container, run with ``flags``; ``mounts``: (host path, "rw" | "ro"), each
    mounted at the same path in the container."""
    return ComponentSpec(
        name=program,
        argv=[sys.executable, "-m", "sandbox.monitoring.container", "--state-dir", str(state.path),
              "--program", program, "--image", image_name(program),
              *[arg for path, mode in mounts for arg in ("--mount", f"{path}:{mode}")], "--", *flags],
        env=dict(TESTCONTAINERS_ENV), probe=probe, endpoints=endpoints, startup_timeout=60.0, stop_timeout=20.0)


# --- the keeper process -------------------------------------------------------------------------------------------

def keep(state: StateDir, program: str, image: str, mounts: list[tuple[Path, str]], flags: list[str]) -> int:
    """Run ``program``'s container until SIGTERM; non-zero when the container stopped by itself."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    labels = container_labels(state, program)
    # First: an orphan left by a keeper killed outright still answers on the port (the readiness probe would
    # take it for this keeper's container).
    stale = docker.remove_labelled(labels)
    if stale:
        print(f"removed {len(stale)} stale {program} container(s) of this sandbox", flush=True)
    os.environ.update(TESTCONTAINERS_ENV)
    from testcontainers.core.container import DockerContainer

    ok, why = docker.usable()
    if ok and not docker.image_exists(image):
        ok, why = False, f"the image {image!r} is not present locally (set ${IMAGE_ENV[program]})"
    if not ok:
        raise InputError(why)
    container = (DockerContainer(image).with_command(flags)
                 .with_kwargs(labels=labels, user=f"{os.getuid()}:{os.getgid()}", network_mode="host")
                 .with_name(f"gitops-sandbox-{state.name}-{program}-{os.getpid()}"))
    for path, mode in mounts:
        container = container.with_volume_mapping(str(path), str(path), mode)
    try:
        container.start()
        print(f"started container {container.get_container_id()[:12]} from {image} (host network)", flush=True)
        return docker.watch(container, stop, program)
    finally:
        try:
            docker.remove_labelled(labels)
        except Exception as err:  # the engine went away; `sandbox down` removes it by its labels
            print(f"{program} container not removed: {err}", flush=True)
        else:
            print(f"removed the {program} container", flush=True)


def _mount(text: str) -> tuple[Path, str]:
    path, _, mode = text.rpartition(":")
    if mode not in ("ro", "rw") or not path:
        raise argparse.ArgumentTypeError(f"--mount {text!r}: expected PATH:ro or PATH:rw")
    return Path(path), mode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.monitoring.container")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--program", required=True, choices=(PROMETHEUS, ALERTMANAGER))
    parser.add_argument("--image", required=True)
    parser.add_argument("--mount", action="append", default=[], type=_mount)
    parser.add_argument("flags", nargs=argparse.REMAINDER, help="the program's flags, after --")
    args = parser.parse_args(argv)
    flags = args.flags[1:] if args.flags[:1] == ["--"] else args.flags
    state = StateDir(args.state_dir.name, args.state_dir.parent)
    return keep(state, args.program, args.image, args.mount, flags)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
