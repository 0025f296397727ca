"""The Go programs a kind node needs besides the control plane: the kind CLI, kubelet/kubeadm/kubectl/kube-proxy
(``binaries.node_recipe``), CoreDNS at the version kubeadm deploys, a pause program and the default StorageClass's
local-path-provisioner. Each is built once into the
cache; a stamp records what built it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sandbox import binaries, config, gobuild
from sandbox.kindnode import layout, storage

COREDNS_MODULE = "github.com/coredns/coredns"
PAUSE_MODULE = "golang.org/x/sys"  # a small module the wrapper can require; pause itself needs only the stdlib
PAUSE_MODULE_VERSION = "v0.47.0"
PAUSE_GO = """package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

// The pod sandbox's init: waits for SIGINT or SIGTERM and reaps the zombies it inherits, as Kubernetes' pause does.
func main() {
\tsignals := make(chan os.Signal, 8)
\tsignal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
\tfor s := range signals {
\t\tif s == syscall.SIGCHLD {
\t\t\tfor {
\t\t\t\tpid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
\t\t\t\tif pid <= 0 || err != nil {
\t\t\t\t\tbreak
\t\t\t\t}
\t\t\t}
\t\t\tcontinue
\t\t}
\t\tos.Exit(0)
\t}
}
"""


@dataclass(frozen=True)
class Target:
    """A recipe and where its binaries go."""

    name: str
    recipe: gobuild.Recipe
    out_dir: Path

    @property
    def stamp(self) -> Path:
        return self.out_dir / f".{self.name}.json"

    def wanted(self) -> dict[str, str]:
        r = self.recipe
        return {"module": r.module, "version": r.version, "ldflags": r.ldflags, "main_go": r.main_go,
                "programs": ",".join(p.binary for p in r.programs)}

    def binaries(self) -> list[Path]:
        return [self.out_dir / p.binary for p in self.recipe.programs]

    def is_current(self) -> bool:
        try:
            recorded = json.loads(self.stamp.read_text())
        except (OSError, ValueError):
            return False
        return bool(recorded == self.wanted()) and all(os.access(b, os.X_OK) for b in self.binaries())


def kind_binary_dir() -> Path:
    return binaries.helpers_bin_dir()


def kind_target() -> Target:
    recipe = gobuild.Recipe(layout.KIND_MODULE, layout.KIND_VERSION, (gobuild.Program("kind", layout.KIND_MODULE),))
    return Target("kind", recipe, kind_binary_dir())


def node_binaries_target(k8s_version: str) -> Target:
    return Target("node-binaries", binaries.node_recipe(k8s_version), binaries.node_bin_dir(k8s_version))


def components_dir() -> Path:
    return config.cache_root() / "kindnode" / "bin"


def coredns_target(coredns_version: str) -> Target:
    recipe = gobuild.Recipe(COREDNS_MODULE, coredns_version, (gobuild.Program("coredns", COREDNS_MODULE),))
    return Target(f"coredns-{coredns_version}", recipe, components_dir() / f"coredns-{coredns_version}")


def local_path_target() -> Target:
    """local-path-provisioner as its scripts/build makes it: static, main.VERSION stamped."""
    version = storage.LOCAL_PATH_VERSION
    recipe = gobuild.Recipe(storage.LOCAL_PATH_MODULE, version,
                            (gobuild.Program("local-path-provisioner", storage.LOCAL_PATH_MODULE),),
                            ldflags=f"-s -w -X main.VERSION={version}")
    return Target(f"local-path-provisioner-{version}", recipe, components_dir() / f"local-path-provisioner-{version}")


def pause_target() -> Target:
    recipe = gobuild.Recipe(PAUSE_MODULE, PAUSE_MODULE_VERSION, (gobuild.Program("pause", "."),), main_go=PAUSE_GO)
    return Target("pause", recipe, components_dir() / "pause")


def ensure(target: Target, progress: layout.Progress, *, force: bool = False) -> list[Path]:
    """Build ``target`` unless its binaries are current in the cache; returns them."""
    if not force and target.is_current():
        progress(target.name, f"cached ({target.out_dir})")
        return target.binaries()
    target.out_dir.mkdir(parents=True, exist_ok=True)
    built = gobuild.build(target.recipe, target.out_dir, progress)
    target.stamp.write_text(json.dumps(target.wanted()))
    return built.binaries
