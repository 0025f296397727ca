"""Scenario validation: every problem is caught before anything runs, named by file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sandbox.errors import InputError
from sandbox.monitoring.runrules import RunSettings
from sandbox.scenario import catalog
from sandbox.scenario.loader import ScenarioInvalid, load

HEADER = "title: T\nsummary: S\n"


def write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.yaml").write_text(textwrap.dedent(text))
    return folder


# (id, scenario.yaml, line, field, what the message says)
BAD = [
    ("missing-title", "summary: S\nsteps:\n  - narrate: hi\n", 1, "(top level)", "missing required field 'title'"),
    ("no-steps", HEADER + "steps: []\n", 3, "steps", "should be non-empty"),
    ("unknown-top-field", HEADER + "stpes: []\nsteps:\n  - narrate: hi\n", 3, "stpes",
     "unknown field 'stpes'; did you mean 'steps'?"),
    ("unknown-step-type", HEADER + "steps:\n  - narrate: hi\n  - comit:\n      message: m\n", 5, "steps[1].comit",
     "unknown step type 'comit'; did you mean 'commit'?"),
    ("two-types", HEADER + "steps:\n  - narrate: hi\n    suspend: Kustomization/a\n", 4, "steps[0]",
     "a step has exactly one type, this one has 2: narrate, suspend"),
    ("no-type", HEADER + "steps:\n  - title: lonely\n", 4, "steps[0]", "a step needs a type"),
    ("commit-without-files", HEADER + "steps:\n  - commit:\n      message: m\n", 4, "steps[0].commit",
     "missing required field 'files'"),
    ("commit-bad-field", HEADER + "steps:\n  - commit:\n      message: m\n      files: {a.yaml: x}\n      msg: x\n",
     7, "steps[0].commit.msg", "unknown field 'msg'"),
    ("bad-duration", HEADER + "steps:\n  - wait:\n      ready: Kustomization/a\n      timeout: soon\n", 6,
     "steps[0].wait.timeout", "'soon' is not a duration"),
    ("artifact-without-path", HEADER + "steps:\n  - push_artifact:\n      artifact: app:v1\n", 4,
     "steps[0].push_artifact", "missing required field 'path'"),
    ("artifact-path-missing", HEADER + "steps:\n  - push_artifact:\n      artifact: app:v1\n      path: nowhere\n",
     6, "steps[0].push_artifact.path", "'nowhere' is not a folder or file in the scenario's folder"),
    ("chart-and-demo", HEADER + "steps:\n  - push_chart:\n      chart: c\n      demo: 0.1.0\n", 4,
     "steps[0].push_chart", "give exactly one of chart (a chart folder of the scenario) or demo"),
    ("demo-version-unknown", HEADER + "steps:\n  - push_chart:\n      demo: 9.0.0\n", 5,
     "steps[0].push_chart.demo", "the demo chart webapp has no version '9.0.0' (versions: 0.1.0, 0.2.0"),
    ("chart-folder-missing", HEADER + "steps:\n  - push_chart: charts/nope\n", 4, "steps[0].push_chart.chart",
     "'charts/nope' is not a chart folder (with Chart.yaml)"),
    ("reset-not-a-helmrelease", HEADER + "steps:\n  - reconcile:\n      object: Kustomization/a\n      reset: true\n",
     6, "steps[0].reconcile.reset", "reset acts on a HelmRelease (flux reconcile helmrelease --reset)"),
    ("bad-ref", HEADER + "steps:\n  - reconcile: apps\n", 4, "steps[0].reconcile.object",
     "'apps' is not an object reference; write Kind/name or Kind/namespace/name"),
    ("unknown-kind", HEADER + "steps:\n  - expect:\n      object: Widget/w\n", 5, "steps[0].expect.object",
     "unknown kind 'Widget'; give its apiVersion"),
    ("reconcile-configmap", HEADER + "steps:\n  - reconcile: ConfigMap/x\n", 4, "steps[0].reconcile.object",
     "reconcile acts on GitRepository, HelmChart, HelmRelease, HelmRepository, ImagePolicy, ImageRepository, "
     "ImageUpdateAutomation, Kustomization, OCIRepository, Receiver, not ConfigMap"),
    ("check-without-kind", HEADER + "steps:\n  - wait:\n      redy: Kustomization/a\n", 4, "steps[0].wait",
     "a check needs one of object, absent, ready"),
    ("two-checks-in-one", HEADER + "steps:\n  - expect:\n      ready: Kustomization/a\n      absent: ConfigMap/b\n",
     4, "steps[0].expect", "one check at a time: this one has ready and absent; make them items of a list"),
    ("check-in-list", HEADER + "steps:\n  - expect:\n      - absent: ConfigMap/b\n      - object: ConfigMap/c\n"
     "        equals: x\n", 6, "steps[0].expect[1]", "equals compares a field: add jsonpath"),
    ("bad-jsonpath", HEADER + "steps:\n  - expect:\n      object: ConfigMap/c\n      jsonpath: .data[oops\n"
     "      equals: x\n", 6, "steps[0].expect.jsonpath", "is never closed"),
    ("unknown-variable", HEADER + "steps:\n  - narrate: in ${namespce}\n", 4, "steps[0].narrate",
     "unknown variable ${namespce}; did you mean 'namespace'?"),
    ("head-in-repo", HEADER + "repo:\n  kustomizations:\n    - name: a\n      path: ./${head}\nsteps:\n"
     "  - narrate: x\n", 6, "repo.kustomizations[0].path", "unknown variable ${head}"),
    ("commit-id-used-before-defined", HEADER + "steps:\n  - narrate: ${commit.fix}\n  - commit:\n      id: fix\n"
     "      message: m\n      files: {a: b}\n", 4, "steps[0].narrate", "no earlier commit step has id 'fix'"),
    ("revision-unknown", HEADER + "steps:\n  - wait:\n      ready: Kustomization/a\n      revision: later\n", 6,
     "steps[0].wait.revision", "revision 'later' is not head, initial or the id of an earlier commit step"),
    ("duplicate-commit-id", HEADER + "steps:\n  - commit:\n      id: a\n      message: m\n      files: {x: y}\n"
     "  - commit:\n      id: a\n      message: m\n      files: {x: z}\n", 9, "steps[1].commit.id",
     "commit id 'a' is already used"),
    ("from-missing", HEADER + "steps:\n  - commit:\n      message: m\n      files:\n"
     "        a.yaml: {from: nope.yaml}\n",
     7, "steps[0].commit.files.a.yaml.from", "'nope.yaml' is not a file in the scenario's folder"),
    ("from-outside", HEADER + "steps:\n  - apply:\n      from: ../secret.yaml\n", 5, "steps[0].apply.from",
     "must be a relative path inside the scenario's folder"),
    ("variable-in-file-name", HEADER + "steps:\n  - commit:\n      message: m\n      files:\n        ${nope}.yaml: x\n",
     7, "steps[0].commit.files.${nope}.yaml", "unknown variable ${nope}"),
    ("apply-both", HEADER + "steps:\n  - apply:\n      manifest: 'a: b'\n      from: x.yaml\n", 4, "steps[0].apply",
     "give exactly one of manifest"),
    ("apply-not-an-object", HEADER + "steps:\n  - apply:\n      manifest: |\n        kind: ConfigMap\n", 5,
     "steps[0].apply.manifest", "document 1 needs apiVersion, kind and metadata.name"),
    ("repo-folder-missing", HEADER + "repo:\n  path: nothere\nsteps:\n  - narrate: x\n", 4, "repo.path",
     "'nothere' is not a folder next to scenario.yaml"),
    ("duplicate-key", HEADER + "steps:\n  - narrate: a\nsteps:\n  - narrate: b\n", 5, "steps",
     "given twice; YAML keeps only the last one"),
    ("alerts-unknown-field", HEADER + "steps:\n  - expect:\n      alerts: slack\n      sevrity: error\n", 6,
     "steps[0].expect.sevrity", "unknown field 'sevrity'; did you mean 'severity'?"),
    ("alerts-bad-signature", HEADER + "steps:\n  - expect:\n      alerts: signed\n      signature: invalid\n", 6,
     "steps[0].expect.signature", "'invalid' is not one of ['valid', 'unsigned']"),
    ("alerts-bad-status", HEADER + "steps:\n  - wait:\n      alerts: am\n      status: pending\n", 6,
     "steps[0].wait.status", "'pending' is not one of ['firing', 'resolved']"),
    ("alerts-count-and-at-least", HEADER + "steps:\n  - expect:\n      alerts: a\n      count: 0\n"
     "      at_least: 2\n", 4, "steps[0].expect", "give count (exactly N) or at_least (N or more), not both"),
    ("alerts-negative-count", HEADER + "steps:\n  - expect:\n      alerts: a\n      count: -1\n", 6,
     "steps[0].expect.count", "-1 is less than the minimum of 0"),
    ("alerts-unknown-object-kind", HEADER + "steps:\n  - expect:\n      alerts: a\n      object: Widget/w\n", 6,
     "steps[0].expect.object", "unknown kind 'Widget'"),
    ("alerts-bad-object-ref", HEADER + "steps:\n  - expect:\n      alerts: a\n      object: apps\n", 6,
     "steps[0].expect.object", "'apps' is not an object reference"),
    ("alerts-path-with-query", HEADER + "steps:\n  - expect:\n      alerts: hook?x=1\n", 5,
     "steps[0].expect.alerts", "'hook?x=1' is not a path under the sink"),
    ("alerts-full-url", HEADER + "steps:\n  - expect:\n      alerts: ${sink}/webhook\n", 5,
     "steps[0].expect.alerts", "give the path under the sink only (webhook for a Provider at ${sink}/webhook)"),
    ("alerts-metadata-not-strings", HEADER + "steps:\n  - expect:\n      alerts: a\n      metadata: {n: 1}\n", 6,
     "steps[0].expect.metadata.n", "1 is not of type 'string'"),
    ("prometheus-two-comparisons", HEADER + "steps:\n  - wait:\n      prometheus: up\n      equals: 1\n"
     "      at_least: 1\n", 4, "steps[0].wait", "compare one way: equals and at_least given"),
    ("prometheus-label-not-text", HEADER + "steps:\n  - expect:\n      prometheus: up\n      labels: {ready: False}\n",
     6, "steps[0].expect.labels.ready", "False is not of type 'string'"),
    ("prometheus-unknown-field", HEADER + "steps:\n  - expect:\n      prometheus: up\n      atleast: 1\n", 6,
     "steps[0].expect.atleast", "unknown field 'atleast'; did you mean 'at_least'?"),
    ("monitoring-bad-duration", HEADER + "monitoring:\n  failure_for: 10 seconds\nsteps:\n  - narrate: x\n", 4,
     "monitoring.failure_for", "'10 seconds' is not a Prometheus duration; write it like 10s"),
    ("monitoring-unknown-key", HEADER + "monitoring:\n  webhook: http://x\nsteps:\n  - narrate: x\n", 4,
     "monitoring.webhook", "unknown field 'webhook'"),
    ("needs-unknown", HEADER + "needs: [kafka]\nsteps:\n  - narrate: x\n", 3, "needs[0]", "unknown feature 'kafka'"),
    ("status-enum", HEADER + "steps:\n  - wait:\n      ready: Kustomization/a\n      status: yes please\n", 6,
     "steps[0].wait.status", "'yes please' is not one of"),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_bad_scenarios_are_rejected_with_file_line_and_field(tmp_path: Path, text: str, line: int, field: str,
                                                             message: str) -> None:
    folder = write(tmp_path, text)
    with pytest.raises(ScenarioInvalid) as caught:
        load(folder)
    rendered = [str(issue) for issue in caught.value.issues]
    expected_prefix = f"{folder / 'scenario.yaml'}:{line}: {field}: "
    assert any(r.startswith(expected_prefix) and message in r for r in rendered), "\n".join(rendered)
    assert f"{folder / 'scenario.yaml'}:{line}" in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    folder = write(tmp_path, HEADER + "steps:\n  - comit: x\n  - wait:\n      ready: K/a\n      timeout: never\n"
                   "  - narrate: ${nope}\n")
    with pytest.raises(ScenarioInvalid) as caught:
        load(folder)
    fields = [issue.field for issue in caught.value.issues]
    assert fields == ["steps[0].comit", "steps[1].wait.timeout", "steps[2].narrate"]
    assert "3 problems" in str(caught.value)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    folder = write(tmp_path, HEADER + "steps:\n  - narrate: [unclosed\n  - narrate: x\n")
    with pytest.raises(InputError, match=r"scenario.yaml:4: not valid YAML: while parsing a flow sequence"):
        load(folder)


def test_folder_name_is_the_scenario_name(tmp_path: Path) -> None:
    folder = write(tmp_path, HEADER + "steps:\n  - narrate: x\n", name="Bad_Name")
    with pytest.raises(ScenarioInvalid, match="folder name 'Bad_Name'"):
        load(folder)


def test_a_valid_scenario_is_normalised(tmp_path: Path) -> None:
    folder = write(tmp_path, """\
        title: Demo
        summary: >
          Two lines
          of summary.
        tags: [a]
        repo:
          interval: 1h
          kustomizations:
            - name: apps
              path: ./apps
              dependsOn: [infra]
        steps:
          - narrate: hello ${namespace}
          - title: push
            push_image: app:${run}
          - reconcile: Kustomization/apps
          - commit:
              id: fix
              message: m
              files: {a.yaml: "x: ${registry}", b.yaml: null}
          - wait:
              ready: Kustomization/apps
              revision: fix
          - expect:
              absent: ConfigMap/x
        """)
    (folder / "repo").mkdir()
    scenario = load(folder)
    assert scenario.name == "demo" and scenario.summary == "Two lines of summary."
    assert scenario.needs == ("registry",)  # implied by push_image and ${registry}
    assert scenario.repo.folder == folder / "repo" and scenario.repo.interval == "1h"
    assert scenario.repo.kustomizations[0].spec == {"dependsOn": ["infra"]}
    steps = scenario.steps
    assert [s.type for s in steps] == ["narrate", "push_image", "reconcile", "commit", "wait", "expect"]
    assert [s.line for s in steps] == [13, 14, 16, 17, 21, 24]
    assert steps[1].title == "push" and steps[1].body == {"image": "app:${run}"}
    assert steps[2].body == {"object": "Kustomization/apps"}
    assert steps[4].body["timeout"] == "60s"
    assert steps[5].body == {"checks": [{"absent": "ConfigMap/x"}]}
    assert steps[4].label == 'step 5 (wait, line 21)'


def test_the_monitoring_block_and_prometheus_checks(tmp_path: Path) -> None:
    folder = write(tmp_path, """\
        title: T
        summary: S
        monitoring:
          failure_for: 5s
          slow_seconds: 2
        steps:
          - wait:
              prometheus: ALERTS{scenario_run="${run}"}
              labels: {alertstate: firing}
              count: 1
        """)
    scenario = load(folder)
    assert scenario.monitoring == RunSettings(failure_for="5s", slow_seconds=2.0)
    assert scenario.needs == ("monitoring",)
    assert scenario.to_dict()["monitoring"]["failure_for"] == "5s"
    assert scenario.steps[0].body["labels"] == {"alertstate": "firing"}
    without = write(tmp_path, HEADER + "steps:\n  - narrate: x\n", name="plain")
    assert load(without).monitoring is None and "monitoring" not in load(without).to_dict()


@pytest.mark.parametrize("file", sorted(catalog.BUILTIN.glob("*/scenario.yaml")), ids=lambda f: f.parent.name)
def test_builtin_scenarios_are_valid(file: Path) -> None:
    scenario = load(file)
    assert scenario.steps and scenario.title and scenario.summary
    docs = Path(__file__).resolve().parents[3] / "docs" / "tutorials" / f"{scenario.name}.md"
    assert docs.is_file(), f"every built-in scenario has a tutorial: {docs} is missing"


def test_the_builtin_scenarios_exist() -> None:
    names = {file.parent.name for file in catalog.discover()}
    assert {"getting-started", "receiver", "drift", "depends-on", "broken-revision", "suspend-resume", "oci-sync",
            "helm-release", "helm-remediation"} <= names


def test_an_artifact_id_names_its_digest_in_revision_checks(tmp_path: Path) -> None:
    folder = write(tmp_path, HEADER + textwrap.dedent("""\
        steps:
          - push_artifact:
              id: v2
              artifact: ${run}/app:2.0.0
              path: manifests
          - wait:
              ready: Kustomization/apps
              revision: v2
        """))
    (folder / "manifests").mkdir()
    scenario = load(folder)
    assert scenario.needs == ("registry",)  # implied by push_artifact
    assert scenario.steps[0].body == {"id": "v2", "artifact": "${run}/app:2.0.0", "path": "manifests"}


def test_a_demo_chart_version_is_pushed_under_a_name_of_the_run(tmp_path: Path) -> None:
    folder = write(tmp_path, HEADER + textwrap.dedent("""\
        steps:
          - push_chart:
              demo: 0.2.0
              name: webapp-${run}
              version: 0.3.0
        """))
    scenario = load(folder)
    assert scenario.steps[0].body == {"demo": "0.2.0", "name": "webapp-${run}", "version": "0.3.0"}
    assert scenario.needs == ("charts",)


def test_an_alerts_check_with_an_object_is_one_check_and_implies_notifications(tmp_path: Path) -> None:
    folder = write(tmp_path, HEADER + textwrap.dedent("""\
        steps:
          - expect:
              - object: Kustomization/apps
                alerts: webhook
                severity: error
                metadata: {env: sandbox}
                within: 2s
              - alerts: "*"
                count: 0
          - narrate: the sink is at ${sink}
        """))
    scenario = load(folder)
    assert scenario.needs == ("notifications",)
    checks = scenario.steps[0].body["checks"]
    assert checks[0]["alerts"] == "webhook" and checks[0]["object"] == "Kustomization/apps"


def test_object_and_ready_together_are_still_two_checks(tmp_path: Path) -> None:
    folder = write(tmp_path, HEADER + "steps:\n  - expect:\n      object: ConfigMap/a\n      ready: "
                   "Kustomization/b\n")
    with pytest.raises(ScenarioInvalid, match="one check at a time: this one has object and ready"):
        load(folder)
