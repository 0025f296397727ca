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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
CLI_RECIPE = 2  # bump when only the flux CLI changes (2: it embeds the controllers' manifests): only it is rebuilt
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


def controller_bundle(base: Path, controller_source: Path) -> None:
    """Point Flux's kustomize base of one controller (``manifests/bases/<name>``) at that controller's manifests
    made from its own module, as its release makes them (``kustomize build config/crd`` → ``<name>.crds.yaml``,
    ``kustomize build config/manager`` → ``<name>.deployment.yaml``), instead of the release assets on the
    internet it names."""
    name = base.name
    assets = {f"{name}.crds.yaml": controller_source / "config" / "crd",
              f"{name}.deployment.yaml": controller_source / "config" / "manager"}
    for file_name, directory in assets.items():
        (base / file_name).write_text(kubectl.kustomize_build(directory))
    kustomization = base / "kustomization.yaml"
    data = yaml.safe_load(kustomization.read_text())
    data["resources"] = [str(r).rsplit("/", 1)[-1] if str(r).startswith(("http://", "https://")) else r
                         for r in data.get("resources") or []]
    missing = [r for r in data["resources"] if not (base / r).exists()]
    if missing:
        raise SandboxError(f"{kustomization}: resources {missing} are neither in the base nor made from "
                           f"{name}'s module")
    kustomization.write_text(yaml.safe_dump(data, sort_keys=False))


def embedded_manifests(source: Path, controllers: Mapping[str, Path] | None = None) -> None:
    """What Flux's Makefile bundles into cmd/flux/manifests before building the CLI (manifests/scripts/bundle.sh):
    the RBAC and network policies, and ``<controller>.yaml`` for each controller whose module is at hand
    (``controllers``: name → its module source). With them the CLI's ``flux install --export`` works offline, for
    those components; a controller whose module the proxy does not serve has no manifest, and ``flux install``
    without ``--components`` says so."""
    target = source / "cmd" / "flux" / "manifests"
    target.mkdir(parents=True, exist_ok=True)
    for part in ("rbac", "policies"):
        (target / f"{part}.yaml").write_text(kubectl.kustomize_build(source / "manifests" / part))
    for name, controller_source in sorted((controllers or {}).items()):
        base = source / "manifests" / "bases" / name
        controller_bundle(base, controller_source)
        (target / f"{name}.yaml").write_text(kubectl.kustomize_build(base))


def _cli_recipe(release: str, controllers: Mapping[str, Path]) -> gobuild.Recipe:
    return gobuild.Recipe(CLI_MODULE, release, (gobuild.Program("flux", f"{CLI_MODULE}/cmd/flux"),),
                          ldflags=f"-s -w -X main.VERSION={release.removeprefix('v')}",
                          generate=lambda source: embedded_manifests(source, controllers))


def _substituted(program: str, result: gobuild.Built) -> dict[str, dict[str, str]]:
    return {f"{program}: {module}": {"required": required, "built": instead}
            for module, (required, instead) in result.substitutions.items()}


def cli_current(release: str = FLUX_RELEASE) -> bool:
    """Whether the cached flux CLI was made by the current CLI recipe."""
    try:
        return bool(json.loads((cache_dir(release) / INFO).read_text()).get("cli_recipe") == CLI_RECIPE)
    except (OSError, ValueError):
        return False


def ensure(progress: gobuild.Progress, release: str = FLUX_RELEASE) -> Installed:
    """The cached build of ``release``: built when missing, its CLI rebuilt when an older CLI recipe made it."""
    found = installed(release)
    if found is None:
        return build(progress, release)
    if not cli_current(release):
        return rebuild_cli(progress, release)
    return found


def ready(release: str = FLUX_RELEASE) -> bool:
    """Whether the cache holds a complete build of ``release`` by the current recipes (tests skip otherwise)."""
    return installed(release) is not None and cli_current(release)


def rebuild_cli(progress: gobuild.Progress, release: str = FLUX_RELEASE) -> Installed:
    """Build only the flux CLI again (the controllers in the cache stay): for a cache made by an older CLI
    recipe."""
    found = require(release)
    cli = gobuild.fetch(CLI_MODULE, release, progress)
    sources = {c.name: gotool.download(cli.go, c.module, c.version, cli.env).dir
               for c in release_components(cli.go_mod) if c.name in found.built}
    root = cache_dir(release)
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        gobuild.build(_cli_recipe(release, sources), Path(tmp), progress)
        os.replace(Path(tmp) / "flux", found.binary("flux"))
    info = json.loads((root / INFO).read_text())
    info["cli_recipe"] = CLI_RECIPE
    (root / INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return found


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
    sources: dict[str, Path] = {}
    for component in components:
        try:
            sources[component.name] = gotool.download(go, component.module, component.version, env).dir
        except SandboxError as err:
            unavailable[component.name] = str(err)
            progress("unavailable", f"{component.name} {component.version}")
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        staging = Path(tmp)
        (staging / "bin").mkdir()
        (staging / "crds").mkdir()
        result = gobuild.build(_cli_recipe(release, sources), staging / "bin", progress)
        substitutions.update(_substituted("flux", result))
        built["flux"] = release
        for component in components:
            if component.name not in sources:
                continue
            result = gobuild.build(_controller_recipe(component), staging / "bin", progress)
            substitutions.update(_substituted(component.name, result))
            for crd in sorted((sources[component.name] / "config" / "crd" / "bases").glob("*.yaml")):
                shutil.copyfile(crd, staging / "crds" / crd.name)
            built[component.name] = component.version
        for part in ("bin", "crds"):
            if (root / part).exists():
                shutil.rmtree(root / part)
            os.replace(staging / part, root / part)
    (root / INFO).write_text(json.dumps({"recipe": RECIPE, "cli_recipe": CLI_RECIPE, "release": release,
                                         "built": built,
                                         "unavailable": unavailable, "substitutions": substitutions,
                                         "seconds": round(time.monotonic() - started, 1)},
                                        indent=2, sort_keys=True) + "\n")
    complete = installed(release)
    if complete is None:
        raise SandboxError(f"the build of Flux {release} in {root} is incomplete")
    return complete
