"""The step types of the image automation scenarios: a bad release pushed (``push_image`` with ``crash``), a commit
someone else pushes (``await_commit``), a pull request merged (``merge_pr``); the reconcile/suspend/resume steps on
the image kinds; and the image-automation feature."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from sandbox.reconciler import support
from sandbox.scenario import features, gitsteps
from sandbox.scenario.loader import ScenarioInvalid, load

HEADER = "title: T\nsummary: S\n"


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.yaml").write_text(HEADER + textwrap.dedent(text))
    return folder


def test_the_image_steps_load_and_their_ids_name_commits(tmp_path: Path) -> None:
    scenario = load(write(tmp_path, """\
        steps:
          - push_image: {image: "app-${run}:1.1.0", crash: true}
          - await_commit: "app-${run}:1.1.0"
          - await_commit:
              id: bump
              message: Deploy
              branch: ${branch}
              timeout: 30s
          - suspend: ImageUpdateAutomation/app
          - resume: {object: ImageUpdateAutomation/app, timeout: 30s}
          - reconcile: ImageRepository/app
          - merge_pr:
              id: merged
              head: flux-image-updates
              title: app
          - wait: {ready: Kustomization/apps, revision: bump}
          - wait: {ready: Kustomization/apps, revision: merged}
        """))
    bodies = [step.body for step in scenario.steps]
    assert bodies[0] == {"image": "app-${run}:1.1.0", "crash": True}
    assert bodies[1] == {"message": "app-${run}:1.1.0"}
    assert bodies[6] == {"id": "merged", "head": "flux-image-updates", "title": "app"}
    assert scenario.needs == ("registry",)


@pytest.mark.parametrize(("text", "field", "message"), [
    ("  - await_commit: {branch: main}\n", "steps[0].await_commit", "missing required field 'message'"),
    ("  - merge_pr: {head: x, id: Bad}\n", "steps[0].merge_pr.id", "does not match"),
    ("  - merge_pr: {id: a}\n  - await_commit: {message: m, id: a}\n", "steps[1].await_commit.id",
     "id 'a' is already used"),
    ("  - push_image: {image: app:1, crash: yes please}\n", "steps[0].push_image.crash", "is not of type 'boolean'"),
], ids=["await-without-message", "merge-bad-id", "duplicate-id", "crash-not-boolean"])
def test_bad_image_steps_are_rejected(tmp_path: Path, text: str, field: str, message: str) -> None:
    with pytest.raises(ScenarioInvalid) as caught:
        load(write(tmp_path, "steps:\n" + text))
    rendered = [str(issue) for issue in caught.value.issues]
    assert any(f": {field}: " in r and message in r for r in rendered), "\n".join(rendered)


def pull(number: int, head: str, base: str = "main", title: str = "Update app", state: str = "open",
         ref: str | None = None) -> dict[str, Any]:
    return {"number": number, "title": title, "state": state, "head": {"ref": ref or head, "label": head},
            "base": {"ref": base}}


@pytest.mark.parametrize(("pr", "head", "title", "expected"), [
    (pull(1, "flux-image-updates"), "flux-image-updates", None, True),
    # an AGit pull request: head.label "<user>/<topic>", head.ref refs/pull/N/head
    (pull(1, "gitops/flux-image-updates", ref="refs/pull/1/head"), "flux-image-updates", None, True),
    (pull(1, "feature"), "flux-image-updates", None, False),
    (pull(1, "flux-image-updates", base="release"), "flux-image-updates", None, False),
    (pull(1, "flux-image-updates", state="closed"), None, None, False),
    (pull(1, "x", title="Update app to 1.0.1"), None, "1.0.1", True),
    (pull(1, "x", title="Update app to 1.0.1"), None, "2.0.0", False),
], ids=["head", "agit-head", "other-head", "other-base", "closed", "title", "other-title"])
def test_which_pull_request_a_merge_step_takes(pr: dict[str, Any], head: str | None, title: str | None,
                                               expected: bool) -> None:
    assert gitsteps.matches(pr, base="main", head=head, title=title) is expected


def test_image_automation_is_available_where_the_reconciler_has_the_controllers() -> None:
    assert features.not_available("image-automation") is None
    no_reconciler = features.FEATURES["image-automation"].missing_in({"name": "s", "services": {}})
    assert no_reconciler is not None and "runs no reconciler" in no_reconciler
    with_reconciler = features.FEATURES["image-automation"].missing_in({"name": "s", "services": {"reconciler": {}}})
    lacking = [row.kind.kind for row in support.TABLE if row.kind.kind in features.IMAGE_KINDS and not row.ours]
    if lacking:
        assert with_reconciler is not None and all(kind in with_reconciler for kind in lacking)
    else:
        assert with_reconciler is None
    # Beside upstream Flux (whose image controllers cannot be built here) the sandbox's reconciler serves them.
    upstream = features.FEATURES["image-automation"].missing_in(
        {"name": "s", "services": {"flux": {"controllers": {"source-controller": {}}}, "reconciler": {}}})
    assert upstream is None


def test_a_failed_steps_evidence_names_the_pods_that_cannot_start() -> None:
    from types import SimpleNamespace

    from sandbox.scenario import failures
    from tests.unit.reconciler.test_stuckpods import PULL_MESSAGE, FakeKube, deployment, kustomization, pod

    ks = kustomization("False", "HealthCheckFailed", "timeout waiting for: [Deployment/apps/web status: 'InProgress']")
    kube = FakeKube([ks, deployment("web", {"app": "web"}), pod("web-1", {"app": "web"}, "ErrImagePull", PULL_MESSAGE)])
    ctx: Any = SimpleNamespace(kube=kube, flux_namespace="flux-system")
    assert failures.stuck_pods(ctx) == [
        f"Deployment/apps/web: pod web-1 container app waiting in ErrImagePull: {PULL_MESSAGE} "
        "(applied by Kustomization/flux-system/apps)"]
