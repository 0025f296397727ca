"""HelmReleases end to end on the embedded cluster, through the Helm SDK: a chart pushed to the sandbox registry,
an OCIRepository selecting its Helm layer, a HelmRelease installing it; upgrades on a values change and on a
watched ConfigMap change; a failing upgrade (a pod the node agent never makes Ready) remediated by rollback, or
retried with RetryOnFailure; retries exhausted and the way out (force, reset); uninstall on deletion; dependsOn;
values failing the chart's schema; no Secret value in status or events."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import helmrepo
from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.helm.actions import Helm
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.registry.base import RegistryEndpoint
from sandbox.waiting import wait_until
from tests.e2e.helpers import state_path

Obj = dict[str, Any]
HR_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
FAIL_READINESS = {"probe.gitops-sandbox.io/readiness": "fail"}

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicaCount }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
      annotations: {{ toJson .Values.podAnnotations }}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          readinessProbe:
            httpGet: {path: /, port: 80}
            periodSeconds: 1
            failureThreshold: 1
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  message: {{ .Values.message | quote }}
"""
SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-credentials
stringData:
  password: {{ .Values.password | quote }}
"""
TEST_HOOK = """apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-smoke
  annotations: {"helm.sh/hook": test}
spec:
  restartPolicy: Never
  containers:
    - name: smoke
      image: {{ .Values.testImage }}
"""
SCHEMA = {"$schema": "https://json-schema.org/draft-07/schema#", "type": "object",
          "properties": {"replicaCount": {"type": "integer", "minimum": 0, "maximum": 5},
                         "password": {"type": "string", "pattern": "^[a-z0-9-]*$"}}}


def make_chart(root: Path, name: str, version: str = "1.0.0") -> Path:
    """A small chart: a Deployment with a readiness probe, a ConfigMap, a Secret, and a values schema."""
    chart = root / f"{name}-{version}"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version,
                                                      "appVersion": "1.0"}))
    (chart / "values.yaml").write_text(yaml.safe_dump({"replicaCount": 1, "message": "hello", "password": "",
                                                       "podAnnotations": {}, "testImage": "busybox:1.36"}))
    (chart / "values.schema.json").write_text(json.dumps(SCHEMA))
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    (chart / "templates" / "secret.yaml").write_text(SECRET)
    (chart / "templates" / "test.yaml").write_text(TEST_HOOK)
    return chart


class HelmApp:
    """A namespace with an OCIRepository following a chart pushed to the sandbox registry, and HelmReleases of it."""

    def __init__(self, sandbox: SandboxHandle, tmp_path: Path) -> None:
        self.sandbox, self.kube, self.tmp = sandbox, sandbox.kube, tmp_path
        self.chart = f"hr{uuid.uuid4().hex[:6]}"
        self.namespace = f"{self.chart}-ns"
        self.releases: list[str] = []
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
                        field_manager="sandbox")

    def push(self, version: str = "1.0.0") -> Obj:
        return helmrepo.push_chart(self.sandbox.name, make_chart(self.tmp, self.chart, version))

    def source(self, pushed: Obj) -> None:
        self.kube.apply({"apiVersion": SOURCE_API, "kind": "OCIRepository",
                         "metadata": {"name": self.chart, "namespace": self.namespace},
                         "spec": {"url": f"{pushed['oci']['repository']}/{self.chart}", "insecure": True,
                                  "interval": "10m", "ref": {"semver": "*"},
                                  "layerSelector": {"mediaType": HELM_LAYER, "operation": "copy"}}},
                        field_manager="sandbox")

    def release(self, name: str, **spec: Any) -> None:
        if name not in self.releases:
            self.releases.append(name)
        body = {"interval": "10m", "timeout": "30s",
                "chartRef": {"kind": "OCIRepository", "name": self.chart}, **spec}
        self.kube.apply({"apiVersion": HR_API, "kind": "HelmRelease",
                         "metadata": {"name": name, "namespace": self.namespace}, "spec": body},
                        field_manager="sandbox")

    def get(self, name: str) -> Obj:
        return self.kube.get(HR_API, "HelmRelease", name, self.namespace)

    def wait(self, name: str, predicate: Callable[[Obj], bool], what: str, timeout: float = 60) -> Obj:
        def check() -> Obj | None:
            obj = self.get(name)
            return obj if predicate(obj) else None

        return wait_until(check, timeout=timeout, what=f"HelmRelease {name} {what}", interval=0.2,
                          describe=lambda: json.dumps((self.get(name).get("status") or {}).get("conditions")))

    def wait_ready(self, name: str, message_start: str = "", timeout: float = 60) -> Obj:
        def ready(obj: Obj) -> bool:
            condition = ops.ready_condition(obj)
            return (condition.get("status") == "True" and condition.get("observedGeneration") ==
                    obj["metadata"]["generation"] and str(condition.get("message", "")).startswith(message_start))
        return self.wait(name, ready, f"to be Ready ({message_start or 'any'})", timeout)

    def configmap(self, release: str) -> Obj | None:
        return self.kube.get_or_none("v1", "ConfigMap", f"{release}-settings", self.namespace)

    def request(self, name: str, **annotations: str) -> str:
        """What `sandbox reconcile helmrelease` writes: requestedAt, with forceAt/resetAt equal to it."""
        stamp = uuid.uuid4().hex
        values = {REQUESTED_AT: stamp, **{key: stamp for key in annotations.values()}}
        self.kube.patch(HR_API, "HelmRelease", name, self.namespace, {"metadata": {"annotations": values}})
        return stamp

    def events(self, name: str) -> list[Obj]:
        return ops.events(self.kube, self.namespace, for_object=f"HelmRelease/{name}")

    def close(self) -> None:
        for name in self.releases:
            self.kube.delete(HR_API, "HelmRelease", name, self.namespace)
        for name in self.releases:
            wait_until(lambda n=name: self.kube.get_or_none(HR_API, "HelmRelease", n, self.namespace) is None,
                       timeout=60, what=f"HelmRelease {name} to be deleted")
        self.kube.delete(SOURCE_API, "OCIRepository", self.chart, self.namespace)
        self.kube.delete("v1", "Namespace", self.namespace)


@pytest.fixture
def helm_app(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[HelmApp]:
    app = HelmApp(sandbox, tmp_path)
    try:
        yield app
    finally:
        app.close()


def conditions_of(obj: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def test_install_from_oci_chart_ref_then_upgrade_on_values_and_on_a_watched_configmap(helm_app: HelmApp) -> None:
    pushed = helm_app.push()
    helm_app.source(pushed)
    digest = pushed["oci"]["digest"]
    version = f"1.0.0+{digest.removeprefix('sha256:')[:12]}"
    helm_app.kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "extra", "namespace": helm_app.namespace,
                                      "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
                         "data": {"values.yaml": "message: from-configmap\n"}}, field_manager="sandbox")
    helm_app.release("web", valuesFrom=[{"kind": "ConfigMap", "name": "extra"}], values={"replicaCount": 2})
    hr = helm_app.wait_ready("web", "Helm install succeeded")
    assert ops.ready_condition(hr)["message"] == \
        f"Helm install succeeded for release {helm_app.namespace}/web.v1 with chart {helm_app.chart}@{version}"
    status = hr["status"]
    assert conditions_of(hr)["Released"]["reason"] == "InstallSucceeded"
    assert status["lastAttemptedRevision"] == version and status["lastAttemptedRevisionDigest"] == digest
    assert status["storageNamespace"] == helm_app.namespace and status["lastAttemptedReleaseAction"] == "install"
    [snap] = status["history"]
    assert (snap["version"], snap["status"], snap["chartName"], snap["chartVersion"], snap["action"]) == \
        (1, "deployed", helm_app.chart, version, "install")
    assert snap["configDigest"] == status["lastAttemptedConfigDigest"]
    ids = {e["id"] for e in status["inventory"]["entries"]}
    assert {f"{helm_app.namespace}_web_apps_Deployment", f"{helm_app.namespace}_web-settings__ConfigMap"} <= ids
    deployment = helm_app.kube.get("apps/v1", "Deployment", "web", helm_app.namespace)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"
    assert deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"] == helm_app.namespace
    assert (helm_app.configmap("web") or {})["data"]["message"] == "from-configmap"
    assert any(e["reason"] == "InstallSucceeded" for e in helm_app.events("web"))

    helm_app.release("web", valuesFrom=[{"kind": "ConfigMap", "name": "extra"}],
                     values={"replicaCount": 1, "message": "from-values"})
    hr = helm_app.wait_ready("web", f"Helm upgrade succeeded for release {helm_app.namespace}/web.v2")
    assert (helm_app.configmap("web") or {})["data"]["message"] == "from-values"  # values win over valuesFrom
    assert [s["status"] for s in hr["status"]["history"]] == ["deployed", "superseded"]

    helm_app.release("web", valuesFrom=[{"kind": "ConfigMap", "name": "extra"}], values={"replicaCount": 1})
    helm_app.wait_ready("web", f"Helm upgrade succeeded for release {helm_app.namespace}/web.v3")
    helm_app.kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "extra", "namespace": helm_app.namespace,
                                      "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
                         "data": {"values.yaml": "message: changed-in-configmap\n"}}, field_manager="sandbox")
    hr = helm_app.wait_ready("web", f"Helm upgrade succeeded for release {helm_app.namespace}/web.v4")
    assert (helm_app.configmap("web") or {})["data"]["message"] == "changed-in-configmap"
    assert hr["status"]["history"][0]["configDigest"] == hr["status"]["lastAttemptedConfigDigest"]


def test_failed_upgrade_rolls_back_then_retries_run_out_and_force_and_reset_are_the_way_out(
        helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    remediation = {"remediation": {"retries": 1}}
    helm_app.release("web", timeout="4s", upgrade=remediation)
    helm_app.wait_ready("web", "Helm install succeeded")
    helm_app.release("web", timeout="4s", upgrade=remediation, values={"podAnnotations": FAIL_READINESS})

    def stalled(obj: Obj) -> bool:
        return cond.is_true((obj.get("status") or {}).get("conditions"), cond.STALLED)

    hr = helm_app.wait(name="web", predicate=stalled, what="to run out of retries", timeout=90)
    found = conditions_of(hr)
    assert found["Stalled"]["reason"] == "RetriesExceeded"
    assert found["Stalled"]["message"] == "Failed to upgrade after 2 attempt(s)"
    assert found["Remediated"]["status"] == "True" and found["Remediated"]["reason"] == "RollbackSucceeded"
    assert found["Ready"]["status"] == "False" and found["Ready"]["reason"] == "RollbackSucceeded"
    assert found["Released"]["reason"] == "UpgradeFailed"
    assert found["Released"]["message"].startswith(
        f"Helm upgrade failed for release {helm_app.namespace}/web with chart {helm_app.chart}@1.0.0+")
    assert "Reconciling" not in found
    assert hr["status"]["upgradeFailures"] == 2
    history = [(s["status"], s["action"]) for s in hr["status"]["history"]]
    assert history[0] == ("deployed", "rollback") and ("failed", "upgrade") in history
    reasons = [e["reason"] for e in helm_app.events("web")]
    assert "UpgradeFailed" in reasons and "RollbackSucceeded" in reasons
    # The rolled-back release serves: the Deployment has no failing annotation.
    deployment = helm_app.kube.get("apps/v1", "Deployment", "web", helm_app.namespace)
    assert not (deployment["spec"]["template"]["metadata"].get("annotations") or {})
    newest = hr["status"]["history"][0]["version"]

    # --force: one more upgrade, though retries are exhausted (it fails again and is rolled back).
    stamp = helm_app.request("web", force="reconcile.fluxcd.io/forceAt")
    hr = helm_app.wait("web", lambda o: (o.get("status") or {}).get("lastHandledForceAt") == stamp and stalled(o)
                       and o["status"]["history"][0]["version"] > newest, "to handle the force request", 60)
    assert hr["status"]["history"][0]["action"] == "rollback"

    # --reset: the failure counters start again, and the upgrade is attempted (and remediated) again.
    stamp = helm_app.request("web", reset="reconcile.fluxcd.io/resetAt")
    hr = helm_app.wait("web", lambda o: (o.get("status") or {}).get("lastHandledResetAt") == stamp and stalled(o),
                       "to handle the reset request", 90)
    assert conditions_of(hr)["Stalled"]["message"] == "Failed to upgrade after 2 attempt(s)"

    # Fixing the values is the ordinary way out: a new generation resets the counters.
    helm_app.release("web", timeout="4s", upgrade=remediation, values={"message": "fixed"})
    hr = helm_app.wait_ready("web", "Helm upgrade succeeded")
    assert "upgradeFailures" not in hr["status"] and "Stalled" not in conditions_of(hr)


def test_retry_on_failure_retries_the_upgrade_without_rollback(helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    strategy = {"strategy": {"name": "RetryOnFailure", "retryInterval": "2s"}}
    helm_app.release("web", timeout="3s", upgrade=strategy)
    helm_app.wait_ready("web", "Helm install succeeded")
    helm_app.release("web", timeout="3s", upgrade=strategy, values={"podAnnotations": FAIL_READINESS})

    def retried(obj: Obj) -> bool:
        failed = [s for s in (obj.get("status") or {}).get("history") or [] if s["status"] == "failed"]
        return len(failed) >= 2

    hr = helm_app.wait("web", retried, "to retry the failed upgrade", 60)
    found = conditions_of(hr)
    assert "Remediated" not in found
    assert all(s["action"] == "upgrade" for s in hr["status"]["history"][:2])
    assert found["Released"]["reason"] == "UpgradeFailed"
    helm_app.release("web", timeout="3s", upgrade=strategy, values={"message": "fixed"})
    hr = helm_app.wait_ready("web", "Helm upgrade succeeded")
    assert not {"failures", "upgradeFailures"} & set(hr["status"])  # RetryOnFailure clears them on success


def test_values_failing_the_schema_keep_the_release_and_secret_values_stay_out(helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    secret_value = "Not-A-Valid-Password-42"
    helm_app.kube.apply({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": "credentials", "namespace": helm_app.namespace},
                         "data": {"values.yaml": base64.b64encode(b"password: ok-password\n").decode(),
                                  "bad": base64.b64encode(secret_value.encode()).decode()}},
                        field_manager="sandbox")
    helm_app.release("web", valuesFrom=[{"kind": "Secret", "name": "credentials"}])
    helm_app.wait_ready("web", "Helm install succeeded")
    secret = helm_app.kube.get("v1", "Secret", "web-credentials", helm_app.namespace)
    assert base64.b64decode(secret["data"]["password"]).decode() == "ok-password"

    helm_app.release("web", valuesFrom=[{"kind": "Secret", "name": "credentials"},
                                        {"kind": "Secret", "name": "credentials", "valuesKey": "bad",
                                         "targetPath": "password"}],
                     values={"replicaCount": 9})

    def failed(obj: Obj) -> bool:
        ready = ops.ready_condition(obj)
        return ready.get("status") == "False" and ready.get("observedGeneration") == obj["metadata"]["generation"]

    hr = helm_app.wait("web", failed, "to fail on the values schema")
    message = ops.ready_condition(hr)["message"]
    assert "values don't meet the specifications of the schema" in message, message
    assert "replicaCount" in message
    dumped = json.dumps(hr["status"]) + json.dumps([e["message"] for e in helm_app.events("web")])
    assert secret_value not in dumped
    log = state_path(helm_app.sandbox.name) / "logs" / "reconciler.log"
    assert "values don't meet the specifications" in log.read_text()  # the failure is logged…
    assert secret_value not in log.read_text()  # …without the Secret's value
    # Nothing half-applied: the first release keeps serving.
    assert hr["status"]["history"][0]["version"] == 1 and hr["status"]["history"][0]["status"] == "deployed"
    assert helm_app.kube.get("apps/v1", "Deployment", "web", helm_app.namespace)["spec"]["replicas"] == 1
    secret = helm_app.kube.get("v1", "Secret", "web-credentials", helm_app.namespace)
    assert base64.b64decode(secret["data"]["password"]).decode() == "ok-password"


def test_depends_on_then_uninstall_on_delete(helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    helm_app.release("frontend", dependsOn=[{"name": "backend"}])

    def waiting(obj: Obj) -> bool:
        return ops.ready_condition(obj).get("reason") == "DependencyNotReady"

    hr = helm_app.wait("frontend", waiting, "to wait for its dependency")
    assert ops.ready_condition(hr)["message"] == \
        f"unable to get '{helm_app.namespace}/backend' dependency: helmreleases.helm.toolkit.fluxcd.io " \
        "\"backend\" not found"
    assert helm_app.kube.get_or_none("apps/v1", "Deployment", "frontend", helm_app.namespace) is None
    helm_app.release("backend")
    helm_app.wait_ready("backend", "Helm install succeeded")
    helm_app.request("frontend")  # as helm-controller, dependents are not woken by their dependencies
    helm_app.wait_ready("frontend", "Helm install succeeded", timeout=60)
    # readyExpr (CEL over self and dep) replaces the built-in check.
    helm_app.release("gated", dependsOn=[{"name": "backend", "readyExpr": "dep.metadata.name == 'other'"}])
    hr = helm_app.wait("gated", waiting, "to wait for its dependency's readyExpr")
    assert ops.ready_condition(hr)["message"] == \
        f"dependency '{helm_app.namespace}/backend' is not ready according to readyExpr eval"
    helm_app.release("gated", dependsOn=[{"name": "backend", "readyExpr": "dep.metadata.name == 'backend'"}])
    helm_app.wait_ready("gated", "Helm install succeeded")

    helm_app.kube.delete(HR_API, "HelmRelease", "backend", helm_app.namespace)
    wait_until(lambda: helm_app.kube.get_or_none(HR_API, "HelmRelease", "backend", helm_app.namespace) is None,
               timeout=60, what="HelmRelease backend to be deleted")
    assert helm_app.kube.get_or_none("apps/v1", "Deployment", "backend", helm_app.namespace) is None
    assert helm_app.configmap("backend") is None
    storage = helm_app.kube.list("v1", "Secret", helm_app.namespace, label_selector="owner=helm,name=backend").items
    assert storage == []
    helm_app.releases.remove("backend")


def test_tests_run_after_install_and_a_failing_test_is_remediated(helm_app: HelmApp,
                                                                   registry: RegistryEndpoint) -> None:
    helm_app.source(helm_app.push())
    spec: Obj = {"timeout": "5s", "test": {"enable": True}, "upgrade": {"remediation": {"retries": 1}}}
    helm_app.release("web", **spec)
    hr = helm_app.wait_ready("web", "Helm test succeeded")
    found = conditions_of(hr)
    assert found["TestSuccess"]["message"].startswith(
        f"Helm test succeeded for release {helm_app.namespace}/web.v1 with chart {helm_app.chart}@1.0.0+")
    assert found["TestSuccess"]["message"].endswith(": 1 test hook completed successfully")
    assert hr["status"]["history"][0]["testHooks"]["web-smoke"]["phase"] == "Succeeded"
    # A test pod whose image is missing from the sandbox registry never runs: the test times out and fails.
    helm_app.release("web", **spec, values={"testImage": f"{registry.cluster_host}/missing/image:none"})

    def remediated(obj: Obj) -> bool:
        return conditions_of(obj).get("Remediated", {}).get("reason") == "RollbackSucceeded"

    hr = helm_app.wait("web", remediated, "to roll back the release that failed its tests", 90)
    tested = [s for s in hr["status"]["history"] if s.get("testHooks")]
    assert any(hook and hook.get("phase") == "Failed" for s in tested for hook in s["testHooks"].values())
    assert any(e["reason"] == "TestFailed" for e in helm_app.events("web"))


def test_failed_install_is_uninstalled_and_retried_until_retries_run_out(helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    helm_app.release("web", timeout="3s", install={"remediation": {"retries": 1}},
                     values={"podAnnotations": FAIL_READINESS})
    hr = helm_app.wait("web", lambda o: cond.is_true((o.get("status") or {}).get("conditions"), cond.STALLED),
                       "to run out of install retries", 90)
    found = conditions_of(hr)
    assert (found["Stalled"]["reason"], found["Stalled"]["message"]) == \
        ("RetriesExceeded", "Failed to install after 2 attempt(s)")
    assert found["Released"]["reason"] == "InstallFailed"
    assert hr["status"]["installFailures"] == 2
    events = helm_app.events("web")
    assert any(e["reason"] == "UninstallSucceeded" and e["message"].startswith(
        f"Helm uninstall remediation for release {helm_app.namespace}/web.v1") for e in events)
    assert sum(e["reason"] == "InstallFailed" for e in events) >= 1


def test_target_namespace_holds_the_release_and_another_storage_namespace_is_not_supported(
        helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    target = f"{helm_app.namespace}-target"
    try:
        helm_app.release("web", targetNamespace=target, install={"createNamespace": True})
        hr = helm_app.wait_ready("web", f"Helm install succeeded for release {target}/{target}-web.v1")
        assert hr["status"]["storageNamespace"] == target  # where the Helm SDK keeps the release
        assert helm_app.kube.get_or_none("apps/v1", "Deployment", f"{target}-web", target) is not None
        stored = helm_app.kube.list("v1", "Secret", target, label_selector=f"owner=helm,name={target}-web").items
        assert len(stored) == 1
        helm_app.kube.delete(HR_API, "HelmRelease", "web", helm_app.namespace)
        wait_until(lambda: helm_app.kube.get_or_none(HR_API, "HelmRelease", "web", helm_app.namespace) is None,
                   timeout=60, what="HelmRelease web to be deleted")
        helm_app.releases.remove("web")
        assert helm_app.kube.get_or_none("apps/v1", "Deployment", f"{target}-web", target) is None
        assert helm_app.kube.list("v1", "Secret", target, label_selector=f"owner=helm,name={target}-web").items == []

        helm_app.release("other", storageNamespace="elsewhere")
        hr = helm_app.wait("other", lambda o: ops.ready_condition(o).get("reason") == "NotSupported",
                           "to refuse a storage namespace other than its own")
        assert "spec.storageNamespace is set but not supported" in ops.ready_condition(hr)["message"]
        assert cond.is_true(hr["status"]["conditions"], cond.STALLED)
    finally:
        helm_app.kube.delete("v1", "Namespace", target)


def test_chart_template_makes_a_helm_chart_and_deletes_it_with_the_release(helm_app: HelmApp) -> None:
    template = {"spec": {"chart": "web", "version": ">=1.0.0",
                         "sourceRef": {"kind": "HelmRepository", "name": "charts"}},
                "metadata": {"labels": {"team": "a"}}}
    helm_app.releases.append("web")
    helm_app.kube.apply({"apiVersion": HR_API, "kind": "HelmRelease",
                         "metadata": {"name": "web", "namespace": helm_app.namespace},
                         "spec": {"interval": "5m", "chart": template}}, field_manager="sandbox")
    name = f"{helm_app.namespace}-web"
    hr = helm_app.wait("web", lambda o: (o.get("status") or {}).get("helmChart") == f"{helm_app.namespace}/{name}",
                       "to record its HelmChart")
    # No chart yet: not Ready, whatever the reason (False, or Unknown while a retry is in progress).
    assert ops.ready_condition(hr)["status"] != "True"
    chart = helm_app.kube.get(SOURCE_API, "HelmChart", name, helm_app.namespace)
    assert chart["spec"]["chart"] == "web" and chart["spec"]["version"] == ">=1.0.0"
    assert chart["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "charts"}
    assert chart["spec"]["interval"] == "5m" and chart["spec"]["reconcileStrategy"] == "ChartVersion"
    assert chart["metadata"]["labels"] == {"team": "a", "helm.toolkit.fluxcd.io/name": "web",
                                           "helm.toolkit.fluxcd.io/namespace": helm_app.namespace}
    created = [e for e in ops.events(helm_app.kube, helm_app.namespace, for_object="HelmRelease/web")
               if e["reason"] == "HelmChartCreated"]  # helm-controller's trace event, kept as a Normal one
    assert [e["message"] for e in created] == [
        f"Created HelmChart/{helm_app.namespace}/{name} with SourceRef 'HelmRepository/{helm_app.namespace}/charts'"]
    helm_app.kube.delete(HR_API, "HelmRelease", "web", helm_app.namespace)
    wait_until(lambda: helm_app.kube.get_or_none(HR_API, "HelmRelease", "web", helm_app.namespace) is None,
               timeout=60, what="HelmRelease web to be deleted")
    helm_app.releases.remove("web")
    assert helm_app.kube.get_or_none(SOURCE_API, "HelmChart", name, helm_app.namespace) is None


def test_health_check_exprs_fail_the_upgrade_and_mark_the_release_failed(helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    checks = [{"apiVersion": "v1", "kind": "ConfigMap", "current": "data.message == 'ok'",
               "failed": "data.message == 'bad'"}]
    helm_app.release("web", timeout="10s", healthCheckExprs=checks, values={"message": "ok"})
    helm_app.wait_ready("web", "Helm install succeeded")
    helm_app.release("web", timeout="10s", healthCheckExprs=checks, values={"message": "bad"})
    hr = helm_app.wait("web", lambda o: cond.is_true((o.get("status") or {}).get("conditions"), cond.STALLED),
                       "to fail its custom health check")
    found = conditions_of(hr)
    assert found["Released"]["reason"] == "UpgradeFailed"
    assert f"resource ConfigMap/{helm_app.namespace}/web-settings not ready. status: Failed" in \
        found["Released"]["message"]
    assert found["Stalled"]["message"] == "Failed to upgrade after 1 attempt(s)"
    assert [s["status"] for s in hr["status"]["history"]][:2] == ["failed", "deployed"]
    broken = [{**checks[0], "current": "data.message =="}]
    helm_app.release("web", timeout="10s", healthCheckExprs=broken)
    hr = helm_app.wait("web", lambda o: ops.ready_condition(o).get("reason") == "InvalidCELExpression",
                       "to refuse an invalid expression")
    assert ops.ready_condition(hr)["message"].startswith(
        "Reconciliation failed terminally due to configuration error: ")


def test_a_release_left_pending_is_unlocked_then_upgraded(helm_app: HelmApp, tmp_path: Path) -> None:
    helm_app.source(helm_app.push())
    helm_app.release("web")
    helm_app.wait_ready("web", "Helm install succeeded")
    # As if the controller had died in the middle of an upgrade: the stored release stays pending-upgrade.
    Helm(helm_app.kube, tmp_path / "unused-kubeconfig").set_status(helm_app.namespace, "web", 1, "pending-upgrade")
    helm_app.request("web")
    hr = helm_app.wait_ready("web", f"Helm upgrade succeeded for release {helm_app.namespace}/web.v2")
    assert [(s["version"], s["status"]) for s in hr["status"]["history"]][:2] == [(2, "deployed"), (1, "superseded")]
    unlocked = [e for e in helm_app.events("web") if e["reason"] == "PendingRelease"]
    assert unlocked and unlocked[0]["message"].startswith(f"Unlocked Helm release {helm_app.namespace}/web.v1 with "
                                                          f"chart {helm_app.chart}@1.0.0+")
    assert unlocked[0]["message"].endswith(" in pending-upgrade state")


def test_failed_upgrade_with_the_uninstall_strategy_is_uninstalled_and_installed_again(helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    upgrade = {"remediation": {"retries": 1, "strategy": "uninstall"}}
    helm_app.release("web", timeout="3s", upgrade=upgrade)
    helm_app.wait_ready("web", "Helm install succeeded")
    helm_app.release("web", timeout="3s", upgrade=upgrade, values={"podAnnotations": FAIL_READINESS})

    def uninstalled(obj: Obj) -> bool:
        return conditions_of(obj).get("Remediated", {}).get("reason") == "UninstallSucceeded"

    hr = helm_app.wait("web", uninstalled, "to uninstall the release that failed its upgrade", 60)
    assert conditions_of(hr)["Remediated"]["message"].startswith(
        f"Helm uninstall remediation for release {helm_app.namespace}/web.v2 with chart {helm_app.chart}@1.0.0+")
    # Then, as helm-controller: the release is absent, so it is installed again (and fails the same way).
    hr = helm_app.wait("web", lambda o: (o.get("status") or {}).get("lastAttemptedReleaseAction") == "install",
                       "to install again", 60)
    assert any(e["reason"] == "UninstallSucceeded" for e in helm_app.events("web"))


def test_chart_template_from_an_http_helm_repository_follows_a_semver_range(helm_app: HelmApp) -> None:
    helm_app.push("1.0.0")
    helm_app.kube.apply({"apiVersion": SOURCE_API, "kind": "HelmRepository",
                         "metadata": {"name": "charts", "namespace": helm_app.namespace},
                         "spec": {"url": helmrepo.repository_url(helm_app.sandbox.name), "interval": "10m"}},
                        field_manager="sandbox")
    template = {"spec": {"chart": helm_app.chart, "version": "1.x",
                         "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}
    helm_app.releases.append("web")
    helm_app.kube.apply({"apiVersion": HR_API, "kind": "HelmRelease",
                         "metadata": {"name": "web", "namespace": helm_app.namespace},
                         "spec": {"interval": "10m", "timeout": "30s", "chart": template}}, field_manager="sandbox")
    hr = helm_app.wait_ready("web", "Helm install succeeded")
    assert ops.ready_condition(hr)["message"] == \
        f"Helm install succeeded for release {helm_app.namespace}/web.v1 with chart {helm_app.chart}@1.0.0"
    assert hr["status"]["helmChart"] == f"{helm_app.namespace}/{helm_app.namespace}-web"
    assert hr["status"]["lastAttemptedRevision"] == "1.0.0" and "lastAttemptedRevisionDigest" not in hr["status"]

    helm_app.push("1.1.0")
    helm_app.push("2.0.0")  # out of the range
    helm_app.kube.patch(SOURCE_API, "HelmRepository", "charts", helm_app.namespace,
                        {"metadata": {"annotations": {REQUESTED_AT: uuid.uuid4().hex}}})
    hr = helm_app.wait_ready("web", f"Helm upgrade succeeded for release {helm_app.namespace}/web.v2 with chart "
                             f"{helm_app.chart}@1.1.0")
    assert [s["chartVersion"] for s in hr["status"]["history"]] == ["1.1.0", "1.0.0"]
    helm_app.kube.delete(HR_API, "HelmRelease", "web", helm_app.namespace)
    wait_until(lambda: helm_app.kube.get_or_none(HR_API, "HelmRelease", "web", helm_app.namespace) is None,
               timeout=60, what="HelmRelease web to be deleted")
    helm_app.releases.remove("web")
    assert helm_app.kube.get_or_none(SOURCE_API, "HelmChart", f"{helm_app.namespace}-web", helm_app.namespace) is None
    helm_app.kube.delete(SOURCE_API, "HelmRepository", "charts", helm_app.namespace)


def crd(group: str, plural: str, kind: str, short_names: list[str] | None = None) -> str:
    names: Obj = {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"}
    if short_names:
        names["shortNames"] = short_names
    return yaml.safe_dump({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                           "metadata": {"name": f"{plural}.{group}"},
                           "spec": {"group": group, "names": names, "scope": "Namespaced",
                                    "versions": [{"name": "v1", "served": True, "storage": True,
                                                  "schema": {"openAPIV3Schema": {"type": "object"}}}]}})


def test_crds_are_created_by_policy_and_replaced_with_create_replace(helm_app: HelmApp) -> None:
    group = f"{helm_app.chart}.example.com"
    chart = make_chart(helm_app.tmp, helm_app.chart, "1.0.0")
    (chart / "crds").mkdir()
    (chart / "crds" / "widgets.yaml").write_text(crd(group, "widgets", "Widget"))
    try:
        helm_app.source(helmrepo.push_chart(helm_app.sandbox.name, chart))
        helm_app.release("web")
        hr = helm_app.wait_ready("web", "Helm install succeeded")
        widgets = helm_app.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}")
        assert widgets["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"
        ids = {e["id"] for e in hr["status"]["inventory"]["entries"]}
        assert f"_widgets.{group}_apiextensions.k8s.io_CustomResourceDefinition" in ids

        # 1.1.0 adds a CRD and changes the existing one: the default policy (Create) creates the new one only.
        newer = make_chart(helm_app.tmp, helm_app.chart, "1.1.0")
        (newer / "crds").mkdir()
        (newer / "crds" / "widgets.yaml").write_text(crd(group, "widgets", "Widget", ["wd"]))
        (newer / "crds" / "gadgets.yaml").write_text(crd(group, "gadgets", "Gadget"))
        helmrepo.push_chart(helm_app.sandbox.name, newer)
        helm_app.kube.patch(SOURCE_API, "OCIRepository", helm_app.chart, helm_app.namespace,
                            {"metadata": {"annotations": {REQUESTED_AT: uuid.uuid4().hex}}})
        helm_app.wait_ready("web", f"Helm upgrade succeeded for release {helm_app.namespace}/web.v2 with chart "
                            f"{helm_app.chart}@1.1.0+")
        assert helm_app.kube.get_or_none("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                                         f"gadgets.{group}") is not None
        widgets = helm_app.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}")
        assert "shortNames" not in widgets["spec"]["names"]

        # CreateReplace replaces it (at the next upgrade: a forced one here).
        helm_app.release("web", upgrade={"crds": "CreateReplace"})
        helm_app.wait_ready("web", "Helm upgrade succeeded")
        helm_app.request("web", force="reconcile.fluxcd.io/forceAt")
        helm_app.wait_ready("web", f"Helm upgrade succeeded for release {helm_app.namespace}/web.v3")
        widgets = helm_app.kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}")
        assert widgets["spec"]["names"]["shortNames"] == ["wd"]
    finally:
        for plural in ("widgets", "gadgets"):
            helm_app.kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"{plural}.{group}")


def test_objects_that_exist_already_are_adopted_unless_take_ownership_is_disabled(helm_app: HelmApp) -> None:
    helm_app.source(helm_app.push())
    for release in ("web", "strict"):
        helm_app.kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": f"{release}-settings", "namespace": helm_app.namespace},
                             "data": {"message": "made by hand"}}, field_manager="someone")
    helm_app.release("strict", install={"disableTakeOwnership": True})
    hr = helm_app.wait("strict", lambda o: ops.ready_condition(o).get("reason") == "InstallFailed",
                       "to be refused by Helm")
    assert "exists and cannot be imported into the current release" in ops.ready_condition(hr)["message"]
    helm_app.release("web")
    helm_app.wait_ready("web", "Helm install succeeded")
    adopted = helm_app.configmap("web") or {}
    assert adopted["data"]["message"] == "hello"
    assert adopted["metadata"]["annotations"]["meta.helm.sh/release-name"] == "web"
