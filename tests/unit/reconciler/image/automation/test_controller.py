"""The ImageUpdateAutomation reconciler over a fake of the project's Kubernetes client and a real local bare
repository: statuses, reasons and events as image-automation-controller writes them."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.kube.client import ObjectList
from sandbox.reconciler.image.automation import controller as iua
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.tools import commitmsg, git

M = '# {"$imagepolicy": "apps:web"}'
AUTHOR = git.Identity("Bot", "bot@example.com")


class FakeKube:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.objects[(kind, namespace, name)])
        except KeyError:
            raise NotFound(f"{kind}/{namespace}/{name} not found") from None

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return copy.deepcopy(self.objects.get((kind, namespace, name)))

    def list(self, api_version: str, kind: str, namespace: str | None = None, **_: Any) -> ObjectList:
        return ObjectList([copy.deepcopy(o) for (k, ns, _n), o in self.objects.items()
                           if k == kind and ns == namespace], "1")

    def patch_status(self, obj: dict[str, Any], status: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**obj, "status": status}


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((event_type, reason, message))


@pytest.fixture()
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    git.init_bare(bare, default_branch="main")
    seed = tmp_path / "seed"
    git.init_worktree(seed)
    (seed / "deploy.yaml").write_text(f"kind: Deployment\nmetadata:\n  name: web\nimage: reg/web:1.0.0 {M}\n")
    git.git(["add", "--all"], cwd=seed)
    git.git(["commit", "--quiet", "-m", "seed"], cwd=seed, identity=AUTHOR)
    git.git(["push", "--quiet", str(bare), "HEAD:refs/heads/main"], cwd=seed)
    return bare


def objects(remote: Path, **spec: Any) -> list[dict[str, Any]]:
    automation = {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
                  "metadata": {"name": "bump", "namespace": "apps", "generation": 1, "uid": "u"},
                  "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "repo"},
                           "git": {"commit": {"author": {"name": AUTHOR.name, "email": AUTHOR.email}}},
                           "update": {"strategy": "Setters"}, **spec}}
    repository = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                  "metadata": {"name": "repo", "namespace": "apps"},
                  "spec": {"url": str(remote), "ref": {"branch": "main"}, "interval": "1m"}}
    policy = {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
              "metadata": {"name": "web", "namespace": "apps", "labels": {"team": "a"}},
              "status": {"latestRef": {"name": "reg/web", "tag": "1.0.1"}}}
    return [automation, repository, policy]


def run(kube: FakeKube, reconciler: iua.ImageUpdateAutomationReconciler,
        obj: dict[str, Any] | None = None) -> tuple[Any, Events]:
    events = Events()
    ctx = Context(kube=kube, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    target = obj or kube.get("", "ImageUpdateAutomation", "bump", "apps")
    return reconciler.reconcile(target, ctx), events


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return dict(cond.find(status.get("conditions"), cond.READY) or {})


def test_push_status_and_events_then_no_change(remote: Path) -> None:
    kube = FakeKube(objects(remote))
    reconciler = iua.ImageUpdateAutomationReconciler(find_renderer=False)
    result, events = run(kube, reconciler)
    status = result.status
    head = git.git(["--git-dir", str(remote), "rev-parse", "main"]).stdout.strip()
    assert status["lastPushCommit"] == head and status["observedSourceRevision"] == f"main@sha1:{head}"
    assert status["observedPolicies"] == {"web": {"name": "reg/web", "tag": "1.0.1"}}
    assert ready(status) | {"lastTransitionTime": ""} == {
        "type": "Ready", "status": "True", "reason": "Succeeded", "message": "repository up-to-date",
        "observedGeneration": 1, "lastTransitionTime": ""}
    assert events.recorded == [("Normal", "Succeeded", f"pushed commit '{head}' to 'refs/heads/main'\n"
                                                       "Update from image update automation")]
    assert result.requeue_after == 600
    # Nothing changed since: the run is skipped (one ls-remote), no commit, no Kubernetes event.
    kube.objects[("ImageUpdateAutomation", "apps", "bump")]["status"] = status
    again, events = run(kube, reconciler)
    assert again.status["lastPushCommit"] == head and events.recorded == []
    assert git.git(["--git-dir", str(remote), "rev-parse", "main"]).stdout.strip() == head


def test_policy_selector_filters_policies(remote: Path) -> None:
    kube = FakeKube(objects(remote, policySelector={"matchLabels": {"team": "b"}}))
    result, events = run(kube, iua.ImageUpdateAutomationReconciler(find_renderer=False))
    assert result.status["observedPolicies"] == {} and "lastPushCommit" not in result.status
    assert events.recorded == [("Normal", "Succeeded", "repository up-to-date")]


def test_template_without_helper_is_not_supported(remote: Path) -> None:
    kube = FakeKube(objects(remote, git={"commit": {"author": {"email": "a@b"}, "messageTemplate": "{{ . }}"}}))
    result, events = run(kube, iua.ImageUpdateAutomationReconciler(find_renderer=False))
    assert ready(result.status)["reason"] == "NotSupported" and result.requeue_after is None
    assert "run `sandbox setup`" in ready(result.status)["message"]
    assert cond.find(result.status["conditions"], cond.STALLED)
    assert events.recorded[0][:2] == ("Warning", "NotSupported")


def test_removed_template_field_stalls(remote: Path) -> None:
    def renderer(text: str, data: dict[str, Any]) -> commitmsg.Rendered:
        return commitmsg.Rendered(None, "can't evaluate field Updated", ".Updated")

    kube = FakeKube(objects(remote, git={"commit": {"author": {"email": "a@b"}, "messageTemplate": "{{ .Updated }}"}}))
    result, events = run(kube, iua.ImageUpdateAutomationReconciler(renderer=renderer))
    assert ready(result.status)["reason"] == "RemovedTemplateField"
    assert ready(result.status)["message"].startswith("template uses removed '.Updated' field. Please use '.Changed'")
    assert cond.find(result.status["conditions"], cond.STALLED)["status"] == "True"  # type: ignore[index]
    assert events.recorded[0][:2] == ("Warning", "RemovedTemplateField")


@pytest.mark.parametrize(("change", "reason", "stalled", "message"), [
    ({"sourceRef": {"kind": "OCIRepository", "name": "x"}}, "InvalidSourceConfiguration", True,
     "source kind 'OCIRepository' not supported: invalid source configuration"),
    ({"sourceRef": {"kind": "GitRepository", "name": "missing"}}, "SourceManagerFailed", False,
     "failed configuring source manager: referenced git repository does not exist"),
    ({"policySelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
     "InvalidPolicySelector", True, "failed to parse policy selector: "),
    ({"update": {"strategy": "Other"}}, "InvalidUpdateStrategy", True, "unsupported update strategy: Other"),
    ({"update": {"strategy": "Setters", "path": "nope"}}, "UpdateFailed", False,
     "failed to apply policies: walking path for files: lstat nope: no such file or directory"),
    ({"git": {"commit": {"author": {"email": "a@b"}, "signingKey": {"secretRef": {"name": "nokey"}}}}},
     "SourceManagerFailed", False, "could not find signing key secret 'nokey'"),
    ({"git": {"commit": {"author": {"email": "a@b"}}, "checkout": {"ref": {"tag": "v1"}}}},
     "SourceManagerFailed", False, "push spec not provided, and cannot be inferred"),
])
def test_failures(remote: Path, change: dict[str, Any], reason: str, stalled: bool, message: str) -> None:
    kube = FakeKube(objects(remote, **change))
    result, events = run(kube, iua.ImageUpdateAutomationReconciler(find_renderer=False))
    condition = ready(result.status)
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert message in condition["message"]
    assert bool(cond.find(result.status["conditions"], cond.STALLED)) is stalled
    assert (result.requeue_after is None) is stalled, "stalled: not retried; otherwise retried with back-off"
    assert events.recorded[0][:2] == ("Warning", reason)


def test_policy_watch_maps_to_the_namespace_automations() -> None:
    changes = iua.LatestRefChanges()
    policy = {"metadata": {"name": "web", "namespace": "apps"}, "status": {"latestRef": {"name": "a", "tag": "1"}}}
    assert changes.changed(policy) and not changes.changed(policy)
    assert changes.changed({**policy, "status": {"latestRef": {"name": "a", "tag": "2"}}})
    automations = [{"metadata": {"name": "one", "namespace": "apps"}}, {"metadata": {"name": "x", "namespace": "b"}}]
    assert iua.automations_for_policy(policy, automations) == ["apps/one"]


def test_no_credential_in_status_or_events(remote: Path, tmp_path: Path) -> None:
    import base64

    password = "hunter2-do-not-print"
    objs = objects(remote)
    objs[1]["spec"]["url"] = str(tmp_path / "no-such-repo.git")
    objs[1]["spec"]["secretRef"] = {"name": "git-auth"}
    objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git-auth", "namespace": "apps"},
                 "data": {"username": base64.b64encode(b"bot").decode(),
                          "password": base64.b64encode(password.encode()).decode()}})
    result, events = run(FakeKube(objs), iua.ImageUpdateAutomationReconciler(find_renderer=False))
    assert ready(result.status)["reason"] == "GitOperationFailed"
    assert "failed to checkout source" in ready(result.status)["message"]
    assert password not in str(result.status) and password not in str(events.recorded)
