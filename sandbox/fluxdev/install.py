"""Flux's own in-cluster install, as ``flux install --export`` writes it: the cached flux CLI of the pinned release
(built with the controllers' manifests embedded, as Flux's release build bundles them) for the controllers whose
modules are at hand; Flux's other default components are named as left out, never silently dropped."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox.errors import InputError
from sandbox.fluxdev import release
from sandbox.tools import flux as fluxcli
from sandbox.tools import kubectl

# `flux install`'s default --components (Flux's cmd/flux/main.go defaults), in its order.
DEFAULT_COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")


@dataclass(frozen=True)
class Export:
    yaml: str
    components: tuple[str, ...]
    missing: dict[str, str]  # a default component left out -> why


def components(installed: release.Installed) -> tuple[tuple[str, ...], dict[str, str]]:
    """Flux's default components the cache holds, and those it lacks with why."""
    have = tuple(c for c in DEFAULT_COMPONENTS if c in installed.built)
    missing = {c: "its Go module is not served here, so this build has no manifest for it"
               for c in DEFAULT_COMPONENTS if c not in installed.built}
    return have, missing


def export(installed: release.Installed, *, registry: str = "") -> Export:
    """``flux install --export`` for the default components the cache holds; ``registry``: where the controllers'
    images come from (``flux install --registry``; default ghcr.io/fluxcd)."""
    if not release.cli_current(installed.release):
        raise InputError(f"the cached flux CLI {installed.release} predates the embedded controller manifests: run "
                         "`sandbox setup --flux` (rebuilds only the CLI, about a minute)")
    have, missing = components(installed)
    args = ["install", "--export", f"--components={','.join(have)}", *([f"--registry={registry}"] if registry else [])]
    out = fluxcli.flux(installed.binary("flux"), args).stdout
    return Export(out, have, missing)


RBAC_CACHE = "rbac.yaml"  # in the release's cache directory, beside bin/ and crds/
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def rbac_yaml(made: Export) -> str:
    """The ServiceAccounts and RBAC of ``made`` (what Flux's controllers authenticate as and may do), as YAML."""
    docs = [doc for doc in yaml.safe_load_all(made.yaml) if doc and doc.get("kind") in RBAC_KINDS]
    return yaml.safe_dump_all(docs, sort_keys=False)


def cached_rbac_yaml(installed: release.Installed) -> str:
    """``rbac_yaml`` of the default export, kept next to the build: written once per flux CLI build and set of
    components, so a ``sandbox up --reconciler flux`` does not run ``flux install --export`` each time."""
    have, _ = components(installed)
    stat = installed.binary("flux").stat()
    key = f"# flux {stat.st_size} {stat.st_mtime_ns} {','.join(have)}\n"
    path = installed.bin_dir.parent / RBAC_CACHE
    try:
        text = path.read_text()
    except OSError:
        text = ""
    if text.startswith(key):
        return text[len(key):]
    made = rbac_yaml(export(installed))
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(key + made)
    partial.replace(path)  # atomic: a concurrent `sandbox up` reads the old file or the new one, never half of one
    return made


def apply(made: Export, kubeconfig: Path, *, timeout: float) -> None:
    """Server-side apply ``made`` and wait until its Deployments are Available; InputError naming what is not
    (an image that cannot be pulled shows as the pods' waiting reason)."""
    kubectl.kubectl(["apply", "--server-side", "--field-manager=flux", "-f", "-"], kubeconfig=kubeconfig,
                    input_text=made.yaml, timeout=timeout)
    waited = kubectl.kubectl(["-n", "flux-system", "wait", "--for=condition=Available", "deployment", "--all",
                              f"--timeout={int(timeout)}s"], kubeconfig=kubeconfig, timeout=timeout + 30,
                             ok_codes=(0, 1))
    if waited.returncode != 0:
        pods = kubectl.kubectl(["-n", "flux-system", "get", "pods", "-o",
                                "custom-columns=POD:.metadata.name,WAITING:.status.containerStatuses[*].state"
                                ".waiting.reason"], kubeconfig=kubeconfig, ok_codes=(0, 1)).stdout
        raise InputError(f"Flux's controllers did not become Available within {timeout:.0f}s "
                         f"({waited.stderr.strip() or waited.stdout.strip()}):\n{pods}Where ghcr.io cannot be "
                         "reached, the images cannot be pulled: load them into the cluster first "
                         "(`sandbox image load`)")
