"""The reconciler end to end on the embedded cluster, with the local git server: push → applied, change,
prune, broken revisions, dependsOn, drift, suspend/resume, restarts of the reconciler and of the apiserver."""

from __future__ import annotations

import signal
import time
import urllib.request
from typing import Any

import psutil
import pytest
import yaml

from sandbox.errors import WaitTimeout
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.runtime import conditions as cond
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli


def configmap(name: str, namespace: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": namespace}, "data": data})


def namespace(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def deployment(name: str, namespace_name: str, replicas: int = 1) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace_name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}})


def cm(sandbox: SandboxHandle, name: str, ns: str) -> dict[str, Any] | None:
    return sandbox.kube.get_or_none("v1", "ConfigMap", name, ns)


def test_push_change_prune_through_the_webhook(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"apps/ns.yaml": namespace(ns), "apps/a.yaml": configmap("a", ns, v="1"),
                        "apps/b.yaml": configmap("b", ns, v="1")}, "add a and b")
    gitops_repo.kustomization(path="./apps")
    ks = gitops_repo.wait_applied()
    assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{gitops_repo.head}"
    assert ops.ready_condition(ks)["message"] == f"Applied revision: main@sha1:{gitops_repo.head}"
    ids = {e["id"] for e in ks["status"]["inventory"]["entries"]}
    assert ids == {f"_{ns}__Namespace", f"{ns}_a__ConfigMap", f"{ns}_b__ConfigMap"}
    live = cm(sandbox, "a", ns)
    assert live is not None
    assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == gitops_repo.name
    assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] == "flux-system"
    assert any(m["manager"] == "kustomize-controller" for m in live["metadata"]["managedFields"])

    # A change arrives through the webhook alone: the source polls only every minute.
    started = time.monotonic()
    gitops_repo.commit({"apps/a.yaml": configmap("a", ns, v="2")}, "change a")
    gitops_repo.wait_applied(timeout=10)
    assert time.monotonic() - started < 10
    assert cm(sandbox, "a", ns)["data"] == {"v": "2"}  # type: ignore[index]

    # A file removed from git is pruned; an object we never applied is left alone.
    sandbox.kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "bystander", "namespace": ns}, "data": {"x": "y"}})
    gitops_repo.commit({"apps/b.yaml": None}, "remove b")
    gitops_repo.wait_applied()
    wait_until(lambda: cm(sandbox, "b", ns) is None, timeout=10, what="ConfigMap b to be pruned")
    assert cm(sandbox, "bystander", ns) is not None
    events = ops.events(sandbox.kube, "flux-system", for_object=f"Kustomization/{gitops_repo.name}")
    messages = [e["message"] for e in events]
    assert any(f"ConfigMap/{ns}/b deleted" in m for m in messages)
    assert any(m.startswith("Reconciliation finished in") for m in messages)


def test_broken_revision_applies_nothing_and_the_fix_recovers(sandbox: SandboxHandle,
                                                              gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns, v="1")}, "good")
    gitops_repo.kustomization()
    good = gitops_repo.wait_applied()["status"]["lastAppliedRevision"]

    # One valid change and one broken file in the same commit: nothing of it may be applied.
    broken = gitops_repo.commit({"a.yaml": configmap("a", ns, v="2"),
                                 "bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n"},
                                "half good, half broken")
    ks = gitops_repo.wait_failed(sha=broken)
    ready = ops.ready_condition(ks)
    assert ready["reason"] == "BuildFailed"
    assert "bad.yaml" in ready["message"]
    assert ks["status"]["lastAppliedRevision"] == good
    assert cm(sandbox, "a", ns)["data"] == {"v": "1"}  # type: ignore[index]

    # An unknown kind is caught before anything is applied too.
    unknown = gitops_repo.commit({"bad.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
                                  f"  namespace: {ns}\n"}, "unknown kind")
    ks = gitops_repo.wait_failed(sha=unknown)
    assert "Widget" in ops.ready_condition(ks)["message"]
    assert cm(sandbox, "a", ns)["data"] == {"v": "1"}  # type: ignore[index]

    gitops_repo.commit({"bad.yaml": None}, "fix")
    gitops_repo.wait_applied()
    assert cm(sandbox, "a", ns)["data"] == {"v": "2"}  # type: ignore[index]


def test_depends_on_orders_kustomizations(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"infra/ns.yaml": namespace(ns), "apps/a.yaml": configmap("a", ns, v="1")}, "layout")
    apps = gitops_repo.kustomization(f"{gitops_repo.name}-apps", path="./apps",
                                     dependsOn=[f"{gitops_repo.name}-infra"])
    ks = wait_until(lambda: (k := gitops_repo.get_kustomization(apps)) and
                    ops.ready_condition(k).get("reason") == "DependencyNotReady" and k,
                    timeout=30, what="apps to wait for its dependency")
    assert f"dependency 'flux-system/{gitops_repo.name}-infra'" in ops.ready_condition(ks)["message"]
    # It looks again every --requeue-dependency (the session sandbox's: sandbox_requeue_dependency in pyproject).
    interval = (sandbox.refresh()["services"]["reconciler"]).get("requeue_dependency", "30s")
    wait_until(lambda: any(e["message"] == f"Dependencies do not meet ready condition, retrying in {interval}"
                           for e in ops.events(sandbox.kube, "flux-system", for_object=f"Kustomization/{apps}")),
               timeout=10, what=f"the DependencyNotReady event quoting {interval}")
    assert cm(sandbox, "a", ns) is None
    gitops_repo.kustomization(f"{gitops_repo.name}-infra", path="./infra")
    infra = gitops_repo.wait_applied(f"{gitops_repo.name}-infra")
    applied = gitops_repo.wait_applied(apps, timeout=60)  # the next look at the dependency
    assert cm(sandbox, "a", ns) is not None
    infra_ready = ops.ready_condition(infra)["lastTransitionTime"]
    assert ops.ready_condition(applied)["lastTransitionTime"] >= infra_ready


def test_drift_is_reverted(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "web.yaml": deployment("web", ns, 2)}, "web")
    name = gitops_repo.kustomization(wait=True)
    gitops_repo.wait_applied()
    sandbox.kube.patch("apps/v1", "Deployment", "web", ns, {"spec": {"replicas": 5}}, field_manager="kubectl-edit")
    assert sandbox.kube.get("apps/v1", "Deployment", "web", ns)["spec"]["replicas"] == 5
    ops.request_reconcile(sandbox.kube, ops.KUSTOMIZATION, name, "flux-system", timeout=60)
    assert sandbox.kube.get("apps/v1", "Deployment", "web", ns)["spec"]["replicas"] == 2
    events = ops.events(sandbox.kube, "flux-system", for_object=f"Kustomization/{name}")
    assert any(f"Deployment/{ns}/web configured" in e["message"] for e in events)


def test_suspend_stops_changes_and_resume_catches_up(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns, v="1")}, "a")
    name = gitops_repo.kustomization()
    gitops_repo.wait_applied()
    assert run_cli("suspend", "kustomization", name, "--name", sandbox.name).exit_code == 0
    pushed = gitops_repo.commit({"a.yaml": configmap("a", ns, v="2")}, "while suspended")
    gitops_repo.wait_for_source(pushed)
    # The source moved on; the suspended Kustomization does not. Reconcile requests are refused, too.
    result = run_cli("reconcile", "kustomization", name, "--name", sandbox.name)
    assert result.exit_code == 1 and "suspended" in result.output
    assert cm(sandbox, "a", ns)["data"] == {"v": "1"}  # type: ignore[index]
    assert not gitops_repo.get_kustomization(name)["status"]["lastAppliedRevision"].endswith(pushed)
    result = run_cli("resume", "kustomization", name, "--name", sandbox.name)
    assert result.exit_code == 0, result.output
    assert pushed in result.output
    assert cm(sandbox, "a", ns)["data"] == {"v": "2"}  # type: ignore[index]


def test_metrics_and_cli_views(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns, v="1")}, "a")
    name = gitops_repo.kustomization()
    gitops_repo.wait_applied()
    metrics_url = sandbox.refresh()["services"]["reconciler"]["metrics"]
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    assert (f'gotk_reconcile_duration_seconds_count{{kind="Kustomization",name="{name}",namespace="flux-system"}}'
            in text)
    assert 'customresource_kind="Kustomization"' in text and f'name="{name}"' in text
    assert 'ready="True"' in text

    tree = run_cli("tree", "kustomization", name, "--name", sandbox.name, "-o", "json")
    assert tree.exit_code == 0
    labels = [c["resource"] for c in yaml.safe_load(tree.stdout)["children"]]
    assert labels == [f"Namespace/{ns}", f"ConfigMap/{ns}/a"]
    got = run_cli("get", "kustomizations", "--name", sandbox.name, "-o", "json")
    rows = {r["name"]: r for r in yaml.safe_load(got.stdout)}
    assert rows[name]["ready"] == "True" and rows[name]["revision"].endswith(gitops_repo.head)
    reconciled = run_cli("reconcile", "kustomization", name, "--with-source", "--name", sandbox.name)
    assert reconciled.exit_code == 0 and gitops_repo.head in reconciled.output


def _reconciler_pid(sandbox: SandboxHandle) -> int:
    return int(next(c["pid"] for c in sandbox.refresh()["components"] if c["name"] == "reconciler"))


def test_reconciler_restart_converges_without_duplicate_work(sandbox: SandboxHandle,
                                                             gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns, v="1")}, "a")
    name = gitops_repo.kustomization()
    gitops_repo.wait_applied()
    version_before = cm(sandbox, "a", ns)["metadata"]["resourceVersion"]  # type: ignore[index]
    old = _reconciler_pid(sandbox)
    psutil.Process(old).send_signal(signal.SIGKILL)
    wait_until(lambda: (pid := _reconciler_pid(sandbox)) != old and next(
        c for c in sandbox.refresh()["components"] if c["name"] == "reconciler")["state"] == "ready" and pid,
        timeout=60, what="the reconciler to be restarted")
    # The restarted reconciler reconciles everything once; an unchanged revision writes nothing.
    ops.request_reconcile(sandbox.kube, ops.KUSTOMIZATION, name, "flux-system", timeout=60)
    assert cm(sandbox, "a", ns)["metadata"]["resourceVersion"] == version_before  # type: ignore[index]
    # And it still follows git.
    gitops_repo.commit({"a.yaml": configmap("a", ns, v="2")}, "after restart")
    gitops_repo.wait_applied()
    assert cm(sandbox, "a", ns)["data"] == {"v": "2"}  # type: ignore[index]


def test_reconciler_stops_within_two_seconds_of_sigterm(sandbox: SandboxHandle) -> None:
    old = psutil.Process(_reconciler_pid(sandbox))

    def exited() -> bool:
        try:
            return old.status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped by the supervisor
        except psutil.NoSuchProcess:
            return True

    started = time.monotonic()
    old.send_signal(signal.SIGTERM)
    wait_until(exited, timeout=10, interval=0.02, max_interval=0.02, what="the reconciler to exit after SIGTERM")
    assert time.monotonic() - started < 2.0
    wait_until(lambda: (pid := _reconciler_pid(sandbox)) != old.pid and next(
        c for c in sandbox.refresh()["components"] if c["name"] == "reconciler")["state"] == "ready" and pid,
        timeout=60, what="the reconciler to be restarted")


@pytest.mark.timeout(240)
def test_apiserver_restart_mid_watch_is_survived(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns, v="1")}, "a")
    gitops_repo.kustomization()
    gitops_repo.wait_applied()
    apiserver = next(c for c in sandbox.refresh()["components"] if c["name"] == "kube-apiserver")
    psutil.Process(apiserver["pid"]).send_signal(signal.SIGKILL)
    wait_until(lambda: next(c for c in sandbox.refresh()["components"] if c["name"] == "kube-apiserver")["state"]
               == "ready" and sandbox.kube.healthy(), timeout=90, what="kube-apiserver to be back")
    # Watches reconnect: a push after the restart is applied through the webhook, not the 1-minute poll.
    gitops_repo.commit({"a.yaml": configmap("a", ns, v="2")}, "after apiserver restart")
    gitops_repo.wait_applied(timeout=30)
    assert cm(sandbox, "a", ns)["data"] == {"v": "2"}  # type: ignore[index]


def test_a_namespaced_object_without_a_namespace_fails_the_revision_as_under_flux(sandbox: SandboxHandle,
                                                                                  gitops_repo: GitOpsRepo) -> None:
    """Flux does not put it into "default" (kubectl would): the dry-run fails, nothing of the revision applies."""
    name, ns = f"{gitops_repo.name}-cm", f"{gitops_repo.name}-ns"
    sha = gitops_repo.commit({"cm.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                         "metadata": {"name": name}, "data": {"a": "1"}}),
                              "ns.yaml": namespace(ns), "other.yaml": configmap("other", ns)}, "no ns")
    gitops_repo.kustomization()
    ks = gitops_repo.wait_failed(sha=sha)
    ready = ops.ready_condition(ks)
    assert ready["reason"] == "ReconciliationFailed"
    assert f"ConfigMap/{name} namespace not specified: the server could not find the requested resource" in \
        ready["message"]
    assert cm(sandbox, name, "default") is None
    assert sandbox.kube.get_or_none("v1", "Namespace", ns) is None, "nothing of the failing revision was applied"


def test_wait_does_not_wait_for_skipped_objects(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                registry: Any) -> None:
    """An object applied with ssa: IfNotPresent is skipped once it exists: health checks leave it out, as Flux's
    do, even when it is not healthy (it waited for it until its timeout before)."""
    ns = f"{gitops_repo.name}-ns"
    web = yaml.safe_load(deployment("web", ns))
    web["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    gitops_repo.commit({"ns.yaml": namespace(ns), "web.yaml": yaml.safe_dump(web), "a.yaml": configmap("a", ns)},
                       "web once")
    name = gitops_repo.kustomization()
    gitops_repo.wait_applied()
    # Someone points the live Deployment at an image that cannot be pulled: it will never be Ready.
    sandbox.kube.patch("apps/v1", "Deployment", "web", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": f"{registry.cluster_host}/absent:1"}]}}}}, patch_type="strategic")
    ks = gitops_repo.get_kustomization(name)
    sandbox.kube.patch(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system", {"spec": {"wait": True}})
    sha = gitops_repo.commit({"a.yaml": configmap("a", ns, v="2")}, "a change")
    applied = gitops_repo.wait_applied(name, sha)  # with the skipped Deployment waited for, it failed its health check
    assert ops.ready_condition(applied)["status"] == "True"
    assert ks["metadata"]["uid"] == applied["metadata"]["uid"]
    live = sandbox.kube.get("apps/v1", "Deployment", "web", ns)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/absent:1"), "skipped: not applied"


def test_waiting_for_a_missing_source_is_reported_without_a_warning(sandbox: SandboxHandle,
                                                                    gitops_repo: GitOpsRepo) -> None:
    """As kustomize-controller: Ready=False ArtifactFailed naming the source, and no Warning event (every `sandbox
    up` used to emit one while the fleet source fetched its first revision)."""
    missing = f"{gitops_repo.name}-missing"
    name = gitops_repo.kustomization(f"{gitops_repo.name}-orphan", sourceRef={"kind": "GitRepository",
                                                                             "name": missing})
    try:
        ks = wait_until(lambda: (k := gitops_repo.get_kustomization(name)) and
                        ops.ready_condition(k).get("reason") == "ArtifactFailed" and k,
                        timeout=30, what="the Kustomization to report its missing source")
        assert ops.ready_condition(ks)["message"] == (
            f"unable to get source 'flux-system/{missing}': gitrepositories.source.toolkit.fluxcd.io \"{missing}\" "
            "not found")
        warnings = [e for e in sandbox.kube.list("v1", "Event", "flux-system").items
                    if e["involvedObject"].get("name") == name and e.get("type") == "Warning"]
        assert warnings == []
    finally:  # it does not follow the fixture's repository, so the fixture would not remove it
        sandbox.kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")


def job(name: str, ns: str, message: str) -> str:
    return yaml.safe_dump({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns},
                           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                               {"name": "run", "image": "busybox:1.36", "command": ["echo", message]}]}}}})


def test_an_immutable_change_fails_without_force_and_recreates_with_it(sandbox: SandboxHandle,
                                                                       gitops_repo: GitOpsRepo) -> None:
    """A Job's template cannot change: the dry-run says so and nothing is applied; with spec.force the Job is
    deleted and created again (the dry-run failing used to stop force from ever being tried)."""
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "job.yaml": job("migrate", ns, "one")}, "migrate")
    name = gitops_repo.kustomization()
    gitops_repo.wait_applied()
    first = sandbox.kube.get("batch/v1", "Job", "migrate", ns)
    sha = gitops_repo.commit({"job.yaml": job("migrate", ns, "two")}, "migrate again")
    failed = gitops_repo.wait_failed(sha=sha)
    assert "field is immutable" in ops.ready_condition(failed)["message"]
    assert sandbox.kube.get("batch/v1", "Job", "migrate", ns)["metadata"]["uid"] == first["metadata"]["uid"]
    sandbox.kube.patch(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system", {"spec": {"force": True}})
    gitops_repo.wait_applied(name, sha)
    second = sandbox.kube.get("batch/v1", "Job", "migrate", ns)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert second["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "two"]


def test_a_failing_revision_leaves_no_namespace_it_created_behind(sandbox: SandboxHandle,
                                                                  gitops_repo: GitOpsRepo) -> None:
    """Objects in a Namespace the revision itself creates cannot be dry-run first; when one fails at apply, the
    Namespace (and what was created in it) is deleted again instead of staying behind outside any inventory."""
    ns = f"{gitops_repo.name}-ns"
    broken = yaml.safe_load(deployment("web", ns))
    del broken["spec"]["selector"]  # the API server rejects a Deployment without a selector
    sha = gitops_repo.commit({"ns.yaml": namespace(ns), "ok.yaml": configmap("ok", ns),
                              "web.yaml": yaml.safe_dump(broken)}, "broken in a new namespace")
    gitops_repo.kustomization()
    failed = gitops_repo.wait_failed(sha=sha)
    message = ops.ready_condition(failed)["message"]
    assert "Deployment/" in message and "apply failed" in message
    assert f"Namespace/{ns} deleted again: created by this failing revision" in message
    wait_until(lambda: (live := sandbox.kube.get_or_none("v1", "Namespace", ns)) is None
               or bool(live["metadata"].get("deletionTimestamp")),
               timeout=30, what=f"Namespace {ns} to be deleted again")
    assert not (failed.get("status") or {}).get("inventory", {}).get("entries")


def test_a_secret_value_in_an_api_error_never_reaches_status_or_events(sandbox: SandboxHandle,
                                                                       gitops_repo: GitOpsRepo) -> None:
    """postBuild.substituteFrom puts a Secret's value where the API server rejects it, quoting the value: the
    Ready message and the Warning event show *** in its place."""
    ns = f"{gitops_repo.name}-ns"
    value = f"s3cret!{gitops_repo.name}"  # "!" makes it an invalid label value, which the API server quotes
    sandbox.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{gitops_repo.name}-vars",
                                                                           "namespace": "flux-system"},
                        "stringData": {"team": value}}, field_manager="test")
    try:
        labelled = yaml.safe_load(deployment("web", ns))
        labelled["spec"]["template"]["metadata"]["labels"]["team"] = "${team}"  # not a valid label value
        sha = gitops_repo.commit({"ns.yaml": namespace(ns), "web.yaml": yaml.safe_dump(labelled)}, "team label")
        name = gitops_repo.kustomization(postBuild={"substituteFrom": [{"kind": "Secret",
                                                                        "name": f"{gitops_repo.name}-vars"}]})
        failed = gitops_repo.wait_failed(sha=sha)
        message = ops.ready_condition(failed)["message"]
        assert "***" in message and value not in message, message
        events = [e for e in sandbox.kube.list("v1", "Event", "flux-system").items
                  if e["involvedObject"].get("name") == name and e.get("type") == "Warning"]
        assert events and all(value not in e.get("message", "") for e in events)
    finally:
        sandbox.kube.delete("v1", "Secret", f"{gitops_repo.name}-vars", "flux-system")


def web_with_image(ns: str, image: str) -> str:
    web = yaml.safe_load(deployment("web", ns))
    web["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return yaml.safe_dump(web)


def wait_health_checks_running(gitops_repo: GitOpsRepo, name: str) -> None:
    def running() -> bool:
        conditions = (gitops_repo.get_kustomization(name).get("status") or {}).get("conditions")
        return "Running health checks" in str((cond.find(conditions, cond.RECONCILING) or {}).get("message"))

    wait_until(running, timeout=60, what=f"the health checks of Kustomization {name} to start")


def test_history_records_each_outcome_of_each_build(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    """status.history as Flux keeps it: a snapshot per (digest of the built manifests, outcome), newest first,
    updated in place when the same manifests reconcile again with the same outcome."""
    ns = f"{gitops_repo.name}-ns"
    first = gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns, v="1")}, "one")
    gitops_repo.wait_for_source(first)
    name = gitops_repo.kustomization()
    applied = gitops_repo.wait_applied()
    [snapshot] = applied["status"]["history"]
    assert snapshot["totalReconciliations"] == 1
    ops.request_reconcile(sandbox.kube, ops.KUSTOMIZATION, name, "flux-system")
    again = gitops_repo.get_kustomization(name)
    [snapshot] = again["status"]["history"]
    assert snapshot["totalReconciliations"] == 2, "the same manifests, the same outcome: one snapshot, counted"
    assert snapshot["lastReconciledStatus"] == "ReconciliationSucceeded"
    assert snapshot["metadata"] == {"revision": f"main@sha1:{first}"}
    assert snapshot["digest"].startswith("sha256:")
    second = gitops_repo.commit({"a.yaml": configmap("a", ns, v="2")}, "two")
    changed = gitops_repo.wait_applied(name, second)
    assert [s["metadata"]["revision"] for s in changed["status"]["history"]] == [f"main@sha1:{second}",
                                                                                 f"main@sha1:{first}"]
    assert "lastAppliedOriginRevision" not in changed["status"], "a git source has no origin revision"


def test_a_new_revision_cancels_the_health_check_of_the_old_one(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                                registry: Any) -> None:
    """Flux's CancelHealthCheckOnNewRevision, on here: a revision whose Deployment can never become ready no longer
    holds the fix back for the whole timeout (10 min here) — the wait is canceled, saying why, and the fix applies."""
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "web.yaml": web_with_image(ns, f"{registry.cluster_host}/absent:1")},
                       "a broken image")
    name = gitops_repo.kustomization(wait=True, timeout="10m")
    wait_health_checks_running(gitops_repo, name)
    fix = gitops_repo.commit({"web.yaml": web_with_image(ns, "nginx:1.25")}, "the fix")
    applied = gitops_repo.wait_applied(name, fix, timeout=90)
    assert ops.ready_condition(applied)["reason"] == "ReconciliationSucceeded"
    events = [e for e in sandbox.kube.list("v1", "Event", "flux-system").items
              if e["involvedObject"].get("name") == name and e.get("reason") == "HealthCheckCanceled"]
    assert [e["message"] for e in events] == [
        f"Health checks canceled due to new reconciliation triggered by GitRepository/flux-system/"
        f"{gitops_repo.source_name}"]
    assert events[0]["type"] == "Normal"


def test_deleting_a_kustomization_cancels_its_health_check(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                           registry: Any) -> None:
    """Deleting a Kustomization whose health check waits (10 min here) no longer leaves it Terminating until the
    timeout: the wait is canceled and the finalizer prunes at once."""
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "web.yaml": web_with_image(ns, f"{registry.cluster_host}/absent:1")},
                       "a broken image")
    name = gitops_repo.kustomization(wait=True, timeout="10m")
    wait_health_checks_running(gitops_repo, name)
    sandbox.kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
    wait_until(lambda: sandbox.kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", name,
                                                "flux-system") is None,
               timeout=60, what="the Kustomization to be gone")
    wait_until(lambda: sandbox.kube.get_or_none("apps/v1", "Deployment", "web", ns) is None, timeout=30,
               what="its Deployment to be pruned")


def test_a_watched_config_map_reconciles_the_kustomizations_substituting_from_it(sandbox: SandboxHandle,
                                                                                gitops_repo: GitOpsRepo) -> None:
    """The reconcile.fluxcd.io/watch: Enabled label: changing a ConfigMap that postBuild.substituteFrom reads
    re-applies at once, not at the next interval (10 min here)."""
    ns = f"{gitops_repo.name}-ns"
    variables = f"{gitops_repo.name}-vars"
    sandbox.kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": variables, "namespace": "flux-system",
                                     "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
                        "data": {"colour": "blue"}}, field_manager="test")
    try:
        gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns, colour="${colour}")}, "vars")
        name = gitops_repo.kustomization(interval="10m",
                                         postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": variables}]})
        gitops_repo.wait_applied(name)
        assert (cm(sandbox, "a", ns) or {})["data"] == {"colour": "blue"}
        sandbox.kube.patch("v1", "ConfigMap", variables, "flux-system", {"data": {"colour": "green"}})
        wait_until(lambda: (cm(sandbox, "a", ns) or {}).get("data") == {"colour": "green"}, timeout=30,
                   what="the new value to be substituted and applied")
    finally:
        sandbox.kube.delete("v1", "ConfigMap", variables, "flux-system")


@pytest.mark.parametrize(("policy", "prune", "deleted"), [
    ("MirrorPrune", True, True), ("MirrorPrune", False, False), ("Delete", False, True), ("Orphan", True, False),
])
def test_deletion_policy_decides_what_deleting_a_kustomization_removes(sandbox: SandboxHandle,
                                                                       gitops_repo: GitOpsRepo, policy: str,
                                                                       prune: bool, deleted: bool) -> None:
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "a.yaml": configmap("a", ns)}, "a")
    name = gitops_repo.kustomization(prune=prune, deletionPolicy=policy)
    gitops_repo.wait_applied()
    sandbox.kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
    wait_until(lambda: sandbox.kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", name,
                                                "flux-system") is None, timeout=30, what="the Kustomization to go")
    assert (cm(sandbox, "a", ns) is None) is deleted
    if not deleted:
        sandbox.kube.delete("v1", "Namespace", ns)


def test_wait_for_termination_holds_the_kustomization_until_its_objects_are_gone(sandbox: SandboxHandle,
                                                                                 gitops_repo: GitOpsRepo) -> None:
    """deletionPolicy: WaitForTermination: the Kustomization stays (Terminating) while an object it pruned is
    still terminating (held here by a finalizer), and goes once that object is gone; a Normal event lists what
    was deleted."""
    ns = f"{gitops_repo.name}-ns"
    held = yaml.safe_load(configmap("held", ns))
    held["metadata"]["finalizers"] = ["test.gitops-sandbox/hold"]
    gitops_repo.commit({"ns.yaml": namespace(ns), "held.yaml": yaml.safe_dump(held)}, "held")
    name = gitops_repo.kustomization(deletionPolicy="WaitForTermination", timeout="5m")
    gitops_repo.wait_applied()
    sandbox.kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
    wait_until(lambda: (cm(sandbox, "held", ns) or {}).get("metadata", {}).get("deletionTimestamp"), timeout=30,
               what="the ConfigMap to be deleted")
    with pytest.raises(WaitTimeout):  # held while its object terminates (without the policy: gone at once)
        wait_until(lambda: sandbox.kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", name,
                                                    "flux-system") is None, timeout=3, what="the Kustomization to go")
    table = run_cli("get", "kustomizations", "--name", sandbox.name).stdout
    assert any(name in line and "Terminating" in line for line in table.splitlines()), table
    sandbox.kube.patch("v1", "ConfigMap", "held", ns, {"metadata": {"finalizers": None}})
    wait_until(lambda: sandbox.kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", name,
                                                "flux-system") is None, timeout=30, what="the Kustomization to go")
    events = [e["message"] for e in sandbox.kube.list("v1", "Event", "flux-system").items
              if e["involvedObject"].get("name") == name and e.get("type") == "Normal"]
    assert any(f"ConfigMap/{ns}/held deleted" in message for message in events)


@pytest.mark.parametrize("protection", ["ssa: IfNotPresent in git", "reconcile: disabled on the live object"])
def test_an_existing_object_not_created_by_flux_is_protected(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                             protection: str) -> None:
    """As under Flux, the skip rules look at the live object whoever made it: an object created by hand (no owner
    labels) is left alone with `ssa: IfNotPresent` in git or `reconcile: disabled` on it (it used to be
    overwritten, since only objects labelled as ours were looked up)."""
    ns = f"{gitops_repo.name}-ns"
    sandbox.kube.apply(yaml.safe_load(namespace(ns)), field_manager="test")
    live = yaml.safe_load(configmap("settings", ns, v="by-hand"))
    desired = yaml.safe_load(configmap("settings", ns, v="from-git"))
    if protection.startswith("ssa"):
        desired["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    else:
        live["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}
    sandbox.kube.apply(live, field_manager="test")
    try:
        gitops_repo.commit({"settings.yaml": yaml.safe_dump(desired), "other.yaml": configmap("other", ns)}, "both")
        gitops_repo.kustomization(prune=False)
        gitops_repo.wait_applied()
        assert (cm(sandbox, "settings", ns) or {})["data"] == {"v": "by-hand"}
        assert cm(sandbox, "other", ns) is not None
    finally:
        sandbox.kube.delete("v1", "Namespace", ns)


def test_a_skipped_object_does_not_fail_the_dry_run(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    """A Job whose template changed cannot be applied (immutable), but with `ssa: IfNotPresent` it is skipped once
    it exists: as under Flux its dry-run failure does not fail the revision."""
    ns = f"{gitops_repo.name}-ns"
    first = yaml.safe_load(job("migrate", ns, "one"))
    first["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    gitops_repo.commit({"ns.yaml": namespace(ns), "job.yaml": yaml.safe_dump(first)}, "migrate")
    gitops_repo.kustomization()
    gitops_repo.wait_applied()
    second = yaml.safe_load(job("migrate", ns, "two"))
    second["metadata"]["annotations"] = first["metadata"]["annotations"]
    sha = gitops_repo.commit({"job.yaml": yaml.safe_dump(second), "a.yaml": configmap("a", ns)}, "migrate again")
    gitops_repo.wait_applied(sha=sha)
    live = sandbox.kube.get("batch/v1", "Job", "migrate", ns)
    assert live["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "one"]


def test_ignored_paths_are_left_to_their_owner(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    """spec.ignore, as kustomize-controller's DriftIgnoreRules: replicas that an autoscaler sets (its own
    server-side apply) stay its own, a hand edit of an ignored field is kept even when the object is applied for
    another change, and a change at a path no rule names is still reverted."""
    ns = f"{gitops_repo.name}-ns"
    gitops_repo.commit({"ns.yaml": namespace(ns), "web.yaml": deployment("web", ns, 2),
                        "cm.yaml": configmap("settings", ns, mode="a", level="1")}, "web")
    name = gitops_repo.kustomization(ignore=[
        {"paths": ["/spec/replicas"], "target": {"kind": "Deployment", "name": "w.*"}},
        {"paths": ["/data/level"], "target": {"kind": "ConfigMap"}}])
    gitops_repo.wait_applied()
    autoscaler = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                  "spec": {"replicas": 4}}
    sandbox.kube.apply(autoscaler, field_manager="autoscaler", force=True)
    sandbox.kube.patch("v1", "ConfigMap", "settings", ns, {"data": {"level": "9", "mode": "b"}},
                       field_manager="kubectl-edit")
    ops.request_reconcile(sandbox.kube, ops.KUSTOMIZATION, name, "flux-system", timeout=60)
    web = sandbox.kube.get("apps/v1", "Deployment", "web", ns)
    assert web["spec"]["replicas"] == 4
    assert any(m["manager"] == "autoscaler" for m in web["metadata"]["managedFields"])
    # mode is not ignored: reverted; level is, and this Kustomization owned it alone: the live value is kept.
    assert cm(sandbox, "settings", ns)["data"] == {"mode": "a", "level": "9"}  # type: ignore[index]

    # A new revision changes the Deployment elsewhere: applied, and the autoscaler's replicas stay.
    gitops_repo.commit({"web.yaml": deployment("web", ns, 2).replace("nginx:1.25", "nginx:1.27")}, "new image")
    gitops_repo.wait_applied()
    web = sandbox.kube.get("apps/v1", "Deployment", "web", ns)
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert web["spec"]["replicas"] == 4

    # Without the rule, the desired replicas win again.
    gitops_repo.kustomization(name, ignore=[])
    wait_until(lambda: sandbox.kube.get("apps/v1", "Deployment", "web", ns)["spec"]["replicas"] == 2, timeout=60,
               what="replicas to return to the desired 2 once nothing is ignored")
