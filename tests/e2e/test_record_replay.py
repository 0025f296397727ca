"""Record a live sandbox and play it back: push, apply, break, fix as a timeline — pushes, Ready transitions and
Events in order — and ``sandbox record`` as a process stopped with Ctrl+C."""

from __future__ import annotations

import signal
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import yaml

from sandbox.errors import InputError
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.scenario import timeline
from sandbox.scenario.recorder import Recorder
from sandbox.scenario.replay import describe
from sandbox.scenario.timeline import TimelineEvent, TimelineWriter
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

BROKEN = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n"


def configmap(name: str, namespace: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": namespace}, "data": data})


def namespace(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def collapsed(values: list[str]) -> list[str]:
    result: list[str] = []
    for value in values:
        if not result or result[-1] != value:
            result.append(value)
    return result


def lanes_of(page: str) -> set[str]:
    subjects: set[str] = set()

    class Lanes(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "g" and found.get("class") == "lane":
                subjects.add(found.get("data-subject") or "")

    Lanes().feed(page)
    return subjects


def test_push_apply_break_fix_is_recorded_in_order(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                   tmp_path: Path) -> None:
    name, ns = gitops_repo.name, f"{gitops_repo.name}-ns"
    ks_subject = f"Kustomization/flux-system/{name}"
    # An Event from before the recording is history: left out, unless it happens again while recording.
    earlier = sandbox.kube.create({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.earlier", "namespace": "flux-system"},
        "involvedObject": {"kind": "Kustomization", "name": name, "namespace": "flux-system"},
        "reason": "HappenedBefore", "message": "before recording", "type": "Normal", "count": 1,
        "source": {"component": "e2e"}})
    path = tmp_path / "session.jsonl"
    with TimelineWriter(path) as writer, Recorder(sandbox, writer):
        good = gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns, v="1")}, "good")
        gitops_repo.kustomization()
        gitops_repo.wait_applied()
        broken = gitops_repo.commit({"bad.yaml": BROKEN}, "broken")
        gitops_repo.wait_failed(sha=broken)
        fixed = gitops_repo.commit({"bad.yaml": None}, "fix")
        gitops_repo.wait_applied()
        sandbox.kube.patch("v1", "Event", earlier["metadata"]["name"], "flux-system", {"count": 2})

        def caught_up() -> bool:
            seen = list(writer.events)
            return any(e.type == "status" and e.subject == ks_subject and e.data["ready"] == "True"
                       and e.data["revision"].endswith(fixed) for e in seen) and \
                any(e.type == "event" and e.data["reason"] == "HappenedBefore" for e in seen)

        wait_until(caught_up, timeout=15, what="the recorder to see the fix applied and the repeated Event")
    sandbox.kube.delete("v1", "Event", earlier["metadata"]["name"], "flux-system")

    events = timeline.in_order(timeline.read(path))
    pushes = [e for e in events if e.type == "push" and e.subject == f"repo/{name}"]
    assert [p.data["after"] for p in pushes] == [good, broken, fixed]
    assert [p.data["commits"][0]["message"] for p in pushes] == ["good", "broken", "fix"]

    statuses = [e for e in events if e.type == "status" and e.subject == ks_subject]
    assert collapsed([s.data["ready"] for s in statuses if s.data["ready"] != "Unknown"]) == ["True", "False", "True"]
    first_false = next(s for s in statuses if s.data["ready"] == "False")
    assert first_false.data["reason"] == "BuildFailed" and "bad.yaml" in first_false.data["message"]
    final = statuses[-1]
    assert final.data["ready"] == "True" and final.data["revision"] == f"main@sha1:{fixed}"
    # pushes come before what they cause
    assert pushes[1].t <= first_false.t < pushes[2].t <= final.t

    ks_events = [e for e in events if e.type == "event" and e.subject == ks_subject]
    warnings = [e for e in ks_events if e.data["type"] == "Warning"]
    assert warnings and warnings[0].data["reason"] == "BuildFailed" and pushes[1].t <= warnings[0].t < pushes[2].t
    assert any(e.data["reason"] == "ReconciliationSucceeded" and e.t > pushes[2].t for e in ks_events)
    repeated = [e for e in ks_events if e.data["reason"] == "HappenedBefore"]
    assert [e.data["count"] for e in repeated] == [2]
    assert {e.data["controller"] for e in ks_events if e.data["reason"] != "HappenedBefore"} == {"kustomize-controller"}

    # record → replay: every entry printed, in order
    played = run_cli("replay", str(path), "--no-wait")
    assert played.exit_code == 0
    lines = played.stdout.splitlines()
    assert len(lines) == len(events)
    for line, event in zip(lines, events, strict=True):
        assert event.subject in line and describe(event).text in line
    # … and drawn: a lane per object
    page = tmp_path / "session.html"
    assert run_cli("replay", str(path), "--html", str(page)).exit_code == 0
    lanes = lanes_of(page.read_text())
    assert {ks_subject, f"GitRepository/flux-system/{name}", f"repo/{name}"} <= lanes
    assert {e.subject for e in events if e.type in ("status", "event", "push")} <= lanes


def _entries(path: Path) -> list[TimelineEvent]:
    try:
        return timeline.read(path)
    except InputError:  # a line being written
        return []


def test_sandbox_record_stops_cleanly_on_ctrl_c(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                tmp_path: Path) -> None:
    path = tmp_path / "recorded.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "record", str(path), "--name", sandbox.name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: any(e.type == "note" and e.data["text"].startswith("recording started")
                               for e in _entries(path)), timeout=30, what="the recorder to start")
        sha = gitops_repo.commit({"x.yaml": configmap("x", "default", v="1")}, "while recording")
        wait_until(lambda: any(e.type == "push" and e.data["after"] == sha for e in _entries(path)), timeout=15,
                   what="the push to be recorded")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    events = timeline.read(path)  # complete: every line parses
    assert events[0].type == "session" and events[0].data["phase"] == "start"
    assert events[-1].type == "session" and events[-1].data["phase"] == "end"
    assert f"recorded {len(events) - 2} entries to {path}" in " ".join(err.decode().split())
