"""The replay formatter and its pacing, on hand-written timelines."""

from __future__ import annotations

import threading

import pytest

from sandbox.errors import InputError
from sandbox.scenario.replay import ReplayLine, describe, paced, play
from sandbox.scenario.timeline import TimelineEvent
from tests.unit.scenario.samples import HOSTILE, KS, SHA2, SHA3, session, status


def by_type(kind: str) -> list[TimelineEvent]:
    return [e for e in session() if e.type == kind]


@pytest.mark.parametrize(("event", "text", "style"), [
    (status(1, KS, "True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc", "main@sha1:abc"),
     "Ready=True ReconciliationSucceeded: Applied revision: main@sha1:abc · revision main@sha1:abc", "green"),
    (status(1, KS, "False", "BuildFailed", "bad.yaml: line 3"), "Ready=False BuildFailed: bad.yaml: line 3", "red"),
    (status(1, KS, "Unknown", "Progressing", "Reconciliation in progress"),
     "Ready=Unknown Progressing: Reconciliation in progress", "yellow"),
    (status(1, KS, "False", "BuildFailed", "broken", suspended=True), "Ready=False BuildFailed: broken · suspended",
     "red"),
    (status(1, KS, "True", deleted=True), "deleted", "dim"),
], ids=["ready", "failed", "reconciling", "suspended", "deleted"])
def test_status_lines(event: TimelineEvent, text: str, style: str) -> None:
    line = describe(event)
    assert (line.text, line.style, line.subject, line.type) == (text, style, KS, "status")


def test_every_type_reads_as_a_sentence() -> None:
    lines = {e.type: describe(e) for e in session()}  # the last of each type
    assert describe(by_type("push")[0]).text == f"refs/heads/main {'1' * 7}..{SHA2[:7]} (1 commit: add the app)"
    assert lines["commit"].text == f"{SHA2[:7]} add the app (app.yaml)"
    assert lines["narration"].text.startswith("We push a good commit")
    assert lines["alert"].text == f"error via slack: {HOSTILE}" and lines["alert"].style == "bold red"
    assert lines["image"].text == "127.0.0.1:5000/app:1.2.0 sha256:abc"
    assert lines["session"].text == "session end: broken revision (sandbox default)"
    steps = [describe(e) for e in by_type("step")]
    assert steps[1].text == "step 1 [commit] add the app — passed in 1.00s" and steps[1].style == "bold green"
    assert steps[3].text == "step 2 [commit] break it — failed: expected Ready=True" and steps[3].style == "bold red"
    warning = next(describe(e) for e in by_type("event") if e.data["type"] == "Warning")
    assert warning.style == "yellow" and warning.text.endswith("(×2) [kustomize-controller]")


def test_a_first_push_and_a_multiline_message() -> None:
    push = TimelineEvent(0, "", "push", "repo/r", {"ref": "refs/heads/main", "before": "0" * 40, "after": SHA3,
                                                    "commits": [{"sha": SHA3, "message": "one\n\nbody"},
                                                                {"sha": SHA2, "message": "two"}],
                                                    "total_commits": 2})
    assert describe(push).text == f"refs/heads/main ∅..{SHA3[:7]} (2 commits: one …)"
    event = TimelineEvent(0, "", "event", "Kustomization/a/b", {"type": "Warning", "reason": "BuildFailed",
                                                                "message": "line one\nline two"})
    assert describe(event).text == "Warning BuildFailed: line one line two"


def test_pauses_are_the_original_gaps_divided_by_speed() -> None:
    events = session()
    gaps = [round(pause, 6) for pause, _ in paced(events, 2.0)]
    assert gaps[0] == 0.0
    assert gaps[1:4] == [0.05, 0.05, 0.15]  # 0.0 → 0.1 → 0.2 → 0.5, halved
    assert sum(gaps) == pytest.approx(events[-1].t / 2)
    assert all(pause == 0.0 for pause, _ in paced(events, 0))
    with pytest.raises(InputError, match="--speed"):
        list(paced(events, -1))


def test_out_of_order_lines_are_played_in_time_order() -> None:
    late = TimelineEvent(0.5, "", "push", "repo/r", {})
    early = TimelineEvent(0.2, "", "note", "", {"text": "first"})
    same_time = TimelineEvent(0.5, "", "note", "", {"text": "written after the push"})
    assert [e for _, e in paced([late, early, same_time], 0)] == [early, late, same_time]


class CountingWait(threading.Event):
    """Records the pauses asked for instead of waiting them out."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.pauses: list[float] = []
        self.stop_after = stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(float(timeout or 0))
        if self.stop_after is not None and len(self.pauses) >= self.stop_after:
            self.set()
        return self.is_set()


def test_play_shows_every_event_with_its_pause() -> None:
    shown: list[ReplayLine] = []
    waiter = CountingWait()
    assert play(session(), shown.append, speed=10, stop=waiter) == len(session())
    assert [line.t for line in shown] == [e.t for e in session()]
    assert sum(waiter.pauses) == pytest.approx(session()[-1].t / 10)


def test_play_stops_when_asked() -> None:
    shown: list[ReplayLine] = []
    assert play(session(), shown.append, speed=1, stop=CountingWait(stop_after=3)) == len(shown) < len(session())


def test_alerts_prometheus_alerts_and_metrics_read_as_sentences() -> None:
    from tests.unit.scenario.samples import monitored_session

    lines = [describe(e) for e in monitored_session()]
    texts = [(line.type, line.text, line.style) for line in lines]
    assert ("alert", f"error BuildFailed via flux-system/hook (generic) — sent: {HOSTILE}", "bold red") in texts
    assert ("alert", "error BuildFailed via flux-system/dead (generic) — retrying (attempt 1) (request failed: "
                     f"[Errno 111] Connection refused): {HOSTILE}", "yellow") in texts
    failed = next(line for line in lines if line.type == "alert" and "— failed" in line.text)
    assert "(after 4 attempts)" in failed.text and failed.style == "bold red reverse"
    dropped = lines[-2]
    assert dropped.text == "info Progressing — dropped (the notification queue is full): m"
    assert ("prometheus_alert", "Prometheus alert ReconciliationFailure firing [page]: failing", "bold red") in texts
    assert ("prometheus_alert", "Prometheus alert ReconciliationFailure resolved [page]: failing", "green") in texts
    assert ("metric", "gotk_resource_info ready=False", "dim cyan") in texts
    assert ("metric", "gotk_reconcile_duration_seconds 0.480s (mean of 2 reconciles)", "dim cyan") in texts
