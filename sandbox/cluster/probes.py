"""The kubelet's probe schedule, simulated: when a container counts as started and ready, and when a failing
liveness or startup probe gets it killed and restarted with the kubelet's crash-loop back-off.

Nothing is executed: each probe passes unless the pod's annotations ask it to fail (``probe.gitops-sandbox.io/
readiness: fail``), and a container runs until killed unless ``probe.gitops-sandbox.io/crash: "true"`` makes its
process exit (code 1) as soon as it starts. Everything here is a pure function of the probe specs, those outcomes,
the container's previous run and the time; the node agent keeps the returned :class:`ContainerRun` between syncs
and requeues the pod for its ``next_change``, so no thread waits on any pod.

A probe ticks at ``startedAt + initialDelaySeconds + k * periodSeconds`` (k = 0, 1, …; a kubelet adds up to one
period of jitter, the simulation does not). Liveness and readiness ticks before the startup probe succeeded do not
count. ``successThreshold`` consecutive passes make the result a success, ``failureThreshold`` consecutive
failures a failure — exactly the kubelet's rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

ANNOTATION_PREFIX = "probe.gitops-sandbox.io/"
STARTUP, READINESS, LIVENESS = "startup", "readiness", "liveness"
PROBE_KINDS = (STARTUP, READINESS, LIVENESS)
FAIL = "fail"
CRASH = "crash"  # the annotation ``probe.gitops-sandbox.io/crash: "true"``: the container's process exits at once

BACK_OFF_INITIAL = 10  # seconds, as the kubelet's crash-loop back-off
BACK_OFF_MAX = 300
KILLED_EXIT_CODE = 137  # the kubelet kills an unhealthy container; its process ends by SIGKILL at the latest
CRASH_EXIT_CODE = 1  # what a crashing application's process exits with
MAX_STEPS = 1000  # restarts replayed in one call before the rest is left to the next sync


@dataclass(frozen=True)
class Probe:
    """A probe's timing, with Kubernetes' defaults."""

    initial_delay: int = 0
    period: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, container: Mapping[str, Any], kind: str) -> Probe | None:
        """The ``<kind>Probe`` of a container spec, or None when it has none."""
        spec = container.get(f"{kind}Probe")
        if not spec:
            return None
        return cls(initial_delay=max(0, int(spec.get("initialDelaySeconds") or 0)),
                   period=max(1, int(spec.get("periodSeconds") or 10)),
                   success_threshold=max(1, int(spec.get("successThreshold") or 1)),
                   failure_threshold=max(1, int(spec.get("failureThreshold") or 3)))

    def tick(self, anchor: float, index: int) -> float:
        """When tick ``index`` of a container started at ``anchor`` runs."""
        return anchor + self.initial_delay + index * self.period

    def first_tick_from(self, anchor: float, moment: float) -> int:
        """The first tick at or after ``moment``."""
        return max(0, math.ceil((moment - anchor - self.initial_delay) / self.period))

    def last_tick_until(self, anchor: float, moment: float) -> int:
        """The last tick at or before ``moment`` (negative when none has run yet)."""
        return math.floor((moment - anchor - self.initial_delay) / self.period)


@dataclass(frozen=True)
class ProbeState:
    """What a kubelet's probe worker remembers: the consecutive run and the thresholded result.

    ``result`` is None until a threshold was first reached; ``since`` is the tick that set it; ``passing`` the
    outcome the probe had when it was last advanced (ticks up to then ran with it)."""

    next_tick: int = 0
    successes: int = 0
    failures: int = 0
    result: bool | None = None
    since: float | None = None
    passing: bool | None = None


def advance(probe: Probe, state: ProbeState, *, anchor: float, gate: float, until: float,
            passing: bool) -> ProbeState:
    """Run the ticks due by ``until`` (none before ``gate``). They ran with the outcome in force when the state was
    last advanced: an annotation changed now applies from the next tick on."""
    outcome = passing if state.passing is None else state.passing
    first = max(state.next_tick, probe.first_tick_from(anchor, gate))
    last = probe.last_tick_until(anchor, until)
    if last < first:
        return replace(state, next_tick=first, passing=passing)
    count = last - first + 1
    if outcome:
        run_before, threshold = state.successes, probe.success_threshold
        successes, failures = state.successes + count, 0
    else:
        run_before, threshold = state.failures, probe.failure_threshold
        successes, failures = 0, state.failures + count
    result, since = state.result, state.since
    if result is not outcome and run_before + count >= threshold:
        result, since = outcome, probe.tick(anchor, first + max(0, threshold - run_before - 1))
    return ProbeState(last + 1, successes, failures, result, since, passing)


def next_result_change(probe: Probe, state: ProbeState, *, anchor: float, gate: float) -> float | None:
    """When the result turns to what the current outcome asks, if nothing changes meanwhile (None: it already is)."""
    target = bool(state.passing)
    if state.result is target:
        return None
    run, threshold = ((state.successes, probe.success_threshold) if target
                      else (state.failures, probe.failure_threshold))
    first = max(state.next_tick, probe.first_tick_from(anchor, gate))
    return probe.tick(anchor, first + max(0, threshold - run - 1))


@dataclass(frozen=True)
class ContainerProbes:
    startup: Probe | None = None
    readiness: Probe | None = None
    liveness: Probe | None = None

    @classmethod
    def of(cls, container: Mapping[str, Any]) -> ContainerProbes:
        return cls(Probe.of(container, STARTUP), Probe.of(container, READINESS), Probe.of(container, LIVENESS))


@dataclass(frozen=True)
class Outcomes:
    """Whether each kind of probe passes (the pod's ``probe.gitops-sandbox.io/<kind>: fail`` annotations say no),
    and whether the containers crash (``probe.gitops-sandbox.io/crash: "true"``)."""

    startup: bool = True
    readiness: bool = True
    liveness: bool = True
    crash: bool = False

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str]) -> Outcomes:
        def value(key: str) -> str:
            return str(annotations.get(ANNOTATION_PREFIX + key, "")).strip().lower()

        return cls(value(STARTUP) != FAIL, value(READINESS) != FAIL, value(LIVENESS) != FAIL,
                   crash=value(CRASH) == "true")


@dataclass(frozen=True)
class Termination:
    """A container instance that ended: killed because a probe failed, or crashed."""

    started_at: float
    finished_at: float
    exit_code: int = KILLED_EXIT_CODE
    reason: str = "Error"


@dataclass(frozen=True)
class ProbeEvent:
    """Something the kubelet would record an Event for: ``Unhealthy`` (a probe's result turned to failure),
    ``Killing`` (a failing liveness or startup probe), ``BackOff`` (waiting to restart; ``probe`` is ``crash`` when
    the container's process exited by itself)."""

    at: float
    reason: str
    probe: str


@dataclass(frozen=True)
class ContainerRun:
    """One container's life as the kubelet reports it, and its probes' memory.

    ``running_since`` is None while the container waits in CrashLoopBackOff until ``restart_at``;
    ``restart_count`` counts the instances started after the first; ``next_change`` is when the status changes next
    if nothing else does (None: not before the pod changes)."""

    restart_count: int = 0
    running_since: float | None = None
    restart_at: float | None = None
    last_termination: Termination | None = None
    startup: ProbeState = ProbeState()
    readiness: ProbeState = ProbeState()
    liveness: ProbeState = ProbeState()
    started: bool = False
    ready: bool = False
    next_change: float | None = None
    events: tuple[ProbeEvent, ...] = ()

    @property
    def waiting(self) -> bool:
        return self.running_since is None


def back_off(restart_count: int) -> int:
    """Seconds the kubelet waits before starting instance ``restart_count`` (1 = the first restart): the first
    restart is immediate, then 10 s, doubling up to 5 min."""
    if restart_count <= 1:
        return 0
    return int(min(BACK_OFF_INITIAL * 2 ** (restart_count - 2), BACK_OFF_MAX))


def started_run(started_at: float, restart_count: int = 0, last: Termination | None = None) -> ContainerRun:
    return ContainerRun(restart_count=restart_count, running_since=started_at, last_termination=last)


def waiting_run(restart_count: int, last: Termination) -> ContainerRun:
    """A killed container waiting in back-off before instance ``restart_count + 1``."""
    return ContainerRun(restart_count=restart_count, restart_at=last.finished_at + back_off(restart_count + 1),
                        last_termination=last)


def _kill(run: ContainerRun, at: float, probe: str) -> ContainerRun:
    assert run.running_since is not None
    last = Termination(run.running_since, at)
    events = (*run.events, ProbeEvent(at, "Unhealthy", probe), ProbeEvent(at, "Killing", probe))
    if back_off(run.restart_count + 1) == 0:
        return replace(started_run(at, run.restart_count + 1, last), events=events)
    return replace(waiting_run(run.restart_count, last), events=(*events, ProbeEvent(at, "BackOff", probe)))


def _crash(run: ContainerRun, at: float) -> ContainerRun:
    """The container's process exited with an error at ``at``: restarted, or waiting in back-off."""
    assert run.running_since is not None
    last = Termination(run.running_since, at, exit_code=CRASH_EXIT_CODE)
    if back_off(run.restart_count + 1) == 0:
        return replace(started_run(at, run.restart_count + 1, last), events=run.events)
    return replace(waiting_run(run.restart_count, last), events=(*run.events, ProbeEvent(at, "BackOff", CRASH)))


def _probe(probes: ContainerProbes, outcomes: Outcomes, run: ContainerRun,
           now: float) -> tuple[tuple[float, str] | None, ContainerRun]:
    """Advance a running container's probes to ``now``: (when and which probe had it killed, or None; the run)."""
    anchor = run.running_since
    assert anchor is not None
    startup, readiness, liveness = run.startup, run.readiness, run.liveness
    started_since: float | None = anchor
    if probes.startup is not None:
        if startup.result is not True:
            startup = advance(probes.startup, startup, anchor=anchor, gate=anchor, until=now,
                              passing=outcomes.startup)
            if startup.result is False:
                assert startup.since is not None
                return (startup.since, STARTUP), run
        started_since = startup.since if startup.result is True else None
    changes: list[float | None] = []
    if started_since is None:
        assert probes.startup is not None
        changes.append(next_result_change(probes.startup, startup, anchor=anchor, gate=anchor))
    else:
        if probes.liveness is not None:
            liveness = advance(probes.liveness, liveness, anchor=anchor, gate=started_since, until=now,
                               passing=outcomes.liveness)
            if liveness.result is False:
                assert liveness.since is not None
                return (liveness.since, LIVENESS), run
            if not outcomes.liveness:
                changes.append(next_result_change(probes.liveness, liveness, anchor=anchor, gate=started_since))
        if probes.readiness is not None:
            was = readiness.result
            readiness = advance(probes.readiness, readiness, anchor=anchor, gate=started_since, until=now,
                                passing=outcomes.readiness)
            if readiness.result is False and was is not False:
                assert readiness.since is not None
                run = replace(run, events=(*run.events, ProbeEvent(readiness.since, "Unhealthy", READINESS)))
            if (readiness.result is True) != outcomes.readiness:
                changes.append(next_result_change(probes.readiness, readiness, anchor=anchor, gate=started_since))
    ready = started_since is not None and (probes.readiness is None or readiness.result is True)
    pending = [moment for moment in changes if moment is not None]
    return None, replace(run, startup=startup, readiness=readiness, liveness=liveness,
                         started=started_since is not None, ready=ready,
                         next_change=min(pending) if pending else None)


def simulate(probes: ContainerProbes, outcomes: Outcomes, run: ContainerRun, now: float) -> ContainerRun:
    """The container at ``now``, from its previous run: probes advanced, kills, crashes and restarts replayed in
    order. A crash asked for while an instance runs ends it now; the instances started after it end as they
    start."""
    run = replace(run, events=())
    restarted = False
    for _ in range(MAX_STEPS):
        if run.running_since is None:
            assert run.restart_at is not None
            if run.restart_at > now:
                return replace(run, started=False, ready=False, next_change=run.restart_at)
            run = replace(started_run(run.restart_at, run.restart_count + 1, run.last_termination),
                          events=run.events)
            restarted = True
            continue
        if outcomes.crash:
            run = _crash(run, run.running_since if restarted else max(run.running_since, now))
            restarted = True
            continue
        killed, run = _probe(probes, outcomes, run, now)
        if killed is None:
            return run
        run = _kill(run, *killed)
    return replace(run, started=False, ready=False, next_change=now)
