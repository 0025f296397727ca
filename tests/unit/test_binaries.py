"""Binary resolution order and obtaining binaries (download with checksum, copy from a directory)."""

from __future__ import annotations

import hashlib
import http.server
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from sandbox import binaries, config
from sandbox.errors import InputError, SandboxError
from sandbox.httpserve import serve


def make_exe(path: Path, body: str = "#!/bin/sh\necho v1.2.3\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SANDBOX_BIN_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.setattr(binaries.sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    return tmp_path


def test_explicit_dir_wins_over_cache_env_and_path(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for where in ("explicit", f"cache/bin/{config.DEFAULT_K8S_VERSION}", "venv/bin", "path"):
        make_exe(isolated / where / "kube-apiserver")
    monkeypatch.setenv("SANDBOX_BIN_DIR", str(isolated / "explicit"))
    found = binaries.find("kube-apiserver")
    assert found is not None and found.source == "SANDBOX_BIN_DIR"
    monkeypatch.delenv("SANDBOX_BIN_DIR")
    found = binaries.find("kube-apiserver")
    assert found is not None and found.source == "cache"
    (isolated / f"cache/bin/{config.DEFAULT_K8S_VERSION}/kube-apiserver").unlink()
    found = binaries.find("kube-apiserver")
    assert found is not None and found.source == "python-env"
    (isolated / "venv/bin/kube-apiserver").unlink()
    found = binaries.find("kube-apiserver")
    assert found is not None and found.source == "PATH"
    (isolated / "path/kube-apiserver").unlink()
    assert binaries.find("kube-apiserver") is None


def test_cache_is_keyed_by_version(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_exe(isolated / "cache/bin/v1.30.0/kube-apiserver")
    assert binaries.find("kube-apiserver") is None
    monkeypatch.setenv("SANDBOX_K8S_VERSION", "v1.30.0")
    assert binaries.find("kube-apiserver") is not None


def test_non_executable_files_are_ignored(isolated: Path) -> None:
    target = isolated / "cache/bin/v1.20.2/etcd"
    target.parent.mkdir(parents=True)
    target.write_text("not executable")
    assert binaries.find("etcd") is None


def test_require_says_how_to_get_a_missing_binary(isolated: Path) -> None:
    with pytest.raises(InputError, match="sandbox setup"):
        binaries.require("kube-apiserver")


def test_doctor_reports_found_and_missing(isolated: Path) -> None:
    make_exe(isolated / "path/etcd", "#!/bin/sh\necho 'etcd Version: 3.5.1'\n")
    rows = {r.name: r for r in binaries.doctor()}
    assert rows["etcd"].ok and rows["etcd"].version == "3.5.1" and rows["etcd"].source == "PATH"
    assert not rows["kube-apiserver"].ok and "sandbox setup" in rows["kube-apiserver"].how_to_get


def test_setup_from_dir_copies_into_cache(isolated: Path) -> None:
    source = isolated / "src"
    for name in binaries.CONTROL_PLANE:
        make_exe(source / name)
    installed = binaries.setup_from_dir(source, "v1.20.2", lambda *_: None)
    assert [p.name for p in installed] == list(binaries.CONTROL_PLANE)
    assert all(binaries.find(n) is not None for n in binaries.CONTROL_PLANE)


def test_setup_from_dir_names_what_is_missing(isolated: Path) -> None:
    make_exe(isolated / "src" / "kube-apiserver")
    with pytest.raises(InputError, match="kube-controller-manager, kube-scheduler"):
        binaries.setup_from_dir(isolated / "src", "v1.20.2", lambda *_: None)


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    with serve(partial(http.server.SimpleHTTPRequestHandler, directory=str(root)), name="release-server") as server:
        yield server.url, root


def publish(root: Path, version: str, name: str, content: bytes, checksum: str | None = None) -> None:
    directory = root / version / "bin" / "linux" / binaries._arch()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(content)
    (directory / f"{name}.sha256").write_text(checksum or hashlib.sha256(content).hexdigest())


def test_download_verifies_checksums(isolated: Path, release_server: tuple[str, Path]) -> None:
    url, root = release_server
    for name in binaries.CONTROL_PLANE:
        publish(root, "v1.30.2", name, f"#!/bin/sh\necho {name}\n".encode())
    installed = binaries.setup_download("v1.30.2", lambda *_: None, base_url=url)
    assert len(installed) == 3
    assert all(p.stat().st_mode & 0o111 for p in installed)
    assert installed[0].read_bytes() == b"#!/bin/sh\necho kube-apiserver\n"


def test_download_rejects_a_bad_checksum_and_installs_nothing(isolated: Path,
                                                             release_server: tuple[str, Path]) -> None:
    url, root = release_server
    publish(root, "v1.30.2", "kube-apiserver", b"tampered", checksum="0" * 64)
    with pytest.raises(SandboxError, match="checksum mismatch"):
        binaries.setup_download("v1.30.2", lambda *_: None, base_url=url)
    assert not (binaries.cache_bin_dir("v1.30.2") / "kube-apiserver").exists()


def test_download_failure_points_at_offline_build(isolated: Path, release_server: tuple[str, Path]) -> None:
    url, _ = release_server
    with pytest.raises(SandboxError, match="debian-source"):
        binaries.setup_download("v9.9.9", lambda *_: None, base_url=url)


def test_debian_build_swaps_in_a_reflect2_fixed_for_go_1_18(tmp_path: Path) -> None:
    vendored = tmp_path / "tree" / "vendor" / "github.com" / "modern-go" / "reflect2"
    vendored.mkdir(parents=True)
    for name in ("go_below_19.go", "unsafe_link.go", "reflect2_amd64.s", "BUILD"):
        (vendored / name).write_text(f"old {name}")
    source = tmp_path / "reflect2"
    source.mkdir()
    for name in ("go_above_118.go", "unsafe_link.go", "reflect2_amd64.s", "unsafe_map_test.go"):
        (source / name).write_text(f"new {name}")
    binaries.vendor_fixed_reflect2(tmp_path / "tree", source)
    assert sorted(p.name for p in vendored.iterdir()) == ["BUILD", "go_above_118.go", "reflect2_amd64.s",
                                                           "unsafe_link.go"]
    assert (vendored / "unsafe_link.go").read_text() == "new unsafe_link.go"
    assert (vendored / "BUILD").read_text() == "old BUILD"


def test_reflect2_swap_names_the_debian_package_when_it_is_missing(tmp_path: Path) -> None:
    (tmp_path / "tree" / "vendor" / "github.com" / "modern-go" / "reflect2").mkdir(parents=True)
    with pytest.raises(InputError, match="apt-get install golang-github-modern-go-reflect2-dev"):
        binaries.vendor_fixed_reflect2(tmp_path / "tree", tmp_path / "absent")


def test_cache_made_by_an_outdated_recipe_is_not_current(isolated: Path) -> None:
    source = isolated / "src"
    for name in binaries.CONTROL_PLANE:
        make_exe(source / name)
    binaries.setup_from_dir(source, "v1.20.2", lambda *_: None)
    assert binaries.cache_is_current("v1.20.2")
    binaries.write_build_info("v1.20.2", {"source": "debian-source", "recipe": binaries.DEBIAN_RECIPE - 1})
    assert not binaries.cache_is_current("v1.20.2")
    (binaries.cache_bin_dir("v1.20.2") / binaries.BUILD_INFO).unlink()
    assert not binaries.cache_is_current("v1.20.2"), "caches from before build records existed are rebuilt"


def complete_cache(root: Path, version: str, info: dict[str, object] | None = None) -> None:
    for name in binaries.CONTROL_PLANE:
        make_exe(root / "cache" / "bin" / version / name)
    if info is not None:
        binaries.write_build_info(version, info)


def test_version_is_the_flag_then_the_environment_then_the_default(isolated: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDBOX_K8S_VERSION", raising=False)
    assert binaries.resolve_version() == config.DEFAULT_K8S_VERSION, "an empty cache points at the default"
    monkeypatch.setenv("SANDBOX_K8S_VERSION", "v1.35.4")
    assert binaries.resolve_version() == "v1.35.4"
    assert binaries.resolve_version("v1.34.3") == "v1.34.3"
    with pytest.raises(InputError, match=r"v1\.37\.2"):
        binaries.resolve_version("1.34")


def test_without_the_default_version_the_newest_cached_one_runs(isolated: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where only the Debian v1.20.2 fallback could be built keeps working without flags."""
    monkeypatch.delenv("SANDBOX_K8S_VERSION", raising=False)
    complete_cache(isolated, "v1.20.2")
    complete_cache(isolated, "v1.34.3")
    make_exe(isolated / "cache/bin/v1.36.1/kube-apiserver")  # incomplete: not a candidate
    assert binaries.cached_versions() == ["v1.34.3", "v1.20.2"]
    assert binaries.resolve_version() == "v1.34.3"
    complete_cache(isolated, config.DEFAULT_K8S_VERSION)
    assert binaries.resolve_version() == config.DEFAULT_K8S_VERSION


def test_go_modules_cache_needs_its_etcd_and_a_current_recipe(isolated: Path) -> None:
    version = config.DEFAULT_K8S_VERSION
    complete_cache(isolated, version, {"source": "go-modules", "recipe": binaries.GO_MODULES_RECIPE})
    assert not binaries.cache_is_current(version), "the etcd built with the control plane is missing"
    make_exe(isolated / "cache" / "bin" / version / "etcd")
    assert binaries.cache_is_current(version)
    binaries.write_build_info(version, {"source": "go-modules", "recipe": binaries.GO_MODULES_RECIPE - 1})
    assert not binaries.cache_is_current(version)


def test_the_cached_etcd_wins_over_the_python_environment(isolated: Path) -> None:
    make_exe(isolated / "venv/bin/etcd")
    assert binaries.require("etcd", version="v1.37.2") == isolated / "venv/bin/etcd"
    make_exe(isolated / "cache/bin/v1.37.2/etcd")
    assert binaries.require("etcd", version="v1.37.2") == isolated / "cache/bin/v1.37.2/etcd"
    assert binaries.require("etcd", version="v1.20.2") == isolated / "venv/bin/etcd"


def test_missing_binary_names_the_setup_command_for_its_version(isolated: Path) -> None:
    with pytest.raises(InputError, match=r"sandbox setup --version v1\.35\.4"):
        binaries.require("kube-apiserver", version="v1.35.4")


def test_kubernetes_ldflags_stamp_the_version_where_components_read_it() -> None:
    flags = binaries.kubernetes_ldflags("v1.37.2")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.37.2" in flags
        assert f"-X {package}.gitMajor=1" in flags
        assert f"-X {package}.gitMinor=37" in flags
    with pytest.raises(InputError):
        binaries.kubernetes_ldflags("latest")


def test_etcd_version_is_the_one_kubernetes_requires() -> None:
    go_mod = {"Require": [{"Path": "go.etcd.io/etcd/client/v3", "Version": "v3.7.1"},
                          {"Path": "go.etcd.io/etcd/server/v3", "Version": "v3.7.0"}]}
    assert binaries.etcd_version_for(go_mod) == "v3.7.0"
    with pytest.raises(SandboxError, match="etcd"):
        binaries.etcd_version_for({"Require": []})


def test_debian_source_build_names_go_1_19_when_it_is_missing(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaries, "DEBIAN_GO_DIR", isolated / "no-go-1.19")
    with pytest.raises(InputError, match="golang-go"):
        binaries.setup_debian_source(lambda *_: None)
