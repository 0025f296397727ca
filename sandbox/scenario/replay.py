"""Plays a timeline back: one readable line per event (with a style per type and outcome), paced like the
original session divided by a speed factor."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.errors import InputError
from sandbox.scenario.timeline import TimelineEvent, in_order

# rich style names; the CLI renders them, the HTML view has its own colours.
READY_STYLES = {"True": "green", "False": "red", "Unknown": "yellow"}
TYPE_STYLES = {"session": "bold", "step": "bold cyan", "narration": "italic", "commit": "magenta",
               "push": "bold magenta", "event": "blue", "alert": "bold red", "prometheus_alert": "bold red",
               "metric": "dim cyan", "image": "cyan", "chart": "cyan", "note": "dim"}
ALERT_OUTCOME_STYLES = {"sent": "bold red", "retrying": "yellow", "failed": "bold red reverse", "dropped": "dim"}
PROMETHEUS_STATE_STYLES = {"pending": "yellow", "firing": "bold red", "resolved": "green"}


@dataclass(frozen=True)
class ReplayLine:
    t: float
    type: str
    subject: str
    text: str
    style: str


def short_sha(sha: str) -> str:
    return sha[:7] if sha and set(sha) != {"0"} else "∅"


def _get(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _status(data: dict[str, Any]) -> tuple[str, str]:
    if data.get("deleted"):
        return "deleted", "dim"
    ready = _get(data, "ready") or "Unknown"
    text = f"Ready={ready}"
    if data.get("reason"):
        text += f" {data['reason']}"
    if data.get("message"):
        text += f": {data['message']}"
    if data.get("revision"):
        text += f" · revision {data['revision']}"
    if data.get("suspended"):
        text += " · suspended"
    return text, READY_STYLES.get(ready, "yellow")


def _step(data: dict[str, Any]) -> tuple[str, str]:
    status = _get(data, "status")
    text = f"step {_get(data, 'index')} [{_get(data, 'step')}] {_get(data, 'title')} — {status}"
    if data.get("duration") is not None:
        text += f" in {float(data['duration']):.2f}s"
    if data.get("error"):
        text += f": {data['error']}"
    style = {"passed": "bold green", "failed": "bold red"}.get(status, TYPE_STYLES["step"])
    return text, style


def _push(data: dict[str, Any]) -> str:
    text = f"{_get(data, 'ref')} {short_sha(_get(data, 'before'))}..{short_sha(_get(data, 'after'))}"
    commits = [c for c in data.get("commits") or [] if isinstance(c, dict)]
    total = int(data.get("total_commits") or len(commits))
    if commits:
        first = str(commits[0].get("message", "")).splitlines()[0] if commits[0].get("message") else ""
        text += f" ({total} commit{'s' if total != 1 else ''}: {first}{' …' if total > 1 else ''})"
    return text


def _event(data: dict[str, Any]) -> tuple[str, str]:
    kind = _get(data, "type") or "Normal"
    text = f"{kind} {_get(data, 'reason')}: {_get(data, 'message')}"
    if int(data.get("count") or 1) > 1:
        text += f" (×{data['count']})"
    if data.get("controller"):
        text += f" [{data['controller']}]"
    return text, "yellow" if kind == "Warning" else TYPE_STYLES["event"]


def _alert(data: dict[str, Any]) -> tuple[str, str]:
    outcome = _get(data, "outcome")
    provider = _get(data, "provider") + (f" ({data['type']})" if data.get("type") else "")
    text = " ".join(part for part in (_get(data, "severity"), _get(data, "reason")) if part)
    if data.get("provider"):
        text += f" via {provider}"
    if outcome:
        text += f" — {outcome}"
        if data.get("attempt"):
            text += f" (attempt {data['attempt']})"
        if data.get("error") or data.get("why"):
            text += f" ({_get(data, 'error') or _get(data, 'why')})"
    text += f": {_get(data, 'message')}"
    return text, ALERT_OUTCOME_STYLES.get(outcome, TYPE_STYLES["alert"])


def _prometheus_alert(data: dict[str, Any]) -> tuple[str, str]:
    state = _get(data, "state")
    text = f"Prometheus alert {_get(data, 'alertname')} {state}"
    if data.get("severity"):
        text += f" [{data['severity']}]"
    if data.get("summary"):
        text += f": {data['summary']}"
    return text, PROMETHEUS_STATE_STYLES.get(state, TYPE_STYLES["prometheus_alert"])


def _metric(data: dict[str, Any]) -> str:
    if "ready" in data:
        return f"{_get(data, 'name')} ready={_get(data, 'ready')}" + (" suspended" if data.get("suspended") else "")
    reconciles = int(data.get("reconciles") or 0)
    try:
        seconds = f"{float(data.get('value') or 0):.3f}s"
    except (TypeError, ValueError):
        seconds = _get(data, "value")
    text = f"{_get(data, 'name')} {seconds}"
    if reconciles:
        text += f" (mean of {reconciles} reconcile{'s' if reconciles != 1 else ''})"
    return text


def describe(event: TimelineEvent) -> ReplayLine:
    """The line that shows ``event``: what happened, in words, and how to colour it."""
    data = event.data
    style = TYPE_STYLES.get(event.type, "")
    if event.type == "session":
        phase = _get(data, "phase")
        text = f"session {phase}: {_get(data, 'title')}"
        if data.get("sandbox"):
            text += f" (sandbox {data['sandbox']})"
        if data.get("scenario"):
            text += f" · scenario {data['scenario']}"
    elif event.type == "step":
        text, style = _step(data)
    elif event.type in ("narration", "note"):
        text = _get(data, "text")
    elif event.type == "commit":
        files = [str(f) for f in data.get("files") or []]
        text = f"{short_sha(_get(data, 'sha'))} {_get(data, 'message')}"
        if files:
            text += f" ({', '.join(files[:5])}{' …' if len(files) > 5 else ''})"
    elif event.type == "push":
        text = _push(data)
    elif event.type == "status":
        text, style = _status(data)
    elif event.type == "event":
        text, style = _event(data)
    elif event.type == "alert":
        text, style = _alert(data)
    elif event.type == "prometheus_alert":
        text, style = _prometheus_alert(data)
    elif event.type == "metric":
        text = _metric(data)
    elif event.type in ("image", "chart"):
        text = _get(data, "reference") + (f" {data['digest']}" if data.get("digest") else "")
    else:
        text = ", ".join(f"{k}={v}" for k, v in data.items())
    return ReplayLine(event.t, event.type, event.subject, " ".join(text.split()) if "\n" in text else text, style)


def paced(events: Iterable[TimelineEvent], speed: float) -> Iterator[tuple[float, TimelineEvent]]:
    """Each event, in time order, with the pause to make before showing it: the original gap divided by ``speed``
    (0: no pauses)."""
    if speed < 0:
        raise InputError(f"--speed {speed:g}: use a number >= 0 (0 plays without pauses)")
    previous: float | None = None
    for event in in_order(list(events)):
        gap = 0.0 if previous is None else max(0.0, event.t - previous)
        previous = event.t
        yield (gap / speed if speed > 0 else 0.0), event


def play(events: Iterable[TimelineEvent], show: Callable[[ReplayLine], None], *, speed: float = 1.0,
         stop: threading.Event | None = None) -> int:
    """Show every event with its pause before it; returns how many were shown (fewer when ``stop`` is set)."""
    waiter = stop or threading.Event()
    shown = 0
    for pause, event in paced(events, speed):
        # Pacing, not synchronisation: the pause is the point; ``stop`` cuts it short.
        if pause > 0 and waiter.wait(pause):
            break
        if waiter.is_set():
            break
        show(describe(event))
        shown += 1
    return shown
