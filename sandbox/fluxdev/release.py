"""The pinned Flux release set, built from Go modules into the cache (controllers, their CRDs, the flux CLI).

Flux pins the controller versions of a release in the flux CLI's go.mod (``github.com/fluxcd/<controller>/api``),
so one version — the CLI's — names the whole set. A controller whose module the proxy does not serve is reported
as unavailable rather than silently missing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import config, gobuild
from sandbox.errors import InputError, SandboxError
from sandbox.tools import go as gotool
from sandbox.tools import kubectl

FLUX_RELEASE = "v2.9.5"
CLI_MODULE = "github.com/fluxcd/flux2/v2"
# Every controller of a Flux release, in the order Flux's install lists them.
CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller",
               "image-reflector-controller", "image-automation-controller", "source-watcher")
# Go module paths where they are not github.com/fluxcd/<name> (a major version suffix).
_MODULE_PATHS = {"source-watcher": "github.com/fluxcd/source-watcher/v2"}
_API_PATHS = {"source-watcher": "github.com/fluxcd/source-watcher/api/v2"}
RECIPE = 1  # bump when what is built changes, so caches made before are rebuilt
INFO = "RELEASE.json"


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    version: str


def module_path(name: str) -> str:
    return _MODULE_PATHS.get(name, f"github.com/fluxcd/{name}")


def release_components(cli_go_mod: dict[str, Any]) -> list[Component]:
    """The controllers and their versions that the flux CLI's go.mod pins (``<controller>/api`` requirements)."""
    required = {r["Path"]: r["Version"] for r in cli_go_mod.get("Require") or []}
    components = []
    for name in CONTROLLERS:
        api = _API_PATHS.get(name, f"github.com/fluxcd/{name}/api")
        if api in required:
            components.append(Component(name, module_path(name), required[api]))
    return components


def cache_dir(release: str = FLUX_RELEASE) -> Path:
    return config.cache_root() / "flux" / release


@dataclass(frozen=True)
class Installed:
    """What the cache holds for one Flux release."""

    release: str
    bin_dir: Path
    crd_dir: Path
    built: dict[str, str]  # controller or "flux" -> version
    unavailable: dict[str, str]  # controller -> why it could not be built
    # "<program>: <module>" -> {"required": v, "built": v}: dependencies the proxy does not serve at the pinned version
    substitutions: dict[str, dict[str, str]]

    def binary(self, name: str) -> Path:
        return self.bin_dir / name


def installed(release: str = FLUX_RELEASE) -> Installed | None:
    """The cached build of ``release`` when complete and made by the current recipe, else None."""
    root = cache_dir(release)
    try:
        info = json.loads((root / INFO).read_text())
    except (OSError, ValueError):
        return None
    if info.get("recipe") != RECIPE:
        return None
    result = Installed(release, root / "bin", root / "crds", dict(info.get("built", {})),
                       dict(info.get("unavailable", {})), dict(info.get("substitutions", {})))
    if not all(os.access(result.binary(name), os.X_OK) for name in result.built):
        return None
    return result


def build_seconds(release: str = FLUX_RELEASE) -> float | None:
    """How long the cached build of ``release`` took, as recorded when it ran."""
    try:
        seconds = json.loads((cache_dir(release) / INFO).read_text()).get("seconds")
    except (OSError, ValueError):
        return None
    return float(seconds) if seconds is not None else None


def require(release: str = FLUX_RELEASE) -> Installed:
    found = installed(release)
    if found is None:
        raise InputError(f"upstream Flux {release} is not built yet: run `sandbox setup --flux` (builds Flux's "
                         "controllers and CLI from their Go modules; needs Go >= 1.26 and the Go module proxy, "
                         "~10-20 min on 2 cores the first time)")
    return found


def _controller_recipe(component: Component) -> gobuild.Recipe:
    return gobuild.Recipe(component.module, component.version,
                          (gobuild.Program(component.name, component.module),))


def embedded_manifests(source: Path) -> None:
    """What Flux's Makefile bundles into cmd/flux/manifests before building the CLI, as far as it can be made
    here: the RBAC and network policies (kustomize over the module's own files). The controllers' manifests point
    at release assets on the internet and are left out, so `flux install` and `flux bootstrap` of this build say
    that a manifest is missing; the sandbox installs Flux itself (`sandbox up --reconciler flux`)."""
    target = source / "cmd" / "flux" / "manifests"
    target.mkdir(parents=True, exist_ok=True)
    for part in ("rbac", "policies"):
        (target / f"{part}.yaml").write_text(kubectl.kustomize_build(source / "manifests" / part))


def _cli_recipe(release: str) -> gobuild.Recipe:
    return gobuild.Recipe(CLI_MODULE, release, (gobuild.Program("flux", f"{CLI_MODULE}/cmd/flux"),),
                          ldflags=f"-s -w -X main.VERSION={release.removeprefix('v')}",
                          generate=embedded_manifests)


def _substituted(program: str, result: gobuild.Built) -> dict[str, dict[str, str]]:
    return {f"{program}: {module}": {"required": required, "built": instead}
            for module, (required, instead) in result.substitutions.items()}


def build(progress: gobuild.Progress, release: str = FLUX_RELEASE) -> Installed:
    """Build the flux CLI and every controller of ``release`` the module proxy serves; copy their CRDs."""
    started = time.monotonic()
    cli = gobuild.fetch(CLI_MODULE, release, progress)
    go, env = cli.go, cli.env
    components = release_components(cli.go_mod)
    root = cache_dir(release)
    root.mkdir(parents=True, exist_ok=True)
    built: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    substitutions: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        staging = Path(tmp)
        (staging / "bin").mkdir()
        (staging / "crds").mkdir()
        result = gobuild.build(_cli_recipe(release), staging / "bin", progress)
        substitutions.update(_substituted("flux", result))
        built["flux"] = release
        for component in components:
            try:
                source = gotool.download(go, component.module, component.version, env)
            except SandboxError as err:
                unavailable[component.name] = str(err)
                progress("unavailable", f"{component.name} {component.version}")
                continue
            result = gobuild.build(_controller_recipe(component), staging / "bin", progress)
            substitutions.update(_substituted(component.name, result))
            for crd in sorted((source.dir / "config" / "crd" / "bases").glob("*.yaml")):
                shutil.copyfile(crd, staging / "crds" / crd.name)
            built[component.name] = component.version
        for part in ("bin", "crds"):
            if (root / part).exists():
                shutil.rmtree(root / part)
            os.replace(staging / part, root / part)
    (root / INFO).write_text(json.dumps({"recipe": RECIPE, "release": release, "built": built,
                                         "unavailable": unavailable, "substitutions": substitutions,
                                         "seconds": round(time.monotonic() - started, 1)},
                                        indent=2, sort_keys=True) + "\n")
    complete = installed(release)
    if complete is None:
        raise SandboxError(f"the build of Flux {release} in {root} is incomplete")
    return complete
