"""The node's Debian root filesystem: debootstrap into the cache, once per package list."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from sandbox import config
from sandbox.errors import InputError
from sandbox.kindnode import layout
from sandbox.tools import debootstrap

SYSTEM_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
STAMP = ".sandbox-rootfs.json"


def mirror_from_sources(text: str, suite: str = layout.DEBIAN_SUITE) -> str:
    """The first ``URIs`` of a deb822 stanza that serves ``suite`` (the machine's own Debian mirror)."""
    for stanza in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith("#"))
        suites = fields.get("Suites", "").split()
        types = fields.get("Types", "").split()
        uris = fields.get("URIs", "").split()
        if suite in suites and "deb" in types and uris:
            return uris[0]
    raise InputError(f"no deb822 stanza serving Debian {suite} found; set $SANDBOX_DEBIAN_MIRROR to a Debian mirror "
                     "URL")


def mirror() -> str:
    explicit = os.environ.get("SANDBOX_DEBIAN_MIRROR")
    if explicit:
        return explicit
    if not SYSTEM_SOURCES.exists():
        raise InputError(f"{SYSTEM_SOURCES} not found: set $SANDBOX_DEBIAN_MIRROR to a Debian mirror URL")
    return mirror_from_sources(SYSTEM_SOURCES.read_text())


def wanted() -> dict[str, object]:
    return {"suite": layout.DEBIAN_SUITE, "packages": sorted(layout.DEBIAN_PACKAGES)}


def rootfs_dir() -> Path:
    key = hashlib.sha256(json.dumps(wanted(), sort_keys=True).encode()).hexdigest()[:16]  # not the image's RECIPE
    return config.cache_root() / "kindnode" / f"rootfs-{layout.DEBIAN_SUITE}-{key}"


def is_current() -> bool:
    stamp = rootfs_dir() / STAMP
    try:
        return bool(json.loads(stamp.read_text()) == wanted())
    except (OSError, ValueError):
        return False


def ensure(progress: layout.Progress) -> Path:
    """The root filesystem directory, made by debootstrap unless the cache has it."""
    target = rootfs_dir()
    if is_current():
        progress("debian rootfs", f"cached ({target})")
        return target
    if shutil.which("debootstrap") is None:
        raise InputError("debootstrap not found: `apt-get install debootstrap` (it makes the kind node's root "
                         "filesystem from Debian packages)")
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    source = mirror()
    progress("debian rootfs", f"debootstrap {layout.DEBIAN_SUITE} ({len(layout.DEBIAN_PACKAGES)} packages)")
    debootstrap.bootstrap(partial, layout.DEBIAN_SUITE, source, layout.DEBIAN_PACKAGES)
    (partial / "var" / "cache" / "apt" / "archives").mkdir(parents=True, exist_ok=True)
    for deb in (partial / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        deb.unlink()
    (partial / STAMP).write_text(json.dumps(wanted()))
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    return target
