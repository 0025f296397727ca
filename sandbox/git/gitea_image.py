"""A local Gitea image built from Gitea's Go module, for machines that cannot pull ``gitea/gitea``:
``sandbox setup --gitea`` (or ``python -m sandbox.git.gitea_image``).

Gitea's module declares its path as ``gitea.dev`` and carries replace directives, so it is built as the main module
in a writable copy (``gobuild.Recipe(as_main=True)``) with the pure-Go SQLite driver (``CGO_ENABLED=0``) and
without ``bindata``: the frontend bundle (``public/assets/js``, ``css``) is not in the module, so the web UI's pages
render without scripts and styles; the API and git smart-HTTP — all the sandbox uses — need none of it. Templates,
options (licences, gitignores, locales) and ``public/`` are read at run time from ``STATIC_ROOT_PATH``
(``/usr/share/gitea`` in the image).

The image mirrors the upstream rootless one, so ``sandbox.git.gitea`` runs it the same way: Gitea's own
``docker/rootless`` scripts from the module (entrypoint, ``docker-setup.sh`` writing app.ini from its template,
``environment-to-ini`` applying the ``GITEA__section__KEY`` variables, the ``gitea`` wrapper adding ``-c``), user
``git`` (1000:1000), the same ``GITEA_*`` variables and paths. git, bash and the few programs those scripts call are
this machine's Debian binaries with the libraries they link. The binary is cached under
``~/.cache/gitops-sandbox/gitea/<version>/``; the image is ``sandbox.local/gitea:<version>`` (``docker import``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox import config, gobuild
from sandbox.errors import InputError, SandboxError
from sandbox.tools import docker, ldd, rootfs
from sandbox.tools import go as gotool

Progress = Callable[[str, str], None]  # (phase, detail)

MODULE = "code.gitea.io/gitea"
VERSION = "v1.27.3"
REPOSITORY = "sandbox.local/gitea"
TAGS = ("sqlite", "sqlite_unlock_notify")
UID = GID = 1000
USER = "git"
APP_BINARY = "/app/gitea/gitea"
STATIC_ROOT = "/usr/share/gitea"
WORK_DIR = "/var/lib/gitea"
APP_INI_DIR = "/etc/gitea"
ASSET_DIRS = ("templates", "options", "public")  # what Gitea reads from STATIC_ROOT_PATH without bindata
ROOTLESS_SCRIPTS = "docker/rootless"  # the upstream image's scripts and app.ini template, in the module

# The programs the image needs from this machine: image path -> (host path, Debian package).
HOST_PROGRAMS: dict[str, tuple[str, str]] = {
    "/usr/bin/git": ("/usr/bin/git", "git"),  # the smart-HTTP backend (upload-pack, receive-pack) and hooks
    "/bin/bash": ("/bin/bash", "bash"),  # docker-setup.sh, the gitea wrapper, Gitea's repository hooks
    "/bin/sh": ("/bin/dash", "dash"),  # the entrypoint
    "/usr/bin/env": ("/usr/bin/env", "coreutils"),  # hooks start with #!/usr/bin/env bash
    # hooks: data=$(cat), hookname=$(basename $0), GIT_DIR=$(dirname $0)/..
    "/usr/bin/cat": ("/usr/bin/cat", "coreutils"),
    "/usr/bin/basename": ("/usr/bin/basename", "coreutils"),
    "/usr/bin/dirname": ("/usr/bin/dirname", "coreutils"),
    "/usr/bin/mkdir": ("/usr/bin/mkdir", "coreutils"),  # docker-setup.sh
    "/usr/bin/chmod": ("/usr/bin/chmod", "coreutils"),
    "/usr/bin/envsubst": ("/usr/bin/envsubst", "gettext-base"),  # app.ini from its template
}
GIT_TEMPLATES = "/usr/share/git-core/templates"
# git runs its transport programs by their dashed names from its exec path (Gitea's pull requests fetch and push
# between local repositories: `git-upload-pack`, `git-receive-pack` through /bin/sh); they are git itself.
GIT_LINKS = {f"/usr/lib/git-core/{name}": "/usr/bin/git"
             for name in ("git", "git-upload-pack", "git-receive-pack", "git-upload-archive")}

# The upstream rootless image's environment (Dockerfile.rootless), plus where the assets are.
IMAGE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "USER": USER,
    "GITEA_WORK_DIR": WORK_DIR,
    "GITEA_CUSTOM": f"{WORK_DIR}/custom",
    "GITEA_TEMP": "/tmp/gitea",
    "TMPDIR": "/tmp/gitea",
    "GITEA_APP_INI": f"{APP_INI_DIR}/app.ini",
    "HOME": f"{WORK_DIR}/git",
    "GITEA__server__STATIC_ROOT_PATH": STATIC_ROOT,
}


def image_name(version: str = VERSION) -> str:
    """``sandbox.local/gitea:1.27.3`` for module version v1.27.3."""
    return f"{REPOSITORY}:{version.removeprefix('v')}"


def recipe(version: str = VERSION) -> gobuild.Recipe:
    plain = version.removeprefix("v")
    return gobuild.Recipe(
        module=MODULE, version=version, programs=(gobuild.Program("gitea", "."),), as_main=True, tags=TAGS,
        # What Gitea's Makefile stamps in: /api/v1/version answers main.Version.
        ldflags=f"-s -w -X main.Version={plain} -X 'main.Tags={' '.join(TAGS)}'")


def cache_dir(version: str = VERSION) -> Path:
    return config.cache_root() / "gitea" / version


def _stamp(version: str) -> str:
    made = recipe(version)
    return json.dumps({"module": made.module, "version": made.version, "tags": list(made.tags),
                       "ldflags": made.ldflags}, sort_keys=True)


def cached_binary(version: str = VERSION) -> Path | None:
    """The cached gitea binary when it was built by the current recipe, else None."""
    binary = cache_dir(version) / "gitea"
    stamp = cache_dir(version) / "recipe.json"
    if binary.is_file() and stamp.is_file() and stamp.read_text() == _stamp(version):
        return binary
    return None


def build_binary(version: str, progress: Progress, *, force: bool = False) -> Path:
    """The gitea binary, from the cache or built from the module (~minutes the first time on 2 cores)."""
    found = None if force else cached_binary(version)
    if found is not None:
        progress("cached", str(found))
        return found
    target = cache_dir(version)
    target.mkdir(parents=True, exist_ok=True)
    built = gobuild.build(recipe(version), target, progress)
    for module, (wanted, instead) in sorted(built.substitutions.items()):
        progress("substituted", f"{module} {wanted} -> {instead}")
    (target / "recipe.json").write_text(_stamp(version))
    return target / "gitea"


def passwd_files() -> dict[str, tuple[rootfs.Content, int]]:
    """/etc/passwd and /etc/group with root and the image's non-root user ``git`` (1000:1000)."""
    passwd = f"root:x:0:0:root:/root:/bin/sh\n{USER}:x:{UID}:{GID}:Gitea:{WORK_DIR}/git:/bin/bash\n"
    group = f"root:x:0:\n{USER}:x:{GID}:\n"
    return {"/etc/passwd": (passwd.encode(), 0o644), "/etc/group": (group.encode(), 0o644)}


def _tree(source: Path, target: str) -> dict[str, tuple[rootfs.Content, int]]:
    """Every regular file under ``source`` at the same place under ``target`` (0644, or 0755 if executable)."""
    files: dict[str, tuple[rootfs.Content, int]] = {}
    for path in sorted(source.rglob("*")):
        if path.is_file():
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            files[f"{target}/{path.relative_to(source).as_posix()}"] = (path, mode)
    return files


@dataclass(frozen=True)
class Inputs:
    """What goes into the image: the gitea binary, the module's source tree, the host programs to copy."""

    binary: Path
    module_dir: Path
    programs: dict[str, Path]  # image path -> host path
    libraries: list[Path]
    git_templates: Path | None


def rootfs_files(inputs: Inputs) -> dict[str, tuple[rootfs.Content, int]]:
    """The image's files, target path -> (content, mode)."""
    files: dict[str, tuple[rootfs.Content, int]] = {APP_BINARY: (inputs.binary, 0o755)}
    scripts = inputs.module_dir / ROOTLESS_SCRIPTS
    for path, (content, _) in _tree(scripts, "").items():
        # The rootless scripts are read-only in the module cache; the ones under bin/ are programs.
        files[path] = (content, 0o755 if "/bin/" in path else 0o644)
    for name in ASSET_DIRS:
        files.update(_tree(inputs.module_dir / name, f"{STATIC_ROOT}/{name}"))
    for target, host in inputs.programs.items():
        files[target] = (host, 0o755)
    for library in inputs.libraries:
        files[str(library)] = (library, 0o755)
    if inputs.git_templates is not None:
        files.update(_tree(inputs.git_templates, GIT_TEMPLATES))
    files.update(passwd_files())
    return files


def docker_changes(version: str) -> list[str]:
    """The Dockerfile instructions ``docker import`` applies: the upstream rootless image's user, env, entrypoint."""
    plain = version.removeprefix("v")
    return [
        *(f"ENV {key}={value}" for key, value in IMAGE_ENV.items()),
        f"USER {UID}:{GID}",
        f"WORKDIR {WORK_DIR}",
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
        "EXPOSE 3000",
        f"LABEL io.gitops-sandbox.standin=gitea io.gitops-sandbox.gitea-version={plain}",
    ]


def host_inputs(binary: Path, module_dir: Path) -> Inputs:
    """The host programs (and their libraries) the image needs; InputError naming the Debian packages missing."""
    programs = {target: Path(host) for target, (host, _) in HOST_PROGRAMS.items()}
    missing = sorted({HOST_PROGRAMS[target][1] for target, host in programs.items() if not host.is_file()})
    if missing:
        raise InputError(f"building the Gitea image needs {', '.join(missing)} from Debian: "
                         f"`apt-get install -y --no-install-recommends {' '.join(missing)}`")
    libraries = sorted({lib for host in programs.values() for lib in ldd.shared_libraries(host)})
    templates = Path(GIT_TEMPLATES)
    return Inputs(binary, module_dir, programs, libraries, templates if templates.is_dir() else None)


def build_image(version: str, binary: Path, progress: Progress) -> str:
    """Write the rootfs and ``docker import`` it as ``image_name(version)``; returns the image name."""
    go = gotool.require()
    progress("go mod download", f"{MODULE}@{version} (templates, options, rootless scripts)")
    module = gotool.download(go, MODULE, version, gobuild.go_env())
    inputs = host_inputs(binary, module.dir)
    name = image_name(version)
    repository, tag = rootfs.split_image(name)
    with tempfile.TemporaryDirectory(prefix="gitea-image-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        progress("rootfs", f"gitea, git and {len(inputs.libraries)} libraries")
        owned = {WORK_DIR: (UID, GID), APP_INI_DIR: (UID, GID)}
        rootfs.write(tarball, rootfs_files(inputs), directories={WORK_DIR: 0o755, APP_INI_DIR: 0o755},
                     owners=owned, symlinks=GIT_LINKS)
        progress("docker import", name)
        docker.import_rootfs(tarball, repository, tag, docker_changes(version))
    return name


def present(version: str = VERSION) -> bool:
    """Whether Docker answers and has the local image (False without Docker)."""
    if not docker.socket_present():
        return False
    try:
        return docker.image_exists(image_name(version))
    except SandboxError:
        return False


def ensure(progress: Progress, *, version: str = VERSION, force: bool = False) -> str:
    """The local Gitea image, built unless Docker has it (or ``force``); returns its name."""
    name = image_name(version)
    if not force and docker.image_exists(name):
        progress("cached", f"{name} is in Docker")
        return name
    binary = build_binary(version, progress, force=force)
    return build_image(version, binary, progress)


def remove(version: str = VERSION) -> None:
    """Remove the image and the cached binary."""
    docker.remove_image(image_name(version))
    shutil.rmtree(cache_dir(version), ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.git.gitea_image", description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION, help=f"Gitea module version (default {VERSION})")
    parser.add_argument("--force", action="store_true", help="build the binary and the image again")
    parser.add_argument("--skip-without-docker", action="store_true",
                        help="exit 0, saying why, when no Docker engine answers (the tests then skip)")
    args = parser.parse_args(argv)
    usable, why = docker.usable()
    if not usable and args.skip_without_docker:
        print(f"not building the Gitea image: {why}", file=sys.stderr)
        return 0
    started = time.monotonic()
    try:
        name = ensure(lambda phase, detail: print(f"{phase}: {detail[-120:]}", file=sys.stderr, flush=True),
                      version=args.version, force=args.force)
    except SandboxError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{name} ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
