"""The simulated probe schedule: probe specs and time in, started / ready / restarts out."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.cluster import probes
from sandbox.cluster.probes import ContainerProbes, ContainerRun, Outcomes, Probe

PASSING = Outcomes()


def container(**probe_specs: dict[str, int]) -> dict[str, Any]:
    return {"name": "app", "image": "nginx", **{f"{kind}Probe": {"httpGet": {"path": "/"}, **spec}
                                                  for kind, spec in probe_specs.items()}}


def replay(spec: dict[str, Any], now: float, outcomes: Outcomes = PASSING) -> ContainerRun:
    """The container started at 0, seen for the first time at ``now`` (as after an agent restart)."""
    return probes.simulate(ContainerProbes.of(spec), outcomes, probes.started_run(0.0), now)


def stepwise(spec: dict[str, Any], now: float, outcomes: Outcomes = PASSING, step: float = 0.5) -> ContainerRun:
    """The same container synced every ``step`` seconds, carrying its run from one sync to the next."""
    run = probes.started_run(0.0)
    moment = 0.0
    while moment <= now:
        run = probes.simulate(ContainerProbes.of(spec), outcomes, run, moment)
        moment += step
    return probes.simulate(ContainerProbes.of(spec), outcomes, run, now)


def test_defaults_are_kubernetes_defaults() -> None:
    assert Probe.of(container(readiness={}), "readiness") == Probe(initial_delay=0, period=10,
                                                                   success_threshold=1, failure_threshold=3)
    assert Probe.of(container(), "readiness") is None
    spec = container(liveness={"initialDelaySeconds": 5, "periodSeconds": 2, "failureThreshold": 1})
    assert Probe.of(spec, "liveness") == Probe(5, 2, 1, 1)


NO_PROBE = container()
DELAY_3 = container(readiness={"initialDelaySeconds": 3})
DELAY_3_THREE_PASSES = container(readiness={"initialDelaySeconds": 3, "periodSeconds": 2, "successThreshold": 3})
SLOW_START = container(startup={"initialDelaySeconds": 5, "periodSeconds": 1},
                       readiness={"periodSeconds": 10})
STARTUP_ONLY = container(startup={"initialDelaySeconds": 4, "periodSeconds": 1})
DEFAULT_READINESS = container(readiness={})


@pytest.mark.parametrize(("spec", "now", "started", "ready", "next_change"), [
    (NO_PROBE, 0, True, True, None),
    (DEFAULT_READINESS, 0, True, True, None),
    (DELAY_3, 0, True, False, 3),
    (DELAY_3, 2.99, True, False, 3),
    (DELAY_3, 3, True, True, None),
    (DELAY_3, 500, True, True, None),
    (DELAY_3_THREE_PASSES, 6.9, True, False, 7),
    (DELAY_3_THREE_PASSES, 7, True, True, None),
    (STARTUP_ONLY, 3.9, False, False, 4),
    (STARTUP_ONLY, 4, True, True, None),
    # readiness only counts from the first of its ticks (0, 10, 20 …) after startup succeeded at 5
    (SLOW_START, 4, False, False, 5),
    (SLOW_START, 5, True, False, 10),
    (SLOW_START, 10, True, True, None),
], ids=["no-probe", "default-readiness", "delay-3-at-0", "delay-3-at-2.99", "delay-3-at-3", "delay-3-later",
        "three-passes-at-6.9", "three-passes-at-7", "startup-at-3.9", "startup-at-4",
        "startup-then-readiness-at-4", "startup-then-readiness-at-5", "startup-then-readiness-at-10"])
def test_when_a_passing_container_is_started_and_ready(spec: dict[str, Any], now: float, started: bool, ready: bool,
                                                       next_change: float | None) -> None:
    for run in (replay(spec, now), stepwise(spec, now)):
        assert (run.started, run.ready, run.next_change, run.restart_count) == (started, ready, next_change, 0)


def test_failing_readiness_never_becomes_ready_and_needs_no_timer() -> None:
    run = replay(DELAY_3, 1000, Outcomes(readiness=False))
    assert (run.started, run.ready, run.next_change, run.restart_count) == (True, False, None, 0)


def test_failing_liveness_of_a_container_without_liveness_probe_changes_nothing() -> None:
    run = replay(DELAY_3, 1000, Outcomes(liveness=False))
    assert (run.ready, run.restart_count, run.next_change) == (True, 0, None)


LIVENESS = container(liveness={"periodSeconds": 1, "failureThreshold": 3})


@pytest.mark.parametrize(("now", "restart_count", "running_since", "restart_at", "next_change"), [
    (1.9, 0, 0, None, 2),        # ticks 0, 1 failed; the third (at 2) kills it
    (2, 1, 2, None, 4),          # first restart is immediate
    (3.9, 1, 2, None, 4),
    (4, 1, None, 14, 14),        # second kill: CrashLoopBackOff for 10 s
    (14, 2, 14, None, 16),
    (16, 2, None, 36, 36),       # then 20 s
    (36, 3, 36, None, 38),
    (38, 3, None, 78, 78),       # then 40 s
], ids=lambda value: str(value))
def test_failing_liveness_restarts_with_crash_loop_back_off(now: float, restart_count: int,
                                                            running_since: float | None, restart_at: float | None,
                                                            next_change: float) -> None:
    for run in (replay(LIVENESS, now, Outcomes(liveness=False)), stepwise(LIVENESS, now, Outcomes(liveness=False))):
        assert (run.restart_count, run.running_since, run.restart_at, run.next_change) == (
            restart_count, running_since, restart_at, next_change)
        # without a readiness probe, a running container is ready: liveness decides restarts only
        assert run.ready == (run.running_since is not None)
        if (restart_count, running_since) != (0, 0):
            assert run.last_termination is not None and run.last_termination.reason == "Error"


def test_last_termination_records_the_killed_instance() -> None:
    run = replay(LIVENESS, 4, Outcomes(liveness=False))
    assert run.last_termination == probes.Termination(started_at=2, finished_at=4, exit_code=137, reason="Error")


def test_failing_startup_probe_kills_after_its_failure_threshold() -> None:
    spec = container(startup={"initialDelaySeconds": 1, "periodSeconds": 1, "failureThreshold": 2},
                     liveness={"periodSeconds": 1, "failureThreshold": 1})
    run = replay(spec, 2, Outcomes(startup=False))
    assert (run.restart_count, run.running_since, run.started) == (1, 2, False)
    # liveness never runs before startup succeeded, so its failure alone kills nothing
    assert replay(spec, 100, Outcomes(startup=False, liveness=True)).restart_count > 1
    healthy_start = replay(spec, 100, Outcomes(liveness=True))
    assert (healthy_start.restart_count, healthy_start.ready) == (0, True)


@pytest.mark.parametrize(("restart_count", "seconds"), [
    (0, 0), (1, 0), (2, 10), (3, 20), (4, 40), (5, 80), (6, 160), (7, 300), (30, 300)])
def test_back_off_is_the_kubelets(restart_count: int, seconds: int) -> None:
    assert probes.back_off(restart_count) == seconds


def test_annotation_set_on_a_ready_container_fails_it_after_failure_threshold_ticks() -> None:
    spec = container(readiness={"periodSeconds": 1, "failureThreshold": 3})
    kinds = ContainerProbes.of(spec)
    run = probes.simulate(kinds, Outcomes(), probes.started_run(0.0), 0)
    run = probes.simulate(kinds, Outcomes(), run, 9.5)
    assert run.ready and run.next_change is None
    # annotated at 10: the tick at 10 already ran as it was; 11, 12, 13 fail
    run = probes.simulate(kinds, Outcomes(readiness=False), run, 10)
    assert run.ready and run.next_change == 13
    assert probes.simulate(kinds, Outcomes(readiness=False), run, 12.9).ready
    run = probes.simulate(kinds, Outcomes(readiness=False), run, 13)
    assert not run.ready and run.next_change is None
    # the annotation removed at 20: the next passing tick (21) makes it ready again
    run = probes.simulate(kinds, Outcomes(), run, 20)
    assert not run.ready and run.next_change == 21
    assert probes.simulate(kinds, Outcomes(), run, 21).ready


@pytest.mark.parametrize(("annotations", "expected"), [
    ({}, Outcomes()),
    ({"probe.gitops-sandbox.io/readiness": "fail"}, Outcomes(readiness=False)),
    ({"probe.gitops-sandbox.io/liveness": " FAIL "}, Outcomes(liveness=False)),
    ({"probe.gitops-sandbox.io/startup": "fail", "probe.gitops-sandbox.io/readiness": "pass"},
     Outcomes(startup=False)),
    ({"probe.gitops-sandbox.io/readiness": "no"}, Outcomes()),
], ids=["none", "readiness", "liveness-any-case", "startup", "other-value-passes"])
def test_outcomes_from_annotations(annotations: dict[str, str], expected: Outcomes) -> None:
    assert Outcomes.from_annotations(annotations) == expected


def reasons(run: ContainerRun) -> list[tuple[float, str, str]]:
    return [(event.at, event.reason, event.probe) for event in run.events]


def test_events_of_a_crash_loop_in_order() -> None:
    run = replay(LIVENESS, 4, Outcomes(liveness=False))
    assert reasons(run) == [(2, "Unhealthy", "liveness"), (2, "Killing", "liveness"),
                            (4, "Unhealthy", "liveness"), (4, "Killing", "liveness"), (4, "BackOff", "liveness")]
    # each call reports only what happened since the run it was given
    assert probes.simulate(ContainerProbes.of(LIVENESS), Outcomes(liveness=False), run, 13).events == ()


def test_failing_readiness_is_reported_once_when_its_result_turns() -> None:
    spec = container(readiness={"periodSeconds": 1, "failureThreshold": 3})
    kinds = ContainerProbes.of(spec)
    run = probes.simulate(kinds, Outcomes(readiness=False), probes.started_run(0.0), 1.5)
    assert run.events == ()
    run = probes.simulate(kinds, Outcomes(readiness=False), run, 2)
    assert reasons(run) == [(2, "Unhealthy", "readiness")]
    assert probes.simulate(kinds, Outcomes(readiness=False), run, 50).events == ()


CRASH = Outcomes(crash=True)


@pytest.mark.parametrize(("now", "restart_count", "running_since", "restart_at"), [
    (0, 1, None, 10),      # exits at start, restarted at once, exits again: back-off 10 s
    (9.9, 1, None, 10),
    (10, 2, None, 30),     # restarted at 10, exits at once: 20 s
    (30, 3, None, 70),     # then 40 s
    (5000, 21, None, 5110),  # capped at 5 min
], ids=lambda value: str(value))
def test_crash_loops_with_the_kubelets_back_off(now: float, restart_count: int, running_since: float | None,
                                                restart_at: float) -> None:
    kinds = ContainerProbes.of(DEFAULT_READINESS)
    seen_once_at_start = probes.simulate(kinds, CRASH, probes.simulate(kinds, CRASH, probes.started_run(0.0), 0), now)
    for run in (seen_once_at_start, stepwise(DEFAULT_READINESS, now, CRASH)):
        assert (run.restart_count, run.running_since, run.restart_at, run.next_change) == (
            restart_count, running_since, restart_at, restart_at)
        assert not run.ready and not run.started
        assert run.last_termination is not None
        assert (run.last_termination.exit_code, run.last_termination.reason) == (1, "Error")


def test_crash_asked_of_a_running_container_ends_it_now_not_in_the_past() -> None:
    kinds = ContainerProbes.of(NO_PROBE)
    run = probes.simulate(kinds, PASSING, probes.started_run(0.0), 100)
    assert run.ready
    run = probes.simulate(kinds, CRASH, run, 500)
    assert run.last_termination == probes.Termination(started_at=500, finished_at=500, exit_code=1, reason="Error")
    assert (run.restart_count, run.restart_at) == (1, 510)
    assert reasons(run) == [(500, "BackOff", "crash")]
    # the annotation removed: the next restart runs, and stays up
    healed = probes.simulate(kinds, PASSING, run, 600)
    assert (healed.restart_count, healed.running_since, healed.ready) == (2, 510, True)


def test_crash_annotation() -> None:
    assert Outcomes.from_annotations({"probe.gitops-sandbox.io/crash": "true"}) == CRASH
    assert Outcomes.from_annotations({"probe.gitops-sandbox.io/crash": " True "}) == CRASH
    assert Outcomes.from_annotations({"probe.gitops-sandbox.io/crash": "false"}) == PASSING
