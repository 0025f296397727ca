"""Record and replay: the recorder's cost (CPU while idle, Events per second end to end and in-process) on a live
sandbox, and replay / HTML render times of a 1000-entry timeline."""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from click.testing import CliRunner

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.cli.main import cli
from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
from sandbox.reconciler.notification.alertlog import AlertLog, Outcome
from sandbox.scenario import timeline_html
from sandbox.scenario.recorder import Recorder
from sandbox.scenario.replay import play
from sandbox.scenario.timeline import TimelineEvent, TimelineWriter
from sandbox.scenario.watchers.alerts import AlertLogSource
from sandbox.scenario.watchers.events import EventCounts, event_data, involved_subject
from sandbox.waiting import wait_until

ENTRIES = int(os.environ.get("BENCH_TIMELINE_ENTRIES", "1000"))
LIVE_EVENTS = int(os.environ.get("BENCH_RECORDER_EVENTS", "1000"))
IDLE_SECONDS = float(os.environ.get("BENCH_RECORDER_IDLE_SECONDS", "20"))
RUNS = 5


def synthetic(entries: int) -> list[TimelineEvent]:
    """A busy session: 20 objects, steps, pushes, status flips, Normal and Warning Events, alerts."""
    events: list[TimelineEvent] = []
    subjects = ([f"Kustomization/flux-system/app-{i}" for i in range(12)]
                + [f"GitRepository/flux-system/repo-{i}" for i in range(4)]
                + [f"Deployment/apps/web-{i}" for i in range(4)])
    for index in range(entries):
        t = index * 0.25
        subject = subjects[index % len(subjects)]
        kind = index % 10
        if kind == 0:
            events.append(TimelineEvent(t, "", "step", f"step/{index // 20}", {
                "index": index // 20, "step": "commit", "title": f"step {index // 20}",
                "status": "started" if (index // 10) % 2 == 0 else "passed"}))
        elif kind == 1:
            events.append(TimelineEvent(t, "", "push", "repo/fleet", {
                "repo": "fleet", "ref": "refs/heads/main", "before": "a" * 40, "after": "b" * 40,
                "commits": [{"sha": "b" * 40, "message": f"change {index}"}], "total_commits": 1}))
        elif kind < 6 and not subject.startswith("Deployment"):
            ready = ("True", "Unknown", "False", "True")[index % 4]
            events.append(TimelineEvent(t, "", "status", subject, {
                "ready": ready, "reason": "Progressing" if ready == "Unknown" else "ReconciliationSucceeded",
                "message": f"Applied revision: main@sha1:{index:040d}", "revision": f"main@sha1:{index:040d}",
                "suspended": False}))
        elif kind == 9:
            events.append(TimelineEvent(t, "", "alert", subject, {"provider": "slack", "severity": "error",
                                                                  "message": f"failed {index}"}))
        else:
            events.append(TimelineEvent(t, "", "event", subject, {
                "type": "Warning" if index % 7 == 0 else "Normal", "reason": "Progressing",
                "message": f"ConfigMap/apps/cm-{index} configured", "controller": "kustomize-controller",
                "count": 1}))
    return events


def offline_figures(work: Path) -> dict[str, object]:
    events = synthetic(ENTRIES)
    path = work / "synthetic.jsonl"
    path.write_text("".join(e.to_json() + "\n" for e in events))

    render_seconds, page_bytes = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        page = timeline_html.render(events)
        render_seconds.append(time.perf_counter() - started)
        page_bytes = len(page.encode())

    format_seconds = []
    for _ in range(RUNS):
        lines: list[object] = []
        started = time.perf_counter()
        play(events, lines.append, speed=0)
        format_seconds.append(time.perf_counter() - started)

    cli_seconds = []
    runner = CliRunner()
    for _ in range(RUNS):
        started = time.perf_counter()
        result = runner.invoke(cli, ["replay", str(path), "--no-wait"], catch_exceptions=False)
        cli_seconds.append(time.perf_counter() - started)
        assert result.exit_code == 0 and len(result.stdout.splitlines()) == len(events)

    html_cli_seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = runner.invoke(cli, ["replay", str(path), "--html", str(work / "t.html")], catch_exceptions=False)
        html_cli_seconds.append(time.perf_counter() - started)
        assert result.exit_code == 0

    # The recorder's own work per Kubernetes Event (dedupe, shape, write a line), without the API in the way.
    news, writer = EventCounts(), TimelineWriter(work / "processing.jsonl")
    sample = [{"metadata": {"uid": f"u{i}"}, "count": 1, "involvedObject": {"kind": "Pod", "namespace": "a",
                                                                         "name": f"p{i}"},
               "type": "Normal", "reason": "Scheduled", "message": "assigned", "source": {"component": "s"}}
              for i in range(50_000)]
    started = time.perf_counter()
    for event in sample:
        if news.observe("ADDED", event):
            writer.emit("event", involved_subject(event), **event_data(event))
    processing = time.perf_counter() - started
    writer.close()
    alert_log = alert_log_figures(work)
    return {
        **alert_log,
        "entries": len(events),
        "html_render_seconds": summary(render_seconds),
        "html_bytes": page_bytes,
        "replay_format_seconds": summary(format_seconds),
        "replay_cli_no_wait_seconds": summary(cli_seconds),
        "replay_cli_html_seconds": summary(html_cli_seconds),
        "recorder_processing_events_per_second": round(len(sample) / processing),
    }


def alert_log_figures(work: Path, lines: int = 5000) -> dict[str, object]:
    """The dispatcher's alert-log writes and the recorder's tail of them (lines per second)."""
    path = work / "alerts.jsonl"
    log, source, writer = AlertLog(path), AlertLogSource(path), TimelineWriter(None)
    source._writer = writer  # polled by hand here
    started = time.perf_counter()
    for index in range(lines):
        log.write(Outcome("sent", f"Kustomization/apps/app-{index % 50}", "error", "BuildFailed", "x" * 200,
                          "apps/hook", "generic", ("apps/on-call",)))
    written = time.perf_counter() - started
    started = time.perf_counter()
    assert source.poll() == lines
    tailed = time.perf_counter() - started
    return {"alert_log_writes_per_second": round(lines / written),
            "alert_log_tail_entries_per_second": round(lines / tailed)}


def cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def live_figures(work: Path) -> dict[str, object]:
    name = "bench-timeline"
    lifecycle.up(UpOptions(name=name))
    try:
        handle = SandboxHandle.attach(name)
        writer = TimelineWriter(work / "live.jsonl")
        started = time.perf_counter()
        recorder = Recorder(handle, writer).start()
        start_seconds = time.perf_counter() - started
        try:
            before = cpu_seconds()
            threading.Event().wait(IDLE_SECONDS)  # the point is to do nothing: measure the idle cost
            idle_cpu = (cpu_seconds() - before) / IDLE_SECONDS

            kube = handle.kube
            tag = secrets.token_hex(3)

            def create(index: int) -> None:
                kube.create({"apiVersion": "v1", "kind": "Event",
                             "metadata": {"name": f"bench-{tag}-{index}", "namespace": "default"},
                             "involvedObject": {"kind": "ConfigMap", "namespace": "default", "name": f"cm-{index}"},
                             "reason": "Bench", "message": f"event {index}", "type": "Normal", "count": 1,
                             "source": {"component": "bench"}})

            def recorded() -> int:
                return sum(1 for e in list(writer.events) if e.type == "event" and e.data.get("reason") == "Bench")

            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(create, range(LIVE_EVENTS)))
            created = time.perf_counter() - started
            wait_until(lambda: recorded() >= LIVE_EVENTS, timeout=60, interval=0.01, max_interval=0.02,
                       what=f"{LIVE_EVENTS} Events recorded", describe=lambda: f"{recorded()} recorded")
            all_recorded = time.perf_counter() - started
            got = recorded()
        finally:
            recorder.stop()
            writer.close()
        return {
            "recorder_start_seconds": round(start_seconds, 3),
            "recorder_idle_cpu_fraction_of_one_core": round(idle_cpu, 4),
            "live_events_created": LIVE_EVENTS,
            "live_events_recorded": got,
            "live_create_seconds_8_threads": round(created, 3),
            "live_all_recorded_seconds": round(all_recorded, 3),
            "live_recorded_events_per_second": round(got / all_recorded),
            "live_lag_after_last_create_seconds": round(all_recorded - created, 3),
        }
    finally:
        lifecycle.down(name)


def main() -> None:
    private_state_home()
    with tempfile.TemporaryDirectory(prefix="bench-timeline-") as scratch:
        work = Path(scratch)
        figures = offline_figures(work)
        figures.update(live_figures(work))
    write("timeline", figures)


if __name__ == "__main__":
    main()
