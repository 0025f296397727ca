"""The stand-in images' rootfs: the Debian binary where the upstream image has it, what it links, its web assets,
a default configuration and a data directory any user can write."""

from __future__ import annotations

import tarfile
from pathlib import Path

from sandbox.monitoring import standin
from sandbox.monitoring.container import ALERTMANAGER, PROMETHEUS
from sandbox.tools import rootfs


def test_prometheus_rootfs_keeps_the_upstream_layout(tmp_path: Path) -> None:
    binary, library = tmp_path / "prometheus", tmp_path / "libc.so.6"
    binary.write_bytes(b"\x7fELF-prometheus")
    library.write_bytes(b"libc")
    tarball = tmp_path / "rootfs.tar"
    standin.write_rootfs(standin.LAYOUTS[PROMETHEUS], binary, [library], tarball)
    with tarfile.open(tarball) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert archive.extractfile(members["bin/prometheus"]).read() == b"\x7fELF-prometheus"  # type: ignore[union-attr]
        assert members["bin/prometheus"].mode == 0o755
        assert "etc/prometheus/prometheus.yml" in members
        assert members["prometheus"].isdir() and members["prometheus"].mode == 0o777
        assert members["tmp"].mode == 0o1777
        assert library.as_posix().lstrip("/") in members


def test_alertmanager_layout() -> None:
    layout = standin.LAYOUTS[ALERTMANAGER]
    assert (layout.config_path, layout.data_path, layout.data_flag) == (
        "/etc/alertmanager/alertmanager.yml", "/alertmanager", "--storage.path")
    assert rootfs.split_image("local/alertmanager:debian") == ("local/alertmanager", "debian")
    assert rootfs.split_image("localhost:5000/prometheus") == ("localhost:5000/prometheus", "latest")
