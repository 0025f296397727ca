"""Whether this host can run kind's nodes: kind starts them ``--privileged``, which asks runc for every capability;
where the capability bounding set lacks CAP_SYS_RESOURCE (some VM sandboxes and CI runners) runc fails with "unable
to apply caps: operation not permitted", unless Docker's default runtime is a runc wrapper that drops it
(``RUNTIME_WRAPPER``, docs/kind-node-image.md)."""

from __future__ import annotations

from pathlib import Path

from sandbox import config
from sandbox.tools import docker

CAP_SYS_RESOURCE = 24
RUNTIME_NAME = "runc-no-sys-resource"
RUNTIME_WRAPPER = r"""#!/bin/sh
# runc, minus CAP_SYS_RESOURCE, which this host's capability bounding set lacks: without it a --privileged container
# (every kind node) and every exec into one fail with "unable to apply caps: operation not permitted".
strip() {
  [ -f "$1" ] || return 0
  jq "$2 |= (if . == null then . else with_entries(.value |= map(select(. != \"CAP_SYS_RESOURCE\"))) end)" \
    "$1" > "$1.sbx" && mv "$1.sbx" "$1"
}
prev=""
for arg in "$@"; do
  case "$prev" in
    --bundle|-b) strip "$arg/config.json" .process.capabilities ;;
    --process|-p) strip "$arg" .capabilities ;;
  esac
  case "$arg" in
    --bundle=*) strip "${arg#--bundle=}/config.json" .process.capabilities ;;
    --process=*) strip "${arg#--process=}" .capabilities ;;
  esac
  prev="$arg"
done
exec runc "$@"
"""


def lacks_sys_resource(proc_status: str) -> bool:
    """``/proc/self/status`` says the capability bounding set has no CAP_SYS_RESOURCE."""
    for line in proc_status.splitlines():
        if line.startswith("CapBnd:"):
            return not (int(line.split()[1], 16) >> CAP_SYS_RESOURCE) & 1
    return False


def wrapper_path() -> Path:
    return config.cache_root() / "kindnode" / "runtime" / RUNTIME_NAME


def write_wrapper() -> Path:
    """The runtime wrapper in the cache (Docker still has to be told about it: daemon_json())."""
    path = wrapper_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RUNTIME_WRAPPER)
    path.chmod(0o755)
    return path


def daemon_json() -> str:
    """What /etc/docker/daemon.json needs (then `kill -HUP` dockerd: both settings reload without a restart)."""
    return ('{"runtimes": {"' + RUNTIME_NAME + '": {"path": "' + str(wrapper_path()) + '"}}, '
            '"default-runtime": "' + RUNTIME_NAME + '"}')


def privileged_blocker(proc_status: str | None = None) -> str | None:
    """Why kind's privileged node containers cannot start here, or None."""
    status = proc_status if proc_status is not None else Path("/proc/self/status").read_text()
    if not lacks_sys_resource(status):
        return None
    with docker.engine() as client:
        runtime = str(client.info().get("DefaultRuntime", ""))
    if runtime == RUNTIME_NAME:
        return None
    return (f"this host's capability bounding set lacks CAP_SYS_RESOURCE, so Docker cannot start kind's privileged "
            f"node containers with its default runtime {runtime or 'runc'!r}; make {RUNTIME_NAME} Docker's default "
            "runtime (docs/kind-node-image.md)")


DAEMON_JSON = Path("/etc/docker/daemon.json")


def dockerd_args(proc_status: str | None = None, daemon_json_text: str | None = None) -> list[str]:
    """The dockerd flags that make the wrapper Docker's default runtime where this host needs it and
    /etc/docker/daemon.json does not already say so (dockerd refuses a runtime defined twice); writes the wrapper."""
    status = proc_status if proc_status is not None else Path("/proc/self/status").read_text()
    if not lacks_sys_resource(status):
        return []
    if daemon_json_text is None:
        daemon_json_text = DAEMON_JSON.read_text() if DAEMON_JSON.exists() else ""
    if RUNTIME_NAME in daemon_json_text:
        return []
    return [f"--add-runtime={RUNTIME_NAME}={write_wrapper()}", f"--default-runtime={RUNTIME_NAME}"]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.kindnode.hostcheck", description=__doc__)
    parser.add_argument("--dockerd-args", action="store_true",
                        help="print the flags a dockerd started by hand needs for kind's nodes on this host")
    args = parser.parse_args(argv)
    if args.dockerd_args:
        print(" ".join(dockerd_args()))
        return 0
    blocker = privileged_blocker()
    print(blocker or "kind's privileged node containers can start here")
    return 1 if blocker else 0


if __name__ == "__main__":
    raise SystemExit(main())
