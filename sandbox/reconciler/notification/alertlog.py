"""The alert log: one JSON line per notification delivery outcome (sent, retrying, failed, dropped), written by the
dispatcher in the reconciler's data directory and tailed by the recorder. The file is 0600; past ``max_bytes`` it is
rotated to ``<name>.1`` (one old generation kept). Callers mask secrets before they write; the log never holds a
Provider's address or headers."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("sandbox.reconciler.notification")

FILE_NAME = "alerts.jsonl"
MAX_BYTES = 4 << 20
MAX_MESSAGE = 2000  # characters of an event message kept in a line
OUTCOMES = ("sent", "retrying", "failed", "dropped")


def path_in(data_dir: Path) -> Path:
    """Where the reconciler whose data directory is ``data_dir`` keeps its alert log."""
    return data_dir / FILE_NAME


@dataclass(frozen=True)
class Outcome:
    """One line of the alert log. ``alerts`` and ``provider`` are ``namespace/name``; ``involved_object`` is
    ``Kind/namespace/name``; ``detail`` is the masked error (failed, retrying) or why (dropped)."""

    outcome: str
    involved_object: str
    severity: str = ""
    reason: str = ""
    message: str = ""
    provider: str = ""
    provider_type: str = ""
    alerts: tuple[str, ...] = ()
    attempt: int = 0
    detail: str = ""
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "at": self.at, "outcome": self.outcome, "involvedObject": self.involved_object,
            "severity": self.severity, "reason": self.reason, "message": self.message[:MAX_MESSAGE],
            "provider": self.provider, "providerType": self.provider_type, "alerts": list(self.alerts)}
        if self.attempt:
            entry["attempt"] = self.attempt
        if self.detail:
            entry["error" if self.outcome in ("failed", "retrying") else "why"] = self.detail
        return entry


def involved_of(body: dict[str, Any]) -> str:
    """``Kind/namespace/name`` (or ``Kind/name``) of an eventv1.Event's involved object."""
    involved = body.get("involvedObject") or {}
    kind, name, namespace = involved.get("kind") or "?", involved.get("name") or "?", involved.get("namespace")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


class AlertLog:
    """Appends outcomes to ``path``; never raises (a log that cannot be written must not stop dispatching)."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def write(self, outcome: Outcome) -> None:
        if outcome.outcome not in OUTCOMES:
            raise ValueError(f"unknown delivery outcome {outcome.outcome!r}")
        line = (json.dumps(outcome.to_dict(), sort_keys=True) + "\n").encode()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._rotate_if_full(len(line))
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
            except OSError as err:
                log.warning("writing the alert log %s failed: %s", self.path, err)

    def _rotate_if_full(self, adding: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + adding > self.max_bytes:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))


def read(path: Path) -> list[dict[str, Any]]:
    """Every well-formed line of the alert log at ``path`` (the current generation), oldest first."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries
