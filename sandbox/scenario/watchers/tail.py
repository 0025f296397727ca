"""Tailing an append-only JSON Lines log into timeline entries: ``LogTail`` reads the complete lines added since the
last read (following a rotation), ``JsonLogSource`` polls it from a daemon thread and emits one entry per line,
dated when the line says it happened. Only lines written after recording started count."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from sandbox.scenario.timeline import TimelineWriter

log = logging.getLogger(__name__)

Entry = tuple[str, str, dict[str, Any]]  # type, subject, data


class LogTail:
    """New complete lines of an append-only file since the last call (starting at its end when created). A file
    replaced (rotated, or truncated) is read again from its start."""

    def __init__(self, path: Path, *, from_start: bool = False) -> None:
        self.path = path
        self._inode, size = self._stat()
        self._offset = 0 if from_start else size
        self._partial = b""

    def _stat(self) -> tuple[int, int]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return 0, 0
        return stat.st_ino, stat.st_size

    def read_lines(self) -> list[str]:
        inode, size = self._stat()
        if size < self._offset or (inode != self._inode and self._inode != 0):
            self._offset, self._partial = 0, b""
        self._inode = inode
        if size == self._offset:
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines if line.strip()]


class JsonLogSource:
    """Polls a JSON Lines log 20 times a second (a stat when nothing happened) from a daemon thread; subclasses say
    what entry a line makes (``entry_of``: None to skip it)."""

    name = "json-log"

    def __init__(self, path: Path, *, interval: float = 0.05) -> None:
        self.path = path
        self.interval = interval
        self._tail = LogTail(path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: TimelineWriter | None = None
        self._lock = threading.Lock()

    def entry_of(self, line: dict[str, Any]) -> Entry | None:
        raise NotImplementedError

    def start(self, writer: TimelineWriter) -> None:
        self._writer = writer
        self._thread = threading.Thread(target=self._run, name=f"recorder-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.poll()  # a line logged just before stopping still belongs to the session

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> int:
        """Emit the lines logged since the last poll; how many entries."""
        writer = self._writer
        if writer is None:
            return 0
        with self._lock:
            emitted = 0
            for text in self._tail.read_lines():
                try:
                    line = json.loads(text)
                except ValueError:
                    line = None
                entry = self.entry_of(line) if isinstance(line, dict) else None
                if entry is None:
                    log.warning("skipping a malformed line of %s", self.path)
                    continue
                event_type, subject, data = entry
                moment = line.get("at") if isinstance(line, dict) else None
                if isinstance(moment, int | float):
                    # The log is read a little after the line was written: date it when that happened.
                    writer.emit_at(float(moment), event_type, subject, **data)
                else:
                    writer.emit(event_type, subject, **data)
                emitted += 1
            return emitted
