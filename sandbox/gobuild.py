"""Build Go programs from their published modules through a small generated wrapper module.

A module such as ``k8s.io/kubernetes`` or ``github.com/fluxcd/source-controller`` cannot be built as a dependency
as it stands: its go.mod points sibling modules at local directories (``k8s.io/api => ./staging/src/k8s.io/api``,
``…/api => ./api``) that the module zip does not contain, and Go ignores a dependency's ``replace`` directives. The
wrapper requires the module at the wanted version, turns each local replacement into the published version of that
module, and carries the other replacements and exclusions over — the usual recipe for depending on
k8s.io/kubernetes. Go's module and build caches live under the sandbox cache, so a second build is quick.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox import config
from sandbox.errors import CommandError, InputError, SandboxError
from sandbox.tools import go as gotool
from sandbox.tools.run import run

_LOCAL = ("./", "../")
Progress = Callable[[str, str], None]  # (phase, detail)
_STAGING_PLACEHOLDER = "v0.0.0"


@dataclass(frozen=True)
class Program:
    """One binary: ``package`` (an import path of a main package, or ``.`` for the wrapper's own main.go)."""

    binary: str
    package: str


@dataclass(frozen=True)
class Recipe:
    """What to build from which module version, and how."""

    module: str
    version: str
    programs: tuple[Program, ...]
    ldflags: str = "-s -w"
    main_go: str = ""  # a main.go for the wrapper itself, for modules that publish a library but no main package
    extra_requires: dict[str, str] = field(default_factory=dict)
    # Files the module's own build generates before `go build` (e.g. for go:embed): given a writable copy of the
    # module's source, write them; the wrapper then builds that copy instead of the module cache's.
    generate: Callable[[Path], None] | None = field(default=None, compare=False)
    # Build inside a writable copy of the module as the main module (its own go.mod, go.sum and replace directives
    # apply), for modules whose go.mod declares another path than the one they are published under, or whose
    # replacements only hold as the main module. ``Program.package`` is then relative to that copy (``.``).
    as_main: bool = False
    tags: tuple[str, ...] = ()  # build tags (go build -tags)

    @property
    def key(self) -> str:
        return f"{self.module.replace('/', '_')}-{self.version}"


def go_env() -> dict[str, str]:
    """The environment every go command runs with: caches under the sandbox cache, static binaries."""
    root = config.cache_root() / "go"
    return {
        "GOPATH": str(root),
        "GOMODCACHE": str(root / "mod"),
        "GOCACHE": str(root / "build-cache"),
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod -buildvcs=false",
        # Let go fetch a newer toolchain through the module proxy when a module's go line asks for one.
        "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "auto"),
    }


MIN_GO = (1, 26)  # what current Kubernetes and Flux modules need (go.mod `go 1.26.0`)


@dataclass(frozen=True)
class Upstream:
    """A published module in the module cache, with the go command and environment to build it."""

    go: Path
    env: dict[str, str]
    module: gotool.ModuleInfo
    go_mod: dict[str, Any]  # its go.mod, as ``go mod edit -json`` reads it


def fetch(module: str, version: str, progress: Progress) -> Upstream:
    """Download ``module@version`` through the module proxy (checking the go command is recent enough first)."""
    go = gotool.require()
    found = gotool.version(go)
    if found is not None and found < MIN_GO:
        raise InputError(f"{go} is Go {'.'.join(map(str, found))}; building {module} {version} from its module needs "
                         f"Go >= {'.'.join(map(str, MIN_GO))} (set $SANDBOX_GO to another go, or use "
                         "`sandbox setup --from download`)")
    env = go_env()
    progress("go mod download", f"{module}@{version}")
    info = gotool.download(go, module, version, env)
    return Upstream(go, env, info, read_go_mod(go, info.go_mod))


def read_go_mod(go: Path, go_mod: Path) -> dict[str, Any]:
    """A go.mod as ``go mod edit -json`` describes it (Module, Go, Require, Replace, Exclude…)."""
    data: dict[str, Any] = json.loads(run([go, "mod", "edit", "-json", go_mod], timeout=60).stdout)
    return data


def staging_version(module_version: str) -> str:
    """The published version of Kubernetes' staging modules for a k8s.io/kubernetes version: v1.37.2 -> v0.37.2."""
    match = re.fullmatch(r"v1\.(\d+\.\d+(?:-[0-9A-Za-z.-]+)?)", module_version)
    if not match:
        raise InputError(f"{module_version!r} is not a Kubernetes version of the form v1.37.2")
    return f"v0.{match.group(1)}"


LOCAL_COPY = "src"


def wrapper_go_mod(recipe: Recipe, upstream: Mapping[str, Any], *, name: str) -> str:
    """The wrapper module's go.mod for ``recipe``, given the upstream go.mod as ``go mod edit -json`` reads it."""
    required = {r["Path"]: r["Version"] for r in upstream.get("Require") or []}
    lines = [f"module {name}", "", f"go {upstream.get('Go') or '1.26.0'}", ""]
    requires = {recipe.module: recipe.version, **recipe.extra_requires}
    lines += ["require ("] + [f"\t{path} {version}" for path, version in requires.items()] + [")", ""]
    replaces = [f"\t{recipe.module} => ./{LOCAL_COPY}"] if recipe.generate else []
    for rep in upstream.get("Replace") or []:
        old, new = rep["Old"], rep["New"]
        old_text = old["Path"] + (f" {old['Version']}" if old.get("Version") else "")
        if new["Path"].startswith(_LOCAL):
            version = required.get(old["Path"])
            if version is None:
                continue  # replaced but never required: nothing of it is built
            if version == _STAGING_PLACEHOLDER:
                version = staging_version(recipe.version)
            replaces.append(f"\t{old_text} => {old['Path']} {version}")
        else:
            replaces.append(f"\t{old_text} => {new['Path']}" + (f" {new['Version']}" if new.get("Version") else ""))
    if replaces:
        lines += ["replace (", *replaces, ")", ""]
    excludes = [f"\t{e['Path']} {e['Version']}" for e in upstream.get("Exclude") or []]
    if excludes:
        lines += ["exclude (", *excludes, ")", ""]
    return "\n".join(lines)


def tools_go(recipe: Recipe) -> str:
    """Blank imports of the main packages, behind a build tag, so that ``go mod tidy`` records their dependencies."""
    imports = [p.package for p in recipe.programs if p.package != "."]
    body = "\n".join(f'\t_ "{pkg}"' for pkg in imports)
    return f"//go:build tools\n\npackage tools\n\nimport (\n{body}\n)\n" if imports else ""


# `go` names a module version the proxy refuses like this (403/404/410), in tidy's and build's output alike.
_NOT_SERVED = re.compile(r"(?P<module>[\w.\-/~]+)@(?P<version>v[\w.+\-]+): reading \S+: (?:403|404|410)")
MAX_SUBSTITUTIONS = 8


@dataclass(frozen=True)
class Built:
    binaries: list[Path]
    # module -> (required version, version built instead): dependencies whose exact version the module proxy
    # does not serve, replaced by the nearest one it does (reported, never silent)
    substitutions: dict[str, tuple[str, str]]


def not_served(output: str) -> dict[str, str]:
    """module -> version, for every module version the proxy refused in ``output``."""
    return {m.group("module"): m.group("version") for m in _NOT_SERVED.finditer(output)}


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Orders module versions as semver does (v1.10.0 after v1.9.0; a release after its pre-releases)."""
    match = re.match(r"v(\d+)\.(\d+)\.(\d+)(.*)", version)
    if not match:
        return (0, 0, 0, 0, version)
    major, minor, patch, rest = match.groups()
    # A release sorts after its pre-releases (v1.2.3-rc.1 < v1.2.3).
    return (int(major), int(minor), int(patch), 0 if rest.startswith("-") else 1, rest)


def substitute_candidates(required: str, listed: list[str]) -> list[str]:
    """Versions to try instead of ``required``, best first: the same major.minor below it (newest first), then
    older minors of the same major (newest first). Never a newer version: it may change behaviour upstream did not
    test; never another major version: it is another module."""
    want = version_key(required)
    same_major = [v for v in listed if version_key(v)[0] == want[0] and version_key(v) < want
                  and "-" not in v.split("+")[0][1:]]
    same_minor = sorted((v for v in same_major if version_key(v)[1] == want[1]), key=version_key, reverse=True)
    older = sorted((v for v in same_major if version_key(v)[1] != want[1]), key=version_key, reverse=True)
    return same_minor + older


def _substitute(go: Path, module: str, version: str, env: Mapping[str, str], progress: Progress) -> str:
    for candidate in substitute_candidates(version, gotool.list_versions(go, module, env)):
        try:
            gotool.download(go, module, candidate, env)
        except SandboxError:
            continue  # listed but refused too: a partial mirror
        progress("substitute", f"{module} {version} is not served; building with {candidate}")
        return candidate
    raise SandboxError(f"the Go module proxy serves neither {module}@{version} nor an older version of the same "
                       f"major version; the build cannot go on (try another release, or a proxy that has it)")


def build(recipe: Recipe, out_dir: Path, progress: Progress, *, work_root: Path | None = None) -> Built:
    """Build every program of ``recipe`` into ``out_dir``.

    A dependency version the module proxy does not serve is replaced by the nearest older one of the same major
    version that it does, and the substitution is returned, so callers can say so.
    """
    upstream = fetch(recipe.module, recipe.version, progress)
    go, env = upstream.go, upstream.env
    module_dir = (work_root or config.cache_root() / "build" / "go") / recipe.key
    module_dir.mkdir(parents=True, exist_ok=True)
    if recipe.as_main:
        copy = _writable_copy(upstream, module_dir, progress, "copy", f"{recipe.module}: built as the main module")
        if recipe.generate is not None:
            progress("go generate", f"{recipe.module}: files its own build makes")
            recipe.generate(copy)
        build_dir, go_mod = copy, (copy / "go.mod").read_text()
    else:
        build_dir = module_dir
        go_mod = wrapper_go_mod(recipe, upstream.go_mod, name=f"gitops-sandbox.local/build/{recipe.key}")
        if recipe.generate is not None:
            copy = _writable_copy(upstream, module_dir, progress, "go generate",
                                  f"{recipe.module}: files its own build makes")
            recipe.generate(copy)
        for name, text in (("tools.go", tools_go(recipe)), ("main.go", recipe.main_go)):
            target = module_dir / name
            if text:
                target.write_text(text)
            elif target.exists():
                target.unlink()
    substitutions: dict[str, tuple[str, str]] = {}
    while True:
        replaces = "".join(f"replace {module} => {module} {instead}\n"
                           for module, (_, instead) in sorted(substitutions.items()))
        (build_dir / "go.mod").write_text(go_mod + replaces)
        if not recipe.as_main:  # the wrapper's go.sum is tidy's; a main module's own go.sum is kept
            (build_dir / "go.sum").unlink(missing_ok=True)
        seen: list[str] = []
        try:
            _compile(go, build_dir, recipe, out_dir, env, progress, seen)
        except CommandError:
            refused = {m: v for m, v in not_served("\n".join(seen)).items() if m not in substitutions}
            if not refused or len(substitutions) + len(refused) > MAX_SUBSTITUTIONS:
                raise
            for module, version in sorted(refused.items()):
                substitutions[module] = (version, _substitute(go, module, version, env, progress))
            continue
        return Built([out_dir / p.binary for p in recipe.programs], substitutions)


def _writable_copy(upstream: Upstream, module_dir: Path, progress: Progress, phase: str, detail: str) -> Path:
    """A fresh, writable copy of the module's source at ``module_dir/src`` (the module cache's is read-only)."""
    progress(phase, detail)
    copy = module_dir / LOCAL_COPY
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(upstream.module.dir, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return copy


def _compile(go: Path, module_dir: Path, recipe: Recipe, out_dir: Path, env: Mapping[str, str],
             progress: Progress, seen: list[str]) -> None:
    """go mod tidy, then go build each program; output lines go to ``progress``, the failing command's to ``seen``."""

    def report(phase: str, line: str) -> None:
        seen.append(line)
        progress(phase, line)

    if not recipe.as_main:  # a module built as itself comes with its go.mod and go.sum complete
        progress("go mod tidy", recipe.module)
        gotool.mod_tidy(go, module_dir, env, functools.partial(report, "go mod tidy"))
    for program in recipe.programs:
        phase = f"go build {program.binary}"
        progress(phase, program.package)
        # What tidy -e could not load (tests of dependencies) does not matter; what the build cannot load does.
        seen.clear()
        gotool.build(go, module_dir, program.package, out_dir / program.binary, ldflags=recipe.ldflags, env=env,
                     on_line=functools.partial(report, phase), tags=recipe.tags)
