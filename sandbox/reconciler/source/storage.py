"""Artifact storage: deterministic tar.gz archives with sha256 digests under the reconciler's data dir, served
over HTTP on loopback (as source-controller's storage server is), and unpacked copies for local consumers.

The server answers only under a per-sandbox secret first path segment (``http://127.0.0.1:PORT/<secret>/…``,
kept 0600 in the data dir): the URL in ``status.artifact.url`` is the credential, so every client that fetches a
URL from status — the ``sandbox`` CLI, upstream Flux's controllers, which send no token — keeps working, while a
local process that only finds the port gets 404. Request lines are logged with the secret redacted.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import http.server
import io
import logging
import os
import re
import secrets
import shutil
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sandbox.errors import SandboxError
from sandbox.httpserve import LoopbackServer
from sandbox.reconciler.source.ignore import included_files

SECRET_FILE = "artifact-url-secret"
REDACTED = "<secret>"
log = logging.getLogger("sandbox.http.artifact-server")


_SECRET_SEGMENT = re.compile(r"^(\w+://[^/]+/)[A-Za-z0-9_-]{43}(?=/)")


def redact_url(url: str) -> str:
    """``url`` with the artifact server's secret segment replaced by ``<secret>``, for messages and logs."""
    return _SECRET_SEGMENT.sub(rf"\g<1>{REDACTED}", url)


def url_secret(data_dir: Path) -> str:
    """The artifact server's secret path segment, created (0600) in ``data_dir`` on first use and kept, so that the
    URLs already published in status stay valid when the reconciler restarts."""
    path = data_dir / SECRET_FILE
    for _ in range(2):
        try:
            secret = path.read_text().strip()
        except FileNotFoundError:
            secret = ""
        if secret:
            return secret
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another process wrote it first: read theirs
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")  # 43 characters: what redact_url recognises
    raise ArtifactError(f"{path} is empty: remove it and restart the reconciler")


@dataclass(frozen=True)
class StoredArtifact:
    path: str  # relative to the storage root: gitrepository/<ns>/<name>/<sha>.tar.gz
    digest: str  # sha256:<hex>
    size: int


class ArtifactError(SandboxError):
    pass


class Storage:
    def __init__(self, root: Path, base_url: str = "", *, retention_ttl: float = 60.0,
                 retention_records: int = 2) -> None:
        self.root = root
        self.retention_ttl = retention_ttl
        self.retention_records = retention_records
        self.base_url = base_url.rstrip("/")
        self.root.mkdir(parents=True, exist_ok=True)
        self._unpacked = root.parent / "unpacked"
        self._lock = threading.Lock()

    def url_for(self, relative: str) -> str:
        return f"{self.base_url}/{relative}"

    def local_path(self, relative: str) -> Path:
        target = (self.root / relative).resolve()
        if not str(target).startswith(str(self.root.resolve()) + os.sep):
            raise ArtifactError(f"artifact path {relative!r} escapes the storage root")
        return target

    def store_directory(self, source: Path, relative: str, spec_ignore: str | None) -> StoredArtifact:
        """Archive ``source`` (filtered by the ignore rules) deterministically as ``relative``."""
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
            for rel in included_files(source, spec_ignore):
                full = source / rel
                info = tar.gettarinfo(str(full), arcname=rel.as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isreg():
                    info.mode = 0o755 if os.access(full, os.X_OK) else 0o644
                    with full.open("rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
        data = buffer.getvalue()
        target = self.local_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
        return StoredArtifact(relative, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))

    def store_bytes(self, data: bytes, relative: str) -> StoredArtifact:
        """``data`` as the file ``relative`` (written atomically)."""
        target = self.local_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
        return StoredArtifact(relative, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))

    def symlink(self, relative: str, name: str) -> str:
        """A link ``name`` next to the artifact ``relative``, pointing at it (source-controller's status URL
        symlink, e.g. ``index.yaml`` or ``latest.tar.gz``); returns the link's path relative to the root."""
        directory = relative.rsplit("/", 1)[0]
        # The folder, not the link: resolving an existing link would name the artifact it points at.
        link = self.local_path(directory) / name
        scratch = link.with_name(f".{name}.tmp")
        scratch.unlink(missing_ok=True)
        scratch.symlink_to(Path(relative).name)
        os.replace(scratch, link)
        return f"{directory}/{name}"

    def verify(self, relative: str, digest: str) -> Path:
        target = self.local_path(relative)
        if not target.exists():
            raise ArtifactError(f"artifact {relative} is not in storage")
        actual = "sha256:" + hashlib.sha256(target.read_bytes()).hexdigest()
        if actual != digest:
            raise ArtifactError(f"artifact {relative} digest mismatch: expected {digest}, got {actual}")
        return target

    def unpacked(self, relative: str, digest: str) -> Path:
        """A read-only extracted copy of the artifact, shared by consumers and keyed by digest."""
        target = self._unpacked / digest.replace(":", "-")
        with self._lock:
            if target.is_dir():
                return target
            archive = self.verify(relative, digest)
            scratch = Path(tempfile.mkdtemp(dir=self._unpacked.parent if self._unpacked.parent.exists() else None))
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(scratch, filter="data")
                self._unpacked.mkdir(parents=True, exist_ok=True)
                os.replace(scratch, target)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            return target

    def garbage_collect(self, directory: str, keep: set[str]) -> list[str]:
        """Remove superseded archives in ``directory`` (relative) as source-controller does with its defaults
        (``--artifact-retention-ttl=60s``, ``--artifact-retention-records=2``): an archive other than the ``keep``
        paths goes once it is older than the TTL, and the oldest go while more than the retained number are left
        — so a consumer still downloading the previous revision's URL is not cut off. Symbolic links and lock
        files are left alone. Returns the relative paths removed."""
        folder = self.local_path(directory) if directory else self.root
        if not folder.is_dir():
            return []
        now = time.time()
        files: list[tuple[float, str]] = []
        for entry in folder.iterdir():
            if entry.is_symlink() or not entry.is_file() or entry.suffix == ".lock":
                continue
            files.append((entry.stat().st_mtime, entry.relative_to(self.root).as_posix()))
        files.sort()
        garbage = [path for mtime, path in files if path not in keep and now - mtime > self.retention_ttl]
        left = len(files) - len(garbage)
        for _, path in files:
            if left <= self.retention_records:
                break
            if path not in keep and path not in garbage:
                garbage.append(path)
                left -= 1
        removed = []
        for path in garbage:
            try:
                (self.root / path).unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
        return removed

    def remove(self, directory: str) -> None:
        shutil.rmtree(self.local_path(directory), ignore_errors=True)

    def serve(self, port: int) -> LoopbackServer:
        """Serve the storage on 127.0.0.1:``port`` under ``base_url``'s path (its secret segment): any other path
        is 404, and so is a directory."""
        root = str(self.root)
        prefix = urlsplit(self.base_url).path.rstrip("/")

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=root, **kwargs)

            def _strip_prefix(self) -> bool:
                head, rest = self.path[:len(prefix)], self.path[len(prefix):]
                if not hmac.compare_digest(head.encode(), prefix.encode()) or not rest.startswith("/"):
                    self.send_error(404)
                    return False
                self.path = rest
                return True

            def do_GET(self) -> None:
                if self._strip_prefix():
                    super().do_GET()

            def do_HEAD(self) -> None:
                if self._strip_prefix():
                    super().do_HEAD()

            def list_directory(self, path: Any) -> None:  # no directory listings
                self.send_error(404)
                return None

            def log_message(self, format: str, *args: Any) -> None:
                line = format % args
                log.debug("%s %s", self.address_string(), line.replace(prefix, "/" + REDACTED) if prefix else line)

        return LoopbackServer(Handler, name="artifact-server", port=port).start()
