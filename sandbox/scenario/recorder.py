"""Records a live sandbox into a timeline: Flux status transitions, Kubernetes Events, git pushes, notification
deliveries (alerts) and, with monitoring, Prometheus alerts and metric samples, from the moment ``start()`` returns
until ``stop()``.

Sources are pluggable: a *source factory* takes the ``SandboxHandle`` and returns a ``Source`` (or None when the
sandbox lacks what it watches). Features that bring new things to record — image and chart pushes from the
registry — add theirs with ``register_source(factory)``; the
``Recorder`` starts every registered source. The recorder never writes ``session``, ``step``, ``narration`` or
``commit`` entries: those belong to whoever drives the session (``sandbox record``, the scenario player).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sandbox import reconciler_service
from sandbox.errors import InputError, NotRunning, NotSupported
from sandbox.git import service as git_service
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.monitoring import service as monitoring_service
from sandbox.scenario.timeline import TimelineWriter
from sandbox.scenario.watchers.alerts import AlertLogSource
from sandbox.scenario.watchers.events import KubeEventSource
from sandbox.scenario.watchers.flux import FluxStatusSource
from sandbox.scenario.watchers.metrics import PrometheusSource
from sandbox.scenario.watchers.pushes import PushLogSource

log = logging.getLogger(__name__)


class Source(Protocol):
    """Something the recorder watches. ``start`` returns once the source has its initial state (so that whatever
    happens after it returns is recorded); ``stop`` ends its threads and emits what it still holds."""

    name: str

    def start(self, writer: TimelineWriter) -> None: ...

    def stop(self) -> None: ...


SourceFactory = Callable[[SandboxHandle, KubeClient], "Source | None"]


def _flux_status(handle: SandboxHandle, kube: KubeClient) -> Source:
    return FluxStatusSource(kube)


def _kube_events(handle: SandboxHandle, kube: KubeClient) -> Source:
    return KubeEventSource(kube)


def _git_pushes(handle: SandboxHandle, kube: KubeClient) -> Source | None:
    try:
        return PushLogSource(git_service.push_log(handle.state))
    except NotSupported as err:
        log.info("not recording pushes: %s", err)
        return None


def _alerts(handle: SandboxHandle, kube: KubeClient) -> Source | None:
    try:
        return AlertLogSource(reconciler_service.alert_log(handle.state))
    except NotSupported as err:
        log.info("not recording alerts: %s", err)
        return None


def _prometheus(handle: SandboxHandle, kube: KubeClient) -> Source | None:
    try:
        client = monitoring_service.client_of(handle.state)
    except (InputError, NotRunning) as err:
        log.info("not recording Prometheus alerts and metrics: %s", err)
        return None
    return PrometheusSource(client)


_FACTORIES: list[SourceFactory] = [_flux_status, _kube_events, _git_pushes, _alerts, _prometheus]


def register_source(factory: SourceFactory) -> None:
    """Add a source to every recorder started from now on (alerts and images arrive with their features)."""
    if factory not in _FACTORIES:
        _FACTORIES.append(factory)


def source_factories() -> list[SourceFactory]:
    return list(_FACTORIES)


class Recorder:
    """Watches ``handle``'s sandbox and writes what happens to ``writer``; ``with Recorder(h, w): ...``."""

    def __init__(self, handle: SandboxHandle, writer: TimelineWriter) -> None:
        self.handle = handle
        self.writer = writer
        self.sources: list[Source] = []
        self._started = False

    def start(self) -> Recorder:
        """Start every source; returns once all have listed what exists. A failure stops those already started."""
        if self._started:
            return self
        # Its own client: watches hold connections for as long as the recording lasts.
        kube = KubeClient.from_kubeconfig(self.handle.kubeconfig, user_agent="gitops-sandbox-recorder")
        try:
            for factory in source_factories():
                source = factory(self.handle, kube)
                if source is None:
                    continue
                source.start(self.writer)
                self.sources.append(source)
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop every source (in reverse order); idempotent."""
        while self.sources:
            source = self.sources.pop()
            try:
                source.stop()
            except Exception:  # one broken source must not keep the others running
                log.exception("stopping the %s source failed", source.name)
        self._started = False

    def counts(self) -> dict[str, int]:
        """How many entries of each type the timeline holds so far."""
        return dict(Counter(event.type for event in list(self.writer.events)))

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


Progress = Callable[[dict[str, int], float], None]


def record_until(handle: SandboxHandle, path: Path, stop: threading.Event, *, title: str = "",
                 on_progress: Progress | None = None, tick: float = 0.5) -> dict[str, int]:
    """Record ``handle``'s sandbox into ``path`` until ``stop`` is set, framed by ``session`` start and end
    entries; ``on_progress(counts, elapsed seconds)`` is called every ``tick``. Returns the final counts."""
    started = time.monotonic()
    with TimelineWriter(path) as writer:
        writer.emit("session", phase="start", title=title or f"Recording of sandbox {handle.name}",
                    sandbox=handle.name)
        recorder = Recorder(handle, writer)
        try:
            with recorder:
                watched = ", ".join(source.name for source in recorder.sources)
                writer.emit("note", text=f"recording started; watching: {watched}")
                while not stop.wait(tick):
                    if on_progress is not None:
                        on_progress(recorder.counts(), time.monotonic() - started)
        finally:
            writer.emit("session", phase="end", title=title or f"Recording of sandbox {handle.name}",
                        sandbox=handle.name, duration=round(time.monotonic() - started, 3))
        return recorder.counts()
