import tarfile
from pathlib import Path

import yaml

from sandbox.registry.standin import CONFIG_PATH, STORAGE_PATH, write_rootfs


def test_rootfs_holds_binary_libraries_loader_config_and_storage(tmp_path: Path) -> None:
    binary = tmp_path / "docker-registry"
    binary.write_bytes(b"\x7fELF registry")
    libc = tmp_path / "lib" / "x86_64-linux-gnu" / "libc.so.6"
    libc.parent.mkdir(parents=True)
    libc.write_bytes(b"libc")
    loader_target = tmp_path / "ld.so"
    loader_target.write_bytes(b"loader")
    loader = tmp_path / "lib64" / "ld-linux-x86-64.so.2"
    loader.parent.mkdir()
    loader.symlink_to(loader_target)  # as on Debian: the loader path is a symlink
    tarball = tmp_path / "rootfs.tar"

    write_rootfs(binary, [libc, loader], tarball)

    with tarfile.open(tarball) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert members["bin/registry"].isfile() and members["bin/registry"].mode == 0o755
        assert archive.extractfile("bin/registry").read() == b"\x7fELF registry"  # type: ignore[union-attr]
        loader_member = members[str(loader).lstrip("/")]
        assert loader_member.isfile(), "the loader is copied as a file, not a dangling symlink"
        assert archive.extractfile(loader_member).read() == b"loader"  # type: ignore[union-attr]
        assert members[str(libc).lstrip("/")].isfile()
        assert members[STORAGE_PATH.lstrip("/")].isdir()
        assert members["tmp"].mode == 0o1777
        config = yaml.safe_load(archive.extractfile(CONFIG_PATH.lstrip("/")).read())  # type: ignore[union-attr]
        assert config["http"]["addr"] == ":5000"
        assert config["storage"]["filesystem"]["rootdirectory"] == STORAGE_PATH
        # every parent directory exists in the archive before its files
        for name in members:
            parent = str(Path(name).parent)
            assert parent == "." or members[parent].isdir()
