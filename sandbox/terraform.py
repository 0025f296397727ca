"""OpenTofu and the Terraform providers the examples use, built from their Go modules into the sandbox cache.

``tofu`` is built from ``github.com/opentofu/opentofu`` and each provider from its module, each as the main module
in its own source tree (so its go.mod, replace directives and go.sum are used as published). Providers are laid
out as a filesystem mirror (``HOSTNAME/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION``) under
both registry host names, and a CLI configuration file points ``provider_installation`` at it, so that
``tofu init`` (or ``terraform init``) works offline with ``TF_CLI_CONFIG_FILE`` set.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox import config, gobuild
from sandbox.errors import SandboxError
from sandbox.tools import go as gotool

Progress = Callable[[str, str], None]  # (phase, detail)

TOFU_MODULE = "github.com/opentofu/opentofu"
TOFU_VERSION = "v1.12.6"
# Registry host names a provider source address may resolve to (OpenTofu's default, Terraform's default).
REGISTRY_HOSTS = ("registry.opentofu.org", "registry.terraform.io")
STAMP = ".build.json"


@dataclass(frozen=True)
class Provider:
    """A provider as modules name it (``namespace/type``) and the Go module it is built from."""

    namespace: str
    type: str
    version: str  # without the leading v, as required_providers pins it
    module: str

    @property
    def source(self) -> str:
        return f"{self.namespace}/{self.type}"

    @property
    def binary(self) -> str:
        return f"terraform-provider-{self.type}_v{self.version}"


# What the examples need. (hashicorp/kubernetes v2 is not published as a Go module version; fluxcd/flux is not served
# at all: the Flux bootstrap example names it but is not run here.)
PROVIDERS = (
    Provider("gavinbunney", "kubectl", "1.19.0", "github.com/gavinbunney/terraform-provider-kubectl"),
)


def root() -> Path:
    return config.cache_root() / "terraform"


def tofu_path() -> Path:
    return root() / "bin" / "tofu"


def mirror_dir() -> Path:
    return root() / "mirror"


def cli_config_path() -> Path:
    return root() / "tofu.rc"


def platform_dir() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"linux_{arch}"


def provider_paths(provider: Provider, mirror: Path | None = None) -> list[Path]:
    """Where ``provider``'s binary goes in the mirror, once per registry host name."""
    base = mirror or mirror_dir()
    return [base / host / provider.namespace / provider.type / provider.version / platform_dir() / provider.binary
            for host in REGISTRY_HOSTS]


def cli_config(mirror: Path, providers: tuple[Provider, ...] = PROVIDERS) -> str:
    """A CLI configuration: the mirror for ``providers`` (under both host names), the registry for any other."""
    included = ", ".join(f'"{host}/{p.source}"' for p in providers for host in REGISTRY_HOSTS)
    return ("# Written by `sandbox setup --terraform`: the providers built from Go modules come from the mirror.\n"
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f"    path    = {json.dumps(str(mirror))}\n"
            f"    include = [{included}]\n"
            "  }\n"
            "  direct {\n"
            f"    exclude = [{included}]\n"
            "  }\n"
            "}\n")


def _stamp(target: Path) -> dict[str, str]:
    try:
        data = json.loads((target.parent / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tofu_recipe() -> dict[str, str]:
    return {"module": TOFU_MODULE, "version": TOFU_VERSION, "ldflags": _TOFU_LDFLAGS}


_TOFU_LDFLAGS = "-s -w -X github.com/opentofu/opentofu/version.dev=no"


def _build_in_module(module: str, version: str, package: str, target: Path, ldflags: str,
                     progress: Progress) -> None:
    """Build ``package`` of ``module@version`` as the main module, in its own (read-only) source tree."""
    upstream = gobuild.fetch(module, version, progress)
    env: Mapping[str, str] = {**upstream.env, "GOFLAGS": "-mod=readonly -buildvcs=false"}
    partial = target.with_name(target.name + ".partial")
    progress(f"go build {target.name}", f"{module}@{version}")
    gotool.build(upstream.go, upstream.module.dir, package, partial, ldflags=ldflags, env=env,
                 on_line=lambda line: progress(f"go build {target.name}", line))
    os.replace(partial, target)


def build_tofu(progress: Progress, *, force: bool = False) -> Path:
    """``tofu`` in the cache (built unless the cache holds this recipe's build)."""
    target = tofu_path()
    recipe = _tofu_recipe()
    if not force and target.is_file() and _stamp(target) == recipe:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _build_in_module(TOFU_MODULE, TOFU_VERSION, "./cmd/tofu", target, _TOFU_LDFLAGS, progress)
    (target.parent / STAMP).write_text(json.dumps(recipe, sort_keys=True) + "\n")
    return target


def build_provider(provider: Provider, progress: Progress, *, force: bool = False) -> list[Path]:
    """``provider`` in the mirror under every registry host name."""
    targets = provider_paths(provider)
    if not force and all(t.is_file() for t in targets):
        return targets
    first = targets[0]
    first.parent.mkdir(parents=True, exist_ok=True)
    _build_in_module(provider.module, f"v{provider.version}", ".", first, "-s -w", progress)
    for other in targets[1:]:
        other.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(first, other)
    return targets


@dataclass(frozen=True)
class Installed:
    tofu: Path | None  # None when it could not be built: ``tofu_error`` says why
    providers: dict[str, list[Path]]
    cli_config: Path
    tofu_error: str = ""


def ensure(progress: Progress, *, force: bool = False) -> Installed:
    """The providers' mirror and its CLI configuration, then tofu; a second call finds them all in the cache.

    The mirror serves any tofu or terraform, so it is kept when tofu alone fails to build (reported in
    ``tofu_error``)."""
    providers = {p.source: build_provider(p, progress, force=force) for p in PROVIDERS}
    path = cli_config_path()
    path.write_text(cli_config(mirror_dir()))
    try:
        return Installed(build_tofu(progress, force=force), providers, path)
    except SandboxError as err:
        return Installed(None, providers, path, tofu_error=str(err))


def mirror_complete() -> bool:
    return cli_config_path().is_file() and all(t.is_file() for p in PROVIDERS for t in provider_paths(p))


@dataclass(frozen=True)
class Binary:
    path: Path
    source: str  # SANDBOX_TOFU | cache | PATH


def find_binary() -> Binary | None:
    """The binary to run modules with: ``$SANDBOX_TOFU``, the cache's tofu, else tofu or terraform on PATH."""
    explicit = os.environ.get("SANDBOX_TOFU")
    if explicit:
        return Binary(Path(explicit), "SANDBOX_TOFU")
    if tofu_path().is_file():
        return Binary(tofu_path(), "cache")
    for name in ("tofu", "terraform"):
        found = shutil.which(name)
        if found:
            return Binary(Path(found), "PATH")
    return None


def run_env() -> dict[str, str]:
    """Environment for running a module: the mirror's CLI configuration when the cache has one."""
    env = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    if mirror_complete():
        env["TF_CLI_CONFIG_FILE"] = str(cli_config_path())
    return env
