import hashlib
import os
import tarfile
import time
from pathlib import Path

from sandbox.reconciler.source.ignore import included_files
from sandbox.reconciler.source.storage import Storage


def make_tree(root: Path) -> None:
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "app.yaml").write_text("kind: ConfigMap\n")
    (root / "deploy" / "logo.png").write_bytes(b"png")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yaml").write_text("x")
    (root / ".sops.yaml").write_text("creation_rules: []")
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text("notes")
    (root / "docs" / ".sourceignore").write_text("*.md\n")


def test_default_exclusions_and_sourceignore(tmp_path: Path) -> None:
    make_tree(tmp_path)
    files = [p.as_posix() for p in included_files(tmp_path, None)]
    assert files == ["deploy/app.yaml", "docs/.sourceignore"]


def test_spec_ignore_replaces_the_defaults(tmp_path: Path) -> None:
    make_tree(tmp_path)
    files = [p.as_posix() for p in included_files(tmp_path, "/docs/\n")]
    assert "deploy/logo.png" in files and ".sops.yaml" in files and "docs/notes.md" not in files


def test_archives_are_deterministic_and_digests_verified(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    storage = Storage(tmp_path / "store" / "artifacts", "http://127.0.0.1:1")
    first = storage.store_directory(tmp_path / "src", "gitrepository/ns/a/1.tar.gz", None)
    (tmp_path / "src" / "deploy" / "app.yaml").touch()  # a new mtime must not change the artifact
    second = storage.store_directory(tmp_path / "src", "gitrepository/ns/a/2.tar.gz", None)
    assert first.digest == second.digest
    data = (tmp_path / "store" / "artifacts" / first.path).read_bytes()
    assert first.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    with tarfile.open(tmp_path / "store" / "artifacts" / first.path) as tar:
        assert sorted(tar.getnames()) == ["deploy/app.yaml", "docs/.sourceignore"]
    unpacked = storage.unpacked(first.path, first.digest)
    assert (unpacked / "deploy" / "app.yaml").read_text() == "kind: ConfigMap\n"


def _archive(storage: Storage, relative: str, age: float) -> str:
    path = storage.local_path(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(relative.encode())
    when = time.time() - age
    os.utime(path, (when, when))
    return relative


def test_superseded_artifacts_are_kept_for_the_retention_ttl_and_records(tmp_path: Path) -> None:
    """As source-controller's defaults: the last 2 artifacts stay while younger than 60 s, so a consumer still
    fetching the previous revision is not cut off; older ones go; the current one and links are never touched."""
    storage = Storage(tmp_path / "artifacts")
    old = _archive(storage, "gitrepository/ns/a/old.tar.gz", 3600)
    previous = _archive(storage, "gitrepository/ns/a/previous.tar.gz", 5)
    current = _archive(storage, "gitrepository/ns/a/current.tar.gz", 0)
    storage.local_path("gitrepository/ns/a").joinpath("latest.tar.gz").symlink_to("current.tar.gz")
    assert storage.garbage_collect("gitrepository/ns/a", {current}) == [old]
    assert storage.local_path(previous).exists() and storage.local_path(current).exists()
    assert (storage.root / "gitrepository/ns/a/latest.tar.gz").is_symlink()


def test_recent_artifacts_beyond_the_retained_number_go_oldest_first(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "artifacts")
    names = [_archive(storage, f"ocirepository/ns/b/{i}.tar.gz", 30 - i) for i in range(4)]
    assert storage.garbage_collect("ocirepository/ns/b", {names[1]}) == [names[0], names[2]]
    assert sorted(p.name for p in storage.local_path("ocirepository/ns/b").iterdir()) == ["1.tar.gz", "3.tar.gz"]


def test_garbage_collection_of_a_missing_directory_removes_nothing(tmp_path: Path) -> None:
    assert Storage(tmp_path / "artifacts").garbage_collect("gitrepository/ns/none", set()) == []
