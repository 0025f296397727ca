"""Git pushes as ``push`` entries, by tailing the local git server's push log (one JSON line per pushed ref).
Only pushes after recording started count."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from sandbox.scenario.timeline import TimelineWriter

log = logging.getLogger(__name__)


def push_data(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The subject (``repo/<name>``) and data of the ``push`` entry for one line of the push log."""
    repo = str(entry.get("repo", "")).rsplit("/", 1)[-1]
    commits = [{"sha": str(c.get("sha", "")), "message": str(c.get("message", ""))}
               for c in entry.get("commits") or [] if isinstance(c, dict)]
    data = {"repo": repo, "ref": str(entry.get("ref", "")), "before": str(entry.get("before", "")),
            "after": str(entry.get("after", "")), "pusher": str(entry.get("pusher", "")), "commits": commits,
            "total_commits": int(entry.get("total_commits") or len(commits))}
    return f"repo/{repo}", data


class LogTail:
    """New complete lines of an append-only file since the last call (starting at its end when created)."""

    def __init__(self, path: Path, *, from_start: bool = False) -> None:
        self.path = path
        self._offset = 0 if from_start else self._size()
        self._partial = b""

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_lines(self) -> list[str]:
        size = self._size()
        if size < self._offset:  # replaced or truncated: read the new file from its start
            self._offset, self._partial = 0, b""
        if size == self._offset:
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines if line.strip()]


class PushLogSource:
    """Polls the push log 20 times a second (a stat when nothing happened) from a daemon thread."""

    name = "git-pushes"

    def __init__(self, push_log: Path, *, interval: float = 0.05) -> None:
        self.push_log = push_log
        self.interval = interval
        self._tail = LogTail(push_log)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: TimelineWriter | None = None
        self._lock = threading.Lock()

    def start(self, writer: TimelineWriter) -> None:
        self._writer = writer
        self._thread = threading.Thread(target=self._run, name="recorder-pushes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.poll()  # a push logged just before stopping still belongs to the session

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> int:
        """Emit the pushes logged since the last poll; how many."""
        writer = self._writer
        if writer is None:
            return 0
        with self._lock:
            emitted = 0
            for line in self._tail.read_lines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    log.warning("skipping a malformed line of %s", self.push_log)
                    continue
                subject, data = push_data(entry)
                moment = entry.get("at")
                if isinstance(moment, int | float):
                    # The log is read a little after the push: date it when the server took it.
                    writer.emit_at(float(moment), "push", subject, **data)
                else:
                    writer.emit("push", subject, **data)
                emitted += 1
            return emitted
