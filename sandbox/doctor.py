"""``sandbox doctor`` for Docker users: the engine, kind, the kind node image, inotify limits, the Gitea image and
tofu/terraform — each a row saying what was found and what to do.

The ``*_check`` functions are pure (their inputs are passed in); ``gather`` collects the inputs on this machine.
None of these is required for the default (embedded) path, so none of them makes ``sandbox doctor`` fail.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import binaries, config, terraform
from sandbox.errors import SandboxError
from sandbox.tools import docker
from sandbox.tools.version import version_of

OK, WARN, MISSING = "ok", "warn", "missing"
# kind's documented failure ("too many open files" in the node): below these, warn.
MIN_INOTIFY_WATCHES = 524288
MIN_INOTIFY_INSTANCES = 512
NODE_IMAGE_REPOSITORY = "sandbox.local/kind-node"
GITEA_IMAGE_REPOSITORY = "sandbox.local/gitea"
_INOTIFY = Path("/proc/sys/fs/inotify")
_NO_REAPER = "TESTCONTAINERS_RYUK_DISABLED=true (`sandbox down` removes what it labelled without the reaper)"


@dataclass(frozen=True)
class Check:
    """One row: ``status`` ok, warn (works, but read ``todo``) or missing."""

    name: str
    required: bool
    status: str
    version: str = ""
    where: str = ""
    source: str = ""
    todo: str = ""

    @property
    def ok(self) -> bool:
        return self.status != MISSING

    def as_data(self) -> dict[str, Any]:
        return {"name": self.name, "required": self.required, "found": self.ok, "status": self.status,
                "path": self.where, "source": self.source, "version": self.version, "how_to_get": self.todo}


def from_binary(row: binaries.DoctorRow) -> Check:
    """A row of ``binaries.doctor`` (a program found or not) as a Check."""
    if row.ok:
        return Check(row.name, row.required, OK, row.version, row.path, row.source)
    return Check(row.name, row.required, MISSING, todo=row.how_to_get)


def docker_check(facts: Mapping[str, Any] | None, error: str, host: str) -> Check:
    """The Docker engine: does it answer, which version, rootless or Podman."""
    name = "docker engine"
    if facts is None:
        return Check(name, False, MISSING,
                     todo=f"{error or 'the engine does not answer'} — needed for `--cluster kind` and the "
                          "Gitea/registry containers only: install Docker (`apt-get install docker.io`) and start "
                          "it, or point DOCKER_HOST at Podman's socket (unix://$XDG_RUNTIME_DIR/podman/podman.sock)")
    version = str(facts.get("version") or "")
    if facts.get("podman"):
        return Check(name, False, WARN, version, host, "Podman",
                     todo=f"Podman through its Docker API: run kind with KIND_EXPERIMENTAL_PROVIDER=podman and set "
                          f"{_NO_REAPER}")
    if facts.get("rootless"):
        return Check(name, False, WARN, version, host, "rootless",
                     todo="rootless Docker: kind needs cgroup v2 with CPU delegation (kind's rootless guide); set "
                          f"{_NO_REAPER}")
    return Check(name, False, OK, version, host, "Docker")


def kind_check(path: Path | None, source: str, version: str) -> Check:
    if path is None:
        return Check("kind", False, MISSING,
                     todo="only for `--cluster kind`: `sandbox setup --kind` (builds sigs.k8s.io/kind from its Go "
                          "module), a kind release on PATH, or $SANDBOX_KIND=/path/to/kind")
    return Check("kind", False, OK, version or "unknown", str(path), source)


def node_image_name(env: Mapping[str, str]) -> str:
    """The node image kind clusters use: ``$SANDBOX_KIND_NODE_IMAGE``, else the locally built contract tag."""
    return env.get("SANDBOX_KIND_NODE_IMAGE") or f"{NODE_IMAGE_REPOSITORY}:{config.DEFAULT_K8S_VERSION}"


def node_image_check(image: str, present: bool | None, error: str = "") -> Check:
    """``present`` None: Docker could not be asked."""
    name = "kind node image"
    if present is None:
        return Check(name, False, MISSING, where=image, todo=f"cannot look for {image}: {error or 'no Docker engine'}")
    if not present:
        return Check(name, False, MISSING, where=image,
                     todo=f"{image} is not a local image: `sandbox setup --kind` builds it, or set "
                          "$SANDBOX_KIND_NODE_IMAGE to a kindest/node image you have pulled")
    return Check(name, False, OK, image.rsplit(":", 1)[-1] if ":" in image else "", image, "docker")


def inotify_check(watches: int | None, instances: int | None) -> Check:
    """kind's known failure: too few inotify watches/instances for the node's kubelet and pods."""
    name = "inotify limits"
    if watches is None or instances is None:
        return Check(name, False, WARN, where=str(_INOTIFY),
                     todo="could not read fs.inotify.max_user_watches/max_user_instances (not Linux?)")
    shown = f"watches={watches} instances={instances}"
    if watches >= MIN_INOTIFY_WATCHES and instances >= MIN_INOTIFY_INSTANCES:
        return Check(name, False, OK, shown, str(_INOTIFY), "sysctl")
    return Check(name, False, WARN, shown, str(_INOTIFY), "sysctl",
                 todo=f"kind nodes fail with \"too many open files\" below {MIN_INOTIFY_WATCHES}/"
                      f"{MIN_INOTIFY_INSTANCES}: `sudo sysctl fs.inotify.max_user_watches={MIN_INOTIFY_WATCHES} "
                      f"fs.inotify.max_user_instances={MIN_INOTIFY_INSTANCES}` (persist it in /etc/sysctl.d/)")


def gitea_check(explicit: str | None, local_tags: list[str] | None, explicit_present: bool | None,
                error: str = "") -> Check:
    """The Gitea image: ``$SANDBOX_GITEA_IMAGE`` when set (present or not), else any ``sandbox.local/gitea:*``."""
    name = "gitea image"
    if local_tags is None and explicit_present is None:
        return Check(name, False, MISSING, where=explicit or "",
                     todo=f"cannot look for the Gitea image: {error or 'no Docker engine'}")
    if explicit:
        if explicit_present:
            return Check(name, False, OK, explicit.rsplit(":", 1)[-1], explicit, "SANDBOX_GITEA_IMAGE")
        return Check(name, False, MISSING, where=explicit,
                     todo=f"$SANDBOX_GITEA_IMAGE={explicit} is not a local image: pull or build it, or unset it")
    if local_tags:
        newest = local_tags[-1]
        return Check(name, False, OK, newest.rsplit(":", 1)[-1], newest, "docker")
    return Check(name, False, MISSING,
                 todo=f"only for `--git gitea`: `sandbox setup --gitea` builds {GITEA_IMAGE_REPOSITORY}:<version>, "
                      "or set $SANDBOX_GITEA_IMAGE to a Gitea image you have")


def terraform_check(binary: terraform.Binary | None, version: str, mirror: bool) -> Check:
    name = "tofu/terraform"
    if binary is None:
        return Check(name, False, MISSING,
                     todo="only for examples/terraform: `sandbox setup --terraform` (builds OpenTofu "
                          f"{terraform.TOFU_VERSION} and the providers from Go modules), or tofu/terraform on PATH")
    if not mirror:
        return Check(name, False, WARN, version or "unknown", str(binary.path), binary.source,
                     todo="no provider mirror in the cache: `tofu init` needs the registry (online), or run "
                          "`sandbox setup --terraform`")
    return Check(name, False, OK, version or "unknown", str(binary.path), binary.source)


# --- gathering the inputs on this machine -----------------------------------------------------------------


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def find_kind() -> tuple[Path | None, str]:
    explicit = os.environ.get("SANDBOX_KIND")
    if explicit:
        return Path(explicit), "SANDBOX_KIND"
    found = binaries.find("kind")
    return (found.path, found.source) if found else (None, "")


def gather() -> list[Check]:
    """Every Docker-side check, on this machine."""
    env = os.environ
    host = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    facts: dict[str, Any] | None
    try:
        facts, error = docker.engine_facts(), ""
    except SandboxError as err:
        facts, error = None, str(err)
    kind_path, kind_source = find_kind()
    kind_version = (version_of(kind_path, ("version",)) or "") if kind_path else ""
    image = node_image_name(env)
    explicit_gitea = env.get("SANDBOX_GITEA_IMAGE") or None
    node_present: bool | None = None
    gitea_tags: list[str] | None = None
    gitea_present: bool | None = None
    if facts is not None:
        try:
            node_present = docker.image_exists(image)
            gitea_tags = docker.image_tags(GITEA_IMAGE_REPOSITORY)
            gitea_present = docker.image_exists(explicit_gitea) if explicit_gitea else None
        except SandboxError as err:
            error = str(err)
    tf = terraform.find_binary()
    tf_version = (version_of(tf.path, ("version",)) or "") if tf else ""
    return [
        docker_check(facts, error, host),
        kind_check(kind_path, kind_source, kind_version),
        node_image_check(image, node_present, error),
        inotify_check(_read_int(_INOTIFY / "max_user_watches"), _read_int(_INOTIFY / "max_user_instances")),
        gitea_check(explicit_gitea, gitea_tags, gitea_present, error),
        terraform_check(tf, tf_version, terraform.mirror_complete()),
    ]


def report(bin_dir: Path | None = None) -> list[Check]:
    """All rows: the programs (``binaries.doctor``; its kind row is replaced by the fuller one here), then Docker's."""
    docker_rows = gather()
    replaced = {c.name for c in docker_rows}
    return [from_binary(r) for r in binaries.doctor(bin_dir) if r.name not in replaced] + docker_rows


def missing_required(checks: list[Check]) -> list[str]:
    return [c.name for c in checks if c.required and not c.ok]
