"""Narrated playback: each step as it starts and ends, what the reconciler did in between (conditions and events
as they change), timings; optionally one step at a time, and recorded as a timeline (``--record``)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding

from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.handle import SandboxHandle
from sandbox.monitoring import service as monitoring_service
from sandbox.reconciler.lockdown import Lockdown
from sandbox.scenario import features
from sandbox.scenario.context import RunContext
from sandbox.scenario.model import Scenario, Step
from sandbox.scenario.observer import Fanout, Observer
from sandbox.scenario.recorder import Recorder
from sandbox.scenario.runner import RunResult, run
from sandbox.scenario.timeline import TimelineWriter
from sandbox.scenario.watch import ReconcilerWatch
from sandbox.state import StateDir

Pause = Callable[[str], None]
_READY_STYLE = {"True": "green", "False": "red", "Unknown": "yellow"}


_LONG_SHA = re.compile(r"\b(sha1:[0-9a-f]{12})[0-9a-f]{28}\b")


def _local(text: str, ctx: RunContext) -> str:
    """Compact for reading: references in the run's namespaces without them (the header names them), as
    ``ConfigMap/greeting``, and commit shas in revisions cut to 12 digits."""
    text = text.replace(f"/{ctx.flux_namespace}/", "/").replace(f"/{ctx.namespace}/", "/")
    return _LONG_SHA.sub(r"\1", text)


def _short(subject: str, ctx: RunContext) -> str:
    """``Kustomization/apps`` for the run's own namespace, the full reference otherwise."""
    kind, _, rest = subject.partition("/")
    namespace, _, name = rest.partition("/")
    return f"{kind}/{name}" if namespace in (ctx.flux_namespace, ctx.namespace) and name else subject


class Narrator(Observer):
    """Writes the play to a rich Console (stderr in the CLI): steps, narration, reconciler activity, timings."""

    def __init__(self, console: Console, *, pause: Pause | None = None) -> None:
        self.console = console
        self.pause = pause
        self.started = time.monotonic()
        self.total = 0

    def _clock(self) -> str:
        return f"[dim]{time.monotonic() - self.started:7.2f}s[/dim]"

    def scenario_started(self, ctx: RunContext) -> None:
        scenario = ctx.scenario
        self.started = time.monotonic()
        self.total = len(scenario.steps)
        self.console.rule(f"[bold]{escape(scenario.title)}[/bold]  [dim]({escape(scenario.name)})[/dim]")
        self.console.print(Padding(escape(scenario.summary), (0, 2), expand=False))
        self.console.print(f"  [dim]sandbox {escape(ctx.handle.name)} · repository {escape(ctx.base_name)} · "
                           f"namespaces {escape(ctx.namespace)} (workloads) and {escape(ctx.flux_namespace)} "
                           "(Flux objects)[/dim]")

    def repository_ready(self, ctx: RunContext) -> None:
        kustomizations = ", ".join(k.name for k in ctx.scenario.repo.kustomizations) or "none yet"
        self.console.print(f"{self._clock()} [bold]setup[/bold] repository pushed ({ctx.head[:12]}), followed by "
                           f"GitRepository/{escape(ctx.base_name)}; Kustomizations: {escape(kustomizations)}")

    def step_started(self, ctx: RunContext, step: Step) -> None:
        if self.pause is not None and step.index > 1:
            self.pause(f"press Enter for step {step.index}/{self.total}" + (f": {step.title}" if step.title else ""))
        title = f" · {escape(step.title)}" if step.title else ""
        self.console.print(f"{self._clock()} [bold cyan][{step.index}/{self.total}] {step.type}[/bold cyan]{title}")

    def narration(self, ctx: RunContext, step: Step, text: str) -> None:
        self.console.print(Padding(f"[italic]{escape(text)}[/italic]", (0, 4, 0, 11), expand=False))

    def committed(self, ctx: RunContext, sha: str, message: str, files: list[str]) -> None:
        self.console.print(f"{self._clock()}   [magenta]git push[/magenta] {sha[:12]} {escape(message)!r} "
                           f"[dim]({escape(', '.join(files))})[/dim]")

    def artifact_pushed(self, ctx: RunContext, kind: str, reference: str, digest: str) -> None:
        self.console.print(f"{self._clock()}   [magenta]{kind} push[/magenta] {escape(reference)} "
                           f"[dim]{escape(digest[:19])}…[/dim]")

    def status(self, ctx: RunContext, subject: str, data: dict[str, Any]) -> None:
        ready = str(data.get("ready"))
        style = _READY_STYLE.get(ready, "white")
        suspended = " [yellow]suspended[/yellow]" if data.get("suspended") else ""
        self.console.print(f"{self._clock()}   [{style}]● {escape(_short(subject, ctx))} Ready={ready}[/{style}] "
                           f"{escape(str(data.get('reason') or ''))}{suspended}: "
                           f"[dim]{escape(_local(str(data.get('message') or ''), ctx))}[/dim]")

    def event(self, ctx: RunContext, subject: str, data: dict[str, Any]) -> None:
        style = "red" if data.get("type") == "Warning" else "blue"
        count = f" (x{data['count']})" if int(data.get("count") or 1) > 1 else ""
        message = _local(str(data.get("message") or "").replace("\n", "; "), ctx)
        self.console.print(f"{self._clock()}   [{style}]⚑ {escape(str(data.get('reason')))}[/{style}] "
                           f"{escape(_short(subject, ctx))}: [dim]{escape(message)}{count}[/dim]")

    def step_finished(self, ctx: RunContext, step: Step, seconds: float, detail: str,
                      error: BaseException | None) -> None:
        if error is not None:
            self.console.print(f"{self._clock()} [red]✗ step {step.index} failed after {seconds:.2f}s[/red]")
        elif step.type != "narrate":
            lines = _local(detail, ctx).splitlines() or [""]
            self.console.print(f"{self._clock()} [green]✔[/green] {escape(lines[0])} [dim]({seconds:.2f}s)[/dim]")
            for line in lines[1:]:
                self.console.print(f"{' ' * 10}[green]✔[/green] {escape(line)}")

    def note(self, ctx: RunContext, text: str) -> None:
        self.console.print(f"{self._clock()} [yellow]![/yellow] {escape(text)}")

    def scenario_finished(self, ctx: RunContext, result: RunResult) -> None:
        if result.passed:
            self.console.print(f"[green]✔ scenario {escape(result.scenario)} passed[/green]: {len(result.steps)} "
                               f"steps in {result.seconds:.2f}s (setup {result.setup_seconds:.2f}s, cleanup "
                               f"{result.cleanup_seconds:.2f}s)")
        if result.kept:
            self.console.print(f"  kept for you to explore: namespaces {escape(result.kept['namespace'])} and "
                               f"{escape(result.kept['flux_namespace'])}, repository {escape(result.kept['repo'])} "
                               f"(`sandbox get all -n {escape(result.kept['flux_namespace'])}`)")


class TimelineObserver(Observer):
    """Writes the run's own events (session, steps, narration, commits, artifacts, notes) to a timeline; the
    recorder beside it writes status, events and pushes, and is stopped before the session's last entry."""

    def __init__(self, writer: TimelineWriter, recorder: Recorder) -> None:
        self.writer = writer
        self.recorder = recorder

    def scenario_started(self, ctx: RunContext) -> None:
        self.writer.emit("session", phase="start", title=ctx.scenario.title, sandbox=ctx.handle.name,
                         scenario=ctx.scenario.name)

    def step_started(self, ctx: RunContext, step: Step) -> None:
        self.writer.emit("step", f"step/{step.index}", index=step.index, step=step.type, title=step.title,
                         status="started")

    def step_finished(self, ctx: RunContext, step: Step, seconds: float, detail: str,
                      error: BaseException | None) -> None:
        data: dict[str, Any] = {"index": step.index, "step": step.type, "title": step.title,
                                "status": "failed" if error else "passed", "duration": round(seconds, 3)}
        if error is not None:
            data["error"] = ctx.redact(str(getattr(error, "reason", error)))
        self.writer.emit("step", f"step/{step.index}", **data)

    def narration(self, ctx: RunContext, step: Step, text: str) -> None:
        self.writer.emit("narration", f"step/{step.index}", text=text)

    def committed(self, ctx: RunContext, sha: str, message: str, files: list[str]) -> None:
        self.writer.emit("commit", f"repo/{ctx.base_name}", repo=ctx.base_name, sha=sha, message=message,
                         files=files)

    def artifact_pushed(self, ctx: RunContext, kind: str, reference: str, digest: str) -> None:
        self.writer.emit(kind, reference, reference=reference, digest=digest)

    def note(self, ctx: RunContext, text: str) -> None:
        self.writer.emit("note", text=text)

    def scenario_finished(self, ctx: RunContext, result: RunResult) -> None:
        self.recorder.stop()  # nothing may follow the end of the session
        self.writer.emit("session", phase="end", title=ctx.scenario.title, sandbox=ctx.handle.name,
                         scenario=ctx.scenario.name, passed=result.passed, seconds=round(result.seconds, 3))


class WatchObserver(Observer):
    """Watches the run's Flux namespace from setup to the end, handing each change to the narrator."""

    def __init__(self, narrator: Narrator) -> None:
        self.narrator = narrator
        self.watch: ReconcilerWatch | None = None

    def scenario_started(self, ctx: RunContext) -> None:
        def on_status(subject: str, data: dict[str, Any]) -> None:
            self.narrator.status(ctx, subject, data)

        def on_event(subject: str, data: dict[str, Any]) -> None:
            self.narrator.event(ctx, subject, data)

        self.watch = ReconcilerWatch(ctx.kube, ctx.flux_namespace, on_status=on_status, on_event=on_event)
        self.watch.start()

    def scenario_finished(self, ctx: RunContext, result: RunResult) -> None:
        if self.watch is not None:
            self.watch.stop()
            self.watch = None


def play(scenario: Scenario, handle: SandboxHandle, *, console: Console, pause: Pause | None = None,
         record: Path | None = None, keep: bool = False) -> RunResult:
    """Run ``scenario`` with narration on ``console``; ``pause`` is called before each step after the first
    (``--step``); ``record`` writes the timeline there. Raises ScenarioFailed / ScenarioSkipped like ``run``."""
    narrator = Narrator(console, pause=pause)
    writer = TimelineWriter(record) if record is not None else None
    # The recorder writes status, events and pushes of the whole sandbox; the player adds steps, narration, commits.
    recorder = Recorder(handle, writer) if writer is not None else None
    if recorder is not None:
        recorder.start()
    # The watch comes first: it starts before the narrator's header (the namespace is still empty then) and stops
    # before its summary, so nothing trails the last line.
    observers: list[Observer] = [WatchObserver(narrator), narrator]
    if writer is not None and recorder is not None:
        observers.append(TimelineObserver(writer, recorder))
    try:
        return run(scenario, handle, observer=Fanout(observers), keep=keep)
    finally:
        if recorder is not None:
            recorder.stop()
        if writer is not None:
            writer.close()


@contextmanager
def sandbox_for(name: str, *, keep: bool = False, starting: Callable[[str], None] | None = None,
                reconciler: str = "sandbox", needs: tuple[str, ...] = ()) -> Iterator[SandboxHandle]:
    """The running sandbox ``name``, or a fresh one started for the play and stopped afterwards (unless ``keep``):
    with ``reconciler``; with Prometheus and Alertmanager when ``needs`` has monitoring and they are installed; with
    Flux's lockdown flags when it has tenancy-lockdown."""
    if lifecycle.is_up(StateDir(name)):
        yield SandboxHandle.attach(name)
        return
    if starting is not None:
        starting(name)
    with_monitoring = "monitoring" in needs and not monitoring_service.missing()
    clusters = features.clusters_needed(needs)  # `sandbox up --clusters mgmt,...` for a fleet scenario
    locked = Lockdown.full() if "tenancy-lockdown" in needs else Lockdown()
    handle = SandboxHandle.start(UpOptions(name=name, reconciler=reconciler,
                                           monitoring=MonitoringSettings() if with_monitoring else None,
                                           clusters=("mgmt", *clusters) if clusters else (),
                                           default_service_account=locked.default_service_account,
                                           no_cross_namespace_refs=locked.no_cross_namespace_refs,
                                           no_remote_bases=locked.no_remote_bases))
    try:
        yield handle
    finally:
        if not keep:
            handle.stop()
