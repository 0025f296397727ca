import hashlib
import tarfile
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
    storage.garbage_collect("gitrepository/ns/a", {second.path})
    assert not (tmp_path / "store" / "artifacts" / first.path).exists()
