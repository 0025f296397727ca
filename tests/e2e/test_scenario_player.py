"""Scenarios end to end: every step type against a real sandbox, the narrated player and its timeline, the
CLI (`sandbox play`, `sandbox scenarios`), and playing on a sandbox started for the occasion."""

from __future__ import annotations

import io
import json
import secrets
import textwrap
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from sandbox import helmrepo, lifecycle
from sandbox.handle import SandboxHandle
from sandbox.scenario import timeline
from sandbox.scenario.failures import ScenarioFailed, ScenarioSkipped
from sandbox.scenario.loader import load
from sandbox.scenario.player import play
from sandbox.scenario.runner import run
from tests.e2e.helpers import run_cli

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  namespace: ${namespace}
spec:
  replicas: 1
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
        - name: app
          image: ${registry}/demo/app-${run}:1.0.0
"""

EXTRA = """\
apiVersion: v1
kind: Namespace
metadata:
  name: ${namespace}-extra
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
data:
  from: a file, namespace defaulted to ${namespace}; Flux would write $${namespace}
"""

CHART = {"Chart.yaml": "apiVersion: v2\nname: demo-chart\nversion: 0.1.0\n", "values.yaml": "greeting: hi\n",
         "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
                              "data:\n  greeting: {{ .Values.greeting }}\n"}

EVERY_STEP = """\
title: Every step type
summary: Images, charts, direct apply and delete, reconcile, suspend and resume, and each kind of check.
needs: [registry, charts]
repo:
  interval: 1h
  kustomizations:
    - name: app
      path: ./
steps:
  - narrate: repository ${repo} at ${git_url}, charts at ${chart_repo} and ${oci_charts}
  - push_image: demo/app-${run}:1.0.0
  - commit:
      id: app
      message: Deploy app 1.0.0
      files:
        app.yaml: {from: files/app.yaml}
        README.md: null
  - wait:
      ready: Kustomization/app
      revision: app
      timeout: 30s
  - expect:
      - pods: app=demo
        images: ["${registry}/demo/app-${run}:1.0.0"]
        all_ready: true
        within: 30s
      - ready: GitRepository/${repo}
        revision: head
      - git: ${branch}
        messages: [Initial commit, Deploy app]
        head_message: Deploy app 1.0.0
        commits: 2
        files:
          app.yaml: demo/app-${run}:1.0.0
          README.md: null
  - push_chart: chart
  - push_chart:
      demo: 0.2.0
      name: webapp-${run}
      version: 0.3.0
  - title: Objects applied directly
    apply:
      from: files/extra.yaml
  - expect:
      - object: ConfigMap/extra
        jsonpath: .data.from
        contains: ${namespace}; Flux would write $${namespace}
      - object: Namespace/${namespace}-extra
  - delete: ConfigMap/extra
  - expect:
      absent: ConfigMap/extra
  - reconcile:
      object: Kustomization/app
      with_source: true
  - suspend: Kustomization/app
  - expect:
      ready: Kustomization/app
      revision: app
  - resume:
      object: Kustomization/app
      wait: false
  - wait:
      object: Kustomization/app
      jsonpath: .spec.suspend
      equals: false
"""


def write_scenario(root: Path, name: str, text: str) -> Path:
    folder = root / name
    (folder / "files").mkdir(parents=True)
    (folder / "scenario.yaml").write_text(textwrap.dedent(text))
    (folder / "files" / "app.yaml").write_text(APP)
    (folder / "files" / "extra.yaml").write_text(EXTRA)
    for path, content in CHART.items():
        target = folder / "chart" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return folder


def test_every_step_type_with_narration_and_a_timeline(sandbox: SandboxHandle, tmp_path: Path) -> None:
    scenario = load(write_scenario(tmp_path, "every-step", EVERY_STEP))
    console = Console(file=io.StringIO(), width=200, color_system=None)
    record = tmp_path / "every-step.jsonl"
    result = play(scenario, sandbox, console=console, record=record)
    assert result.passed and len(result.steps) == len(scenario.steps)
    namespace = f"every-step-{result.run_id}"

    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"[2/{len(scenario.steps)}] push_image" in shown
    assert f"pushed image {sandbox.status['services']['registry']['cluster_host']}/demo/app-{result.run_id}:1.0.0" \
        in shown
    assert "pushed chart demo-chart 0.1.0" in shown
    assert f"pushed chart webapp-{result.run_id} 0.3.0" in shown  # the demo chart's 0.2.0, renamed for the run
    assert (f"webapp-{result.run_id}", "0.3.0") in {(c["name"], c["version"])
                                                   for c in helmrepo.list_charts(sandbox.name)}
    assert "● Kustomization/app Ready=True ReconciliationSucceeded" in shown  # the reconciler's doing, as it happens
    assert "⚑ Progressing Kustomization/app: Deployment/demo created" in shown
    assert f"repository {namespace} at {sandbox.git.clone_url(namespace, in_cluster=True)}" in shown
    assert "✔ scenario every-step passed" in shown

    events = timeline.read(record)
    types = {event.type for event in events}
    assert {"session", "step", "narration", "commit", "image", "chart", "status", "event"} <= types
    commits = [e for e in events if e.type == "commit"]
    assert commits[0].data["message"] == "Deploy app 1.0.0" and commits[0].data["files"] == ["README.md", "app.yaml"]
    finished = [e for e in events if e.type == "step" and e.data["status"] == "passed"]
    assert [e.data["index"] for e in finished] == list(range(1, len(scenario.steps) + 1))
    assert events[-1].type == "session" and events[-1].data["phase"] == "end" and events[-1].data["passed"]

    # Objects applied outside the run's namespaces are removed with it.
    extra = sandbox.kube.get_or_none("v1", "Namespace", f"{namespace}-extra")
    assert extra is None or extra["metadata"].get("deletionTimestamp")


def test_keep_leaves_the_run_in_place(sandbox: SandboxHandle, tmp_path: Path) -> None:
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "scenario.yaml").write_text("title: Kept\nsummary: S\nrepo:\n  kustomizations:\n    - name: a\n"
                                          "steps:\n  - wait:\n      ready: Kustomization/a\n")
    run_id = secrets.token_hex(3)
    result = run(load(folder), sandbox, keep=True, run_id=run_id)
    assert result.kept == {"namespace": f"kept-{run_id}", "flux_namespace": f"kept-{run_id}-flux",
                           "repo": f"kept-{run_id}"}
    kustomization = sandbox.kube.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "a", f"kept-{run_id}-flux")
    assert kustomization["status"]["lastAppliedRevision"].startswith("main@sha1:")
    from sandbox.scenario.context import RunContext
    from sandbox.scenario.runner import cleanup

    ctx = RunContext(load(folder), sandbox, run_id)
    ctx.repo = None
    cleanup(ctx)
    sandbox.git.delete_repo(f"kept-{run_id}")


def test_a_missing_feature_skips_before_anything_runs(sandbox: SandboxHandle, tmp_path: Path) -> None:
    folder = tmp_path / "needs-gitea"
    folder.mkdir()
    (folder / "scenario.yaml").write_text("title: T\nsummary: S\nneeds: [gitea]\nsteps:\n  - narrate: x\n")
    if sandbox.git.backend == "gitea":
        pytest.skip("the session sandbox runs Gitea")
    with pytest.raises(ScenarioSkipped, match=r"needs gitea: .* uses the local git server.*--git gitea"):
        run(load(folder), sandbox)


def test_failure_evidence_masks_credentials(sandbox: SandboxHandle, tmp_path: Path) -> None:
    token = sandbox.git.token()
    folder = tmp_path / "leaky"
    folder.mkdir()
    (folder / "scenario.yaml").write_text(textwrap.dedent("""\
        title: T
        summary: S
        steps:
          - commit:
              message: a message that quotes ${git_url}
              files: {a.txt: x}
          - expect:
              object: Secret/${repo}-git-auth
              apiVersion: v1
        """))
    with pytest.raises(ScenarioFailed) as caught:
        run(load(folder), sandbox)
    # The Secret lives in the Flux namespace: the check looked in the workload namespace and says so, showing
    # no Secret values anywhere.
    assert "does not exist" in str(caught.value)
    assert token not in str(caught.value)


def test_cli_lists_shows_validates_and_plays(sandbox: SandboxHandle, tmp_path: Path) -> None:
    listed = run_cli("scenarios", "list", "-o", "json")
    assert listed.exit_code == 0
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert {"getting-started", "receiver", "drift", "depends-on", "broken-revision", "suspend-resume"} <= names

    shown = run_cli("scenarios", "show", "drift", "-o", "yaml")
    assert shown.exit_code == 0
    data = yaml.safe_load(shown.stdout)
    assert data["name"] == "drift" and any(step["type"] == "reconcile" for step in data["steps"])

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "scenario.yaml").write_text("title: T\nsummary: S\nsteps:\n  - explode: now\n")
    validated = run_cli("scenarios", "validate", str(bad))
    assert validated.exit_code == 1
    assert f"{bad / 'scenario.yaml'}:4: steps[0].explode: unknown step type 'explode'" in validated.output

    record = tmp_path / "receiver.jsonl"
    played = run_cli("play", "receiver", "--name", sandbox.name, "--record", str(record))
    assert played.exit_code == 0, played.output
    assert "✔ scenario receiver passed" in played.output and "timeline written" in played.output
    assert any(e.type == "commit" and e.data["message"] == "Release 2" for e in timeline.read(record))


def test_play_starts_a_sandbox_when_none_is_up_and_stops_it(tmp_path: Path) -> None:
    name = f"play-{secrets.token_hex(3)}"
    played = run_cli("play", "getting-started", "--name", name)
    assert played.exit_code == 0, played.output
    assert f"sandbox {name} is not up: starting it" in played.output
    assert "✔ scenario getting-started passed" in played.output
    assert name not in lifecycle.all_sandboxes()


def test_step_mode_pauses_and_the_recorder_writes_status_events_and_pushes(
        sandbox: SandboxHandle, tmp_path: Path) -> None:
    folder = tmp_path / "paused"
    folder.mkdir()
    (folder / "scenario.yaml").write_text("title: T\nsummary: S\nrepo:\n  kustomizations:\n    - name: a\n"
                                          "steps:\n  - narrate: one\n  - title: Two\n    wait:\n"
                                          "      ready: Kustomization/a\n  - narrate: three\n")
    pauses: list[str] = []
    record = tmp_path / "paused.jsonl"
    play(load(folder), sandbox, console=Console(file=io.StringIO()), pause=pauses.append, record=record)
    assert pauses == ["press Enter for step 2/3: Two", "press Enter for step 3/3"]
    events = timeline.in_order(timeline.read(record))
    types_written = {event.type for event in events}
    assert {"step", "narration", "status", "event"} <= types_written
    # The recorder writes the Kustomization's transitions; the player does not write them a second time.
    ready = [e for e in events if e.type == "status" and e.subject.startswith("Kustomization/")
             and e.subject.endswith("/a") and e.data.get("ready") == "True"]
    assert ready, [e.subject for e in events if e.type == "status"]
    keys = [(e.type, e.subject, e.t, tuple(sorted(map(str, e.data.items())))) for e in events]
    assert len(keys) == len(set(keys)), "no entry is written twice"


def test_cli_step_mode_reads_enter(sandbox: SandboxHandle, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sandbox.cli.main import cli

    folder = tmp_path / "stepped"
    folder.mkdir()
    (folder / "scenario.yaml").write_text("title: T\nsummary: S\nsteps:\n  - narrate: one\n  - narrate: two\n")
    result = CliRunner().invoke(cli, ["play", str(folder), "--name", sandbox.name, "--step"], input="\n",
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "press Enter for step 2/2" in result.output and "✔ scenario stepped passed" in result.output
