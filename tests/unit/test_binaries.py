"""Binary resolution order and obtaining binaries (download with checksum, copy from a directory)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import binaries
from sandbox.errors import InputError, SandboxError


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
    for where in ("explicit", "cache/bin/v1.20.2", "venv/bin", "path"):
        make_exe(isolated / where / "kube-apiserver")
    monkeypatch.setenv("SANDBOX_BIN_DIR", str(isolated / "explicit"))
    found = binaries.find("kube-apiserver")
    assert found is not None and found.source == "SANDBOX_BIN_DIR"
    monkeypatch.delenv("SANDBOX_BIN_DIR")
    found = binaries.find("kube-apiserver")
    assert found is not None and found.source == "cache"
    (isolated / "cache/bin/v1.20.2/kube-apiserver").unlink()
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

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


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
