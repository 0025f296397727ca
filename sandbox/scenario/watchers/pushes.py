"""Git pushes as ``push`` entries, by tailing the local git server's push log (one JSON line per pushed ref).
Only pushes after recording started count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.scenario.watchers.tail import Entry, JsonLogSource, LogTail

__all__ = ["LogTail", "PushLogSource", "push_data"]


def push_data(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The subject (``repo/<name>``) and data of the ``push`` entry for one line of the push log."""
    repo = str(entry.get("repo", "")).rsplit("/", 1)[-1]
    commits = [{"sha": str(c.get("sha", "")), "message": str(c.get("message", ""))}
               for c in entry.get("commits") or [] if isinstance(c, dict)]
    data = {"repo": repo, "ref": str(entry.get("ref", "")), "before": str(entry.get("before", "")),
            "after": str(entry.get("after", "")), "pusher": str(entry.get("pusher", "")), "commits": commits,
            "total_commits": int(entry.get("total_commits") or len(commits))}
    return f"repo/{repo}", data


class PushLogSource(JsonLogSource):
    """The git server's push log, tailed."""

    name = "git-pushes"

    def __init__(self, push_log: Path, *, interval: float = 0.05) -> None:
        super().__init__(push_log, interval=interval)
        self.push_log = push_log

    def entry_of(self, line: dict[str, Any]) -> Entry | None:
        subject, data = push_data(line)
        return "push", subject, data
