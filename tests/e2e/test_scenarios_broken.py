"""A deliberately broken copy of each built-in scenario fails at the right step, with a message that shows the
object status and events that explain it — and the run still cleans up after itself."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.errors import NotFound
from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.scenario import catalog
from sandbox.scenario.failures import ScenarioFailed
from sandbox.scenario.loader import load
from sandbox.scenario.runner import run


def replace(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, f"the mutation no longer applies: {old!r} is not in the scenario"
        return text.replace(old, new, 1)
    return mutate


def chain(*mutations: Callable[[str], str]) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        for mutation in mutations:
            text = mutation(text)
        return text
    return mutate


@dataclass(frozen=True)
class Broken:
    scenario: str
    why: str
    mutate: Callable[[str], str]
    step: int
    step_type: str
    fragments: tuple[str, ...]  # in the failure message, with {ns} / {flux} for the run's namespaces


BROKEN = [
    Broken("getting-started", "the change pushed to git is not the one expected",
           replace("            message: Hello again\n", "            message: Hello agian\n"),
           7, "expect", (".data.message is 'Hello agian', expected 'Hello again'",
                         "Kustomization/{flux}/apps: Ready=True ReconciliationSucceeded",
                         "ConfigMap/{ns}/greeting configured")),
    Broken("receiver", "without its Receiver, a push waits for the hourly poll",
           replace("  - commit:\n      message: Release 2\n",
                   "  - delete: Receiver/${repo}\n\n  - commit:\n      message: Release 2\n"),
           7, "wait", ("timed out after 5s waiting for ready Kustomization/release",
                       "expected lastAppliedRevision at commit",
                       "stored artifact for commit 'Initial commit'")),
    Broken("drift", "nobody asks for a reconcile, so the drift stays",
           replace("  - reconcile: Kustomization/web\n", ""),
           8, "expect", ("Deployment/{ns}/web .spec.replicas is 5, expected 2",
                         "ConfigMap/{ns}/web-config .data.color is 'red', expected 'blue'",
                         "Deployment/{ns}/web: exists", "objects:", "recent events:")),
    Broken("depends-on", "without dependsOn, apps is applied at once",
           chain(replace("      dependsOn: [infra]\n", ""),
                 replace("      message: dependency '${flux_namespace}/infra' not found\n      timeout: 30s",
                         "      message: dependency '${flux_namespace}/infra' not found\n      timeout: 3s")),
           2, "wait", ("timed out after 3s waiting for ready Kustomization/apps",
                       "Ready=True (ReconciliationSucceeded", "expected status False, reason DependencyNotReady",
                       "Deployment/{ns}/frontend created")),
    Broken("broken-revision", "the 'broken' file is valid, so the revision applies",
           chain(replace("            name: [unclosed\n",
                         "            name: fine\n            namespace: ${namespace}\n"),
                 replace("      revision: broken\n      timeout: 30s", "      revision: broken\n      timeout: 3s")),
           4, "wait", ("timed out after 3s waiting for ready Kustomization/app",
                       "expected status False, reason BuildFailed", "ConfigMap/{ns}/fine created")),
    Broken("suspend-resume", "without suspending, the teammate's push is applied and the hotfix reverted",
           chain(replace("  - suspend: Kustomization/web\n\n  - expect:\n      object: Kustomization/web\n"
                         "      jsonpath: .spec.suspend\n      equals: true\n", ""),
                 replace("      ready: GitRepository/${repo}\n", "      ready: Kustomization/web\n")),
           7, "expect", ("ConfigMap/{ns}/web-config .data.mode is 'normal', expected 'maintenance'",
                         "Deployment/{ns}/web .spec.replicas is 2, expected 1",
                         "Kustomization/{flux}/web: Ready=True")),
    Broken("notifications", "a build failure is BuildFailed, not ReconciliationFailed",
           replace("        reason: BuildFailed\n        message: bad.yaml\n",
                   "        reason: ReconciliationFailed\n        message: bad.yaml\n"),
           7, "expect", ("timed out after 2s waiting for alerts webhook: error ReconciliationFailed on "
                         "Kustomization/apps containing 'bad.yaml'",
                         # what did arrive (the Progressing info event of the first apply too, when the Alert
                         # was there before it: the order of the two first reconciles is not fixed)
                         "request(s) at /webhook: ", "error BuildFailed Kustomization/{flux}/apps",
                         "none matching severity=error reason=ReconciliationFailed",
                         "webhook sink (latest requests):", "/signed: error BuildFailed")),
]


@pytest.mark.parametrize("case", BROKEN, ids=[b.scenario for b in BROKEN])
def test_broken_copy_fails_at_the_right_step(sandbox: SandboxHandle, tmp_path: Path, case: Broken) -> None:
    original = catalog.find(case.scenario).parent
    copy = tmp_path / case.scenario
    shutil.copytree(original, copy)
    scenario_file = copy / "scenario.yaml"
    scenario_file.write_text(case.mutate(scenario_file.read_text()))
    scenario = load(copy)
    run_id = secrets.token_hex(3)
    with pytest.raises(ScenarioFailed) as caught:
        run(scenario, sandbox, run_id=run_id)
    failure = caught.value
    namespace = f"{case.scenario}-{run_id}"
    message = str(failure)
    assert (failure.step.index, failure.step.type) == (case.step, case.step_type), message
    assert message.startswith(f"scenario {case.scenario!r} failed at step {case.step}/{len(scenario.steps)} "
                              f"({case.step_type}, {scenario_file}:{failure.step.line})"), message
    for fragment in case.fragments:
        assert fragment.format(ns=namespace, flux=f"{namespace}-flux") in message, f"{fragment!r} in:\n{message}"
    assert sandbox.git.token() not in message

    # Cleaned up all the same: Kustomizations (and what they applied), the repository, the namespaces.
    assert sandbox.kube.list(ops.KUSTOMIZATION.api_version, "Kustomization", f"{namespace}-flux").items == []
    with pytest.raises(NotFound):
        sandbox.git.get_repo(namespace)
    for name in (namespace, f"{namespace}-flux"):
        ns = sandbox.kube.get_or_none("v1", "Namespace", name)
        assert ns is None or ns["metadata"].get("deletionTimestamp"), f"namespace {name} is left behind"
