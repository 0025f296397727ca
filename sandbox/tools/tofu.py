"""tofu (or terraform): ``init``, ``apply`` and ``destroy`` of a module directory, non-interactively."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from sandbox.tools.run import Completed, run


def command(binary: Path, module_dir: Path, args: list[str], *, env: Mapping[str, str], timeout: float = 600,
            secrets: Iterable[str] = ()) -> Completed:
    """``binary args`` in ``module_dir`` (``-input=false -no-color`` added); CommandError (secrets masked) on
    failure."""
    return run([binary, *args, "-input=false", "-no-color"], cwd=module_dir, env=env, timeout=timeout,
               secrets=secrets)


def init(binary: Path, module_dir: Path, *, env: Mapping[str, str]) -> Completed:
    return command(binary, module_dir, ["init"], env=env)


def apply(binary: Path, module_dir: Path, *, env: Mapping[str, str], secrets: Iterable[str] = ()) -> Completed:
    return command(binary, module_dir, ["apply", "-auto-approve"], env=env, secrets=secrets)


def destroy(binary: Path, module_dir: Path, *, env: Mapping[str, str], secrets: Iterable[str] = ()) -> Completed:
    return command(binary, module_dir, ["destroy", "-auto-approve"], env=env, secrets=secrets)


def fmt_check(binary: Path, directory: Path, *, env: Mapping[str, str]) -> Completed:
    """``fmt -check -recursive``: the files under ``directory`` that are not in canonical format (exit 3 if any)."""
    return run([binary, "fmt", "-check", "-recursive", "-list=true", directory], env=env, timeout=120,
               ok_codes=(0, 3))
