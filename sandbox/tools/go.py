"""The ``go`` command, used to build Kubernetes, etcd and Flux's controllers from their published Go modules."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import CommandError, InputError, SandboxError
from sandbox.tools.run import run, stream

# Where Go is usually installed when it is not on PATH (the official tarball's place).
_FALLBACK = Path("/usr/local/go/bin/go")
_GO_VERSION_RE = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?")


def find() -> Path | None:
    """The ``go`` program to build with: ``$SANDBOX_GO``, else PATH, else /usr/local/go/bin/go."""
    explicit = os.environ.get("SANDBOX_GO")
    if explicit:
        return Path(explicit)
    on_path = shutil.which("go")
    if on_path:
        return Path(on_path)
    return _FALLBACK if _FALLBACK.is_file() else None


def require() -> Path:
    found = find()
    if found is None:
        raise InputError("the go command was not found (looked at $SANDBOX_GO, PATH and /usr/local/go/bin): install "
                         "Go >= 1.26 from your distribution or go.dev, or use `sandbox setup --from download`")
    return found


def version(go: Path) -> tuple[int, int, int] | None:
    """Go's own version, e.g. (1, 26, 8); None when it cannot be asked."""
    try:
        result = run([go, "env", "GOVERSION"], timeout=30)
    except SandboxError:
        return None
    match = _GO_VERSION_RE.search(result.stdout)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@dataclass(frozen=True)
class ModuleInfo:
    path: str
    version: str
    dir: Path
    go_mod: Path


def download(go: Path, module: str, module_version: str, env: Mapping[str, str]) -> ModuleInfo:
    """``go mod download -json module@version``: the module's source tree and go.mod in the module cache."""
    result = run([go, "mod", "download", "-json", f"{module}@{module_version}"], env=env, timeout=900,
                 ok_codes=(0, 1))
    try:
        info = json.loads(result.stdout)
    except ValueError as err:
        raise CommandError(f"go mod download {module}@{module_version} printed no module record: "
                           f"{result.stderr.strip()[-400:]}") from err
    if info.get("Error") or result.returncode:
        raise SandboxError(f"the Go module proxy does not serve {module}@{module_version}: "
                           f"{str(info.get('Error') or result.stderr).strip().splitlines()[0]}")
    return ModuleInfo(module, module_version, Path(info["Dir"]), Path(info["GoMod"]))


def list_versions(go: Path, module: str, env: Mapping[str, str], timeout: float = 60) -> list[str]:
    """The versions the module proxy lists for ``module`` (empty when it lists none or cannot be reached)."""
    try:
        result = run([go, "list", "-m", "-versions", "-json", module], env={**env, "GOFLAGS": "-mod=mod"},
                     timeout=timeout, ok_codes=(0, 1))
    except CommandError:
        return []
    try:
        versions = json.loads(result.stdout).get("Versions") or []
    except ValueError:
        return []
    return [str(v) for v in versions]


def mod_tidy(go: Path, module_dir: Path, env: Mapping[str, str], on_line: Callable[[str], None]) -> None:
    """``go mod tidy -e``: go.mod and go.sum complete for the module's packages, carrying on past packages that
    cannot be loaded (the build that follows fails on those it needs, naming them)."""
    stream([go, "mod", "tidy", "-e"], cwd=module_dir, env=env, on_line=on_line)


def build(go: Path, module_dir: Path, package: str, output: Path, *, ldflags: str,
          env: Mapping[str, str], on_line: Callable[[str], None], tags: Sequence[str] = ()) -> None:
    """``go build -trimpath`` the main ``package`` (an import path, or ``.``) into the binary ``output``, with
    build ``tags`` if any."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tag_args = ["-tags", ",".join(tags)] if tags else []
    stream([go, "build", "-trimpath", "-v", *tag_args, "-ldflags", ldflags, "-o", output, package],
           cwd=module_dir, env=env, on_line=on_line)
