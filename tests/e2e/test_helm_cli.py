"""The CLI's Helm verbs against a real apiserver: get, tree, events, reconcile (--force/--reset/--with-source),
suspend/resume and create without --export.

Most tests use a sandbox without a reconciler and write the objects' status themselves through the status
subresource, so what the CLI reads is exactly what the test wrote; where a reconcile must be answered, a stand-in
does what a controller does with a reconcile request (lastHandledReconcileAt and Ready). The last test drives the
sandbox's own Helm controllers, and is skipped while they do not exist."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import helmrepo
from sandbox.cli import helm_ops
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops, support
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.state import StateDir
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

NAME = "e2e-helm-cli"
HR_API = helm_ops.HELM_RELEASE.api_version
SOURCE_API = helm_ops.HELM_REPOSITORY.api_version
INDEX_DIGEST = "sha256:" + "3f9c2a" * 10 + "abcd"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def bare() -> Iterator[KubeClient]:
    """A sandbox with the Flux CRDs and no reconciler: nothing but the tests writes status."""
    result = run_cli("up", "--name", NAME, "--reconciler", "none", "--git", "none", "--repo", "")
    assert result.exit_code == 0, result.stderr
    try:
        assert run_cli("install", "--name", NAME).exit_code == 0
        yield KubeClient.from_kubeconfig(StateDir(NAME).kubeconfig)
    finally:
        run_cli("down", "--name", NAME)


@pytest.fixture
def namespace(bare: KubeClient) -> Iterator[str]:
    name = f"helm-cli-{secrets.token_hex(3)}"
    bare.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, field_manager="test")
    yield name
    bare.delete("v1", "Namespace", name)


def cli(*args: str) -> Any:
    return run_cli(*args, "--name", NAME)


def ready(status: str = "True", message: str = "ok", reason: str = "Succeeded", generation: int = 1) -> Obj:
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": generation}


def create(bare: KubeClient, obj: Obj, status: Obj | None = None) -> Obj:
    created = bare.create(obj)
    if status is not None:
        created = bare.patch_status(created, status)
    return created


def helm_repository(namespace: str, name: str = "charts", **spec: Any) -> Obj:
    return {"apiVersion": SOURCE_API, "kind": "HelmRepository", "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "5m0s", "url": "http://127.0.0.1:1/charts", **spec}}


def helm_chart(namespace: str, name: str, source: str = "charts") -> Obj:
    return {"apiVersion": SOURCE_API, "kind": "HelmChart", "metadata": {"name": name, "namespace": namespace},
            "spec": {"chart": "podinfo", "interval": "5m0s", "sourceRef": {"kind": "HelmRepository", "name": source}}}


def helm_release(namespace: str, name: str = "web", **spec: Any) -> Obj:
    chart = {"spec": {"chart": "podinfo", "version": ">=6.0.0", "sourceRef": {"kind": "HelmRepository",
                                                                              "name": "charts"}}}
    return {"apiVersion": HR_API, "kind": "HelmRelease", "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "5m0s", "chart": chart, **spec}}


RELEASED = {"conditions": [ready(message="Helm upgrade succeeded for release x/web.v2 with chart podinfo@6.5.0")],
            "history": [{"chartName": "podinfo", "chartVersion": "6.5.0", "version": 2, "status": "deployed",
                         "name": "web", "namespace": "x", "configDigest": "sha256:00", "digest": "sha256:00",
                         "firstDeployed": "2026-01-01T00:00:00Z", "lastDeployed": "2026-01-01T00:00:00Z"},
                        {"chartName": "podinfo", "chartVersion": "6.4.0", "version": 1, "status": "superseded",
                         "name": "web", "namespace": "x", "configDigest": "sha256:00", "digest": "sha256:00",
                         "firstDeployed": "2026-01-01T00:00:00Z", "lastDeployed": "2026-01-01T00:00:00Z"}],
            "lastAttemptedRevision": "6.5.0", "observedGeneration": 1}


def test_get_shows_helm_kinds_as_flux_get_does(bare: KubeClient, namespace: str) -> None:
    create(bare, helm_repository(namespace), {"conditions": [ready(message=f"stored artifact: revision "
                                                                           f"'{INDEX_DIGEST}'")],
                                              "artifact": {"revision": INDEX_DIGEST, "path": "x", "url": "http://x",
                                                           "lastUpdateTime": "2026-01-01T00:00:00Z",
                                                           "digest": INDEX_DIGEST}})
    create(bare, helm_repository(namespace, "oci-charts", type="oci", url="oci://127.0.0.1:1/charts"))
    create(bare, helm_chart(namespace, f"{namespace}-web"), {
        "conditions": [ready(message="pulled 'podinfo' chart with version '6.5.0'")],
        "artifact": {"revision": "6.5.0", "path": "x", "url": "http://x", "lastUpdateTime": "2026-01-01T00:00:00Z",
                     "digest": "sha256:00"}})
    create(bare, helm_release(namespace), RELEASED)
    create(bare, helm_release(namespace, "failing", suspend=True), {
        "conditions": [ready("False", "Helm upgrade failed: upgrade retries exhausted", "UpgradeFailed")],
        "lastAttemptedRevision": "7.0.0", "observedGeneration": 1})

    releases = cli("get", "helmreleases", "-n", namespace)
    assert releases.exit_code == 0, releases.stderr
    lines = releases.stdout.splitlines()
    assert lines[0].split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert lines[1].split()[:4] == ["failing", "7.0.0", "True", "False"]
    assert "upgrade retries exhausted" in lines[1]
    assert lines[2].split()[:4] == ["web", "6.5.0", "False", "True"]

    with_source = cli("get", "hr", "-n", namespace, "--show-source").stdout.splitlines()
    assert with_source[0].split()[:3] == ["NAME", "SOURCE", "REVISION"]
    assert with_source[2].split()[:3] == ["web", f"HelmRepository/{namespace}/charts", "6.5.0"]

    as_json = json.loads(cli("get", "hr", "-A", "-o", "json").stdout)
    web = next(item for item in as_json if item["namespace"] == namespace and item["name"] == "web")
    assert (web["kind"], web["revision"], web["ready"]) == ("HelmRelease", "6.5.0", "True")

    repositories = cli("get", "sources", "helm", "-n", namespace).stdout
    assert "sha256:3f9c2a3f " in repositories  # the digest cut to 8 characters, as flux get does
    assert INDEX_DIGEST not in repositories
    oci = next(line for line in repositories.splitlines() if line.startswith("oci-charts"))
    assert oci.split()[2:] == ["True", "Helm", "repository", "is", "Ready"]

    charts = cli("get", "sources", "chart", "-n", namespace).stdout
    assert f"{namespace}-web" in charts and "6.5.0" in charts

    everything = cli("get", "all", "-n", namespace).stdout
    for row in ("helmrelease/web", "helmrelease/failing", "helmrepository/charts", f"helmchart/{namespace}-web"):
        assert row in everything


def test_get_shows_a_release_being_deleted_as_terminating(bare: KubeClient, namespace: str) -> None:
    release = helm_release(namespace, "leaving")
    release["metadata"]["finalizers"] = ["finalizers.fluxcd.io"]
    create(bare, release, RELEASED)
    bare.delete(HR_API, "HelmRelease", "leaving", namespace)
    try:
        row = next(line for line in cli("get", "hr", "-n", namespace).stdout.splitlines() if "leaving" in line)
        assert row.split()[3] == "Terminating"
    finally:
        bare.patch(HR_API, "HelmRelease", "leaving", namespace, {"metadata": {"finalizers": None}})


def test_tree_shows_the_release_inventory_also_inside_a_kustomization(bare: KubeClient, namespace: str) -> None:
    status = {**RELEASED, "inventory": {"entries": [{"id": f"{namespace}_web_apps_Deployment", "v": "v1"},
                                                    {"id": f"{namespace}_web__Service", "v": "v1"}]}}
    create(bare, helm_release(namespace), status)
    tree = cli("tree", "helmrelease", "web", "-n", namespace)
    assert tree.exit_code == 0, tree.stderr
    assert tree.stdout.splitlines()[0] == f"HelmRelease/{namespace}/web"
    assert f"Deployment/{namespace}/web" in tree.stdout and f"Service/{namespace}/web" in tree.stdout

    kustomization = {"apiVersion": ops.KUSTOMIZATION.api_version, "kind": "Kustomization",
                     "metadata": {"name": "apps", "namespace": namespace},
                     "spec": {"interval": "5m", "path": "./", "prune": True,
                              "sourceRef": {"kind": "GitRepository", "name": "fleet"}}}
    create(bare, kustomization, {"conditions": [ready()], "inventory": {"entries": [
        {"id": f"{namespace}_web_helm.toolkit.fluxcd.io_HelmRelease", "v": "v2"}]}})
    as_json = json.loads(cli("tree", "kustomization", "apps", "-n", namespace, "-o", "json").stdout)
    [release] = as_json["children"]
    assert release["resource"] == f"HelmRelease/{namespace}/web"
    assert {c["resource"] for c in release["children"]} == {f"Deployment/{namespace}/web",
                                                            f"Service/{namespace}/web"}


def _event(bare: KubeClient, namespace: str, kind: str, name: str, api_version: str, message: str) -> None:
    bare.create({"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{name}.{secrets.token_hex(4)}", "namespace": namespace},
                 "involvedObject": {"kind": kind, "name": name, "namespace": namespace, "apiVersion": api_version},
                 "reason": "Info", "message": message, "type": "Normal", "count": 1,
                 "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
                 "source": {"component": "test"}})


def test_events_for_a_release_include_its_chart_and_source(bare: KubeClient, namespace: str) -> None:
    create(bare, helm_release(namespace), RELEASED)
    _event(bare, namespace, "HelmRelease", "web", HR_API, "release says hello")
    _event(bare, namespace, "HelmChart", f"{namespace}-web", SOURCE_API, "chart says hello")
    _event(bare, namespace, "HelmRepository", "charts", SOURCE_API, "repository says hello")
    _event(bare, namespace, "HelmRelease", "other", HR_API, "another release")
    shown = cli("events", "-n", namespace, "--for", "helmrelease/web")
    assert shown.exit_code == 0, shown.stderr
    for message in ("release says hello", "chart says hello", "repository says hello"):
        assert message in shown.stdout
    assert "another release" not in shown.stdout
    every_release = cli("events", "-n", namespace, "--for", "HelmRelease").stdout
    assert "release says hello" in every_release and "another release" in every_release
    assert "chart says hello" not in every_release


class StandIn:
    """Answers reconcile requests the way a controller does: lastHandledReconcileAt = the requested token, and the
    Ready condition ``answer`` gives (for the kinds in ``kinds``); records the order it answered in."""

    def __init__(self, bare: KubeClient, namespace: str, answer: Callable[[Obj], Obj], kinds: list[ops.KindRef]):
        self.kube, self.namespace, self.answer, self.kinds = bare, namespace, answer, kinds
        self.answered: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            for kind in self.kinds:
                for obj in self.kube.list(kind.api_version, kind.kind, self.namespace).items:
                    token = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
                    if token and obj.get("status", {}).get("lastHandledReconcileAt") != token:
                        self.kube.patch_status(obj, {**self.answer(obj), "lastHandledReconcileAt": token})
                        self.answered.append(f"{kind.kind}/{obj['metadata']['name']}")

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def _released(obj: Obj) -> Obj:
    generation = obj["metadata"].get("generation", 1)
    if obj["kind"] == "HelmRelease":
        return {**RELEASED, "conditions": [ready(generation=generation)], "observedGeneration": generation}
    return {"conditions": [ready(generation=generation)], "observedGeneration": generation,
            "artifact": {"revision": "6.5.0" if obj["kind"] == "HelmChart" else INDEX_DIGEST, "path": "x",
                         "url": "http://x", "lastUpdateTime": "2026-01-01T00:00:00Z", "digest": "sha256:00"}}


def test_reconcile_force_reset_sets_one_token_and_reports_the_revision(bare: KubeClient, namespace: str) -> None:
    create(bare, helm_release(namespace))
    with StandIn(bare, namespace, _released, [helm_ops.HELM_RELEASE]):
        result = cli("reconcile", "helmrelease", "web", "-n", namespace, "--force", "--reset")
    assert result.exit_code == 0, result.stderr
    annotations = bare.get(HR_API, "HelmRelease", "web", namespace)["metadata"]["annotations"]
    assert annotations[helm_ops.FORCE_AT] == annotations[helm_ops.RESET_AT] == annotations[REQUESTED_AT]
    assert f"annotating HelmRelease web in {namespace} namespace" in result.stderr
    assert "applied revision 6.5.0" in result.stderr


def test_reconcile_without_force_sets_requested_at_only(bare: KubeClient, namespace: str) -> None:
    create(bare, helm_release(namespace))
    with StandIn(bare, namespace, _released, [helm_ops.HELM_RELEASE]):
        assert cli("reconcile", "hr", "web", "-n", namespace).exit_code == 0
    annotations = bare.get(HR_API, "HelmRelease", "web", namespace)["metadata"]["annotations"]
    assert REQUESTED_AT in annotations
    assert helm_ops.FORCE_AT not in annotations and helm_ops.RESET_AT not in annotations


def test_reconcile_with_source_walks_repository_chart_then_release(bare: KubeClient, namespace: str) -> None:
    create(bare, helm_repository(namespace))
    create(bare, helm_chart(namespace, f"{namespace}-web"))
    create(bare, helm_release(namespace))
    kinds = [helm_ops.HELM_REPOSITORY, helm_ops.HELM_CHART, helm_ops.HELM_RELEASE]
    with StandIn(bare, namespace, _released, kinds) as stand_in:
        result = cli("reconcile", "helmrelease", "web", "-n", namespace, "--with-source")
    assert result.exit_code == 0, result.stderr
    assert stand_in.answered == ["HelmRepository/charts", f"HelmChart/{namespace}-web", "HelmRelease/web"]
    assert f"fetched revision {INDEX_DIGEST}" in result.stderr
    assert "fetched revision 6.5.0" in result.stderr


def test_a_failed_reconcile_exits_non_zero_with_the_ready_message(bare: KubeClient, namespace: str) -> None:
    create(bare, helm_release(namespace))

    def exhausted(obj: Obj) -> Obj:
        message = "Helm upgrade failed for release x/web with chart podinfo@7.0.0: upgrade retries exhausted"
        return {"conditions": [ready("False", message, "UpgradeFailed")], "observedGeneration": 1}

    with StandIn(bare, namespace, exhausted, [helm_ops.HELM_RELEASE]):
        result = cli("reconcile", "hr", "web", "-n", namespace)
    assert result.exit_code == 1
    assert "HelmRelease reconciliation failed: Helm upgrade failed" in result.stderr
    assert "upgrade retries exhausted" in result.stderr.replace("\n", " ")


def test_suspend_then_reconcile_refuses_then_resume_reconciles(bare: KubeClient, namespace: str) -> None:
    create(bare, helm_release(namespace))
    assert cli("suspend", "helmrelease", "web", "-n", namespace).exit_code == 0
    assert bare.get(HR_API, "HelmRelease", "web", namespace)["spec"]["suspend"] is True
    refused = cli("reconcile", "hr", "web", "-n", namespace)
    assert refused.exit_code != 0
    assert "is suspended" in refused.stderr
    with StandIn(bare, namespace, _released, [helm_ops.HELM_RELEASE]):
        resumed = cli("resume", "hr", "web", "-n", namespace)
    assert resumed.exit_code == 0, resumed.stderr
    assert not bare.get(HR_API, "HelmRelease", "web", namespace)["spec"].get("suspend")


def test_create_applies_and_waits_for_ready(bare: KubeClient, namespace: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("replicaCount: 2\n")
    kinds = [helm_ops.HELM_REPOSITORY, helm_ops.HELM_RELEASE]

    def on_create(obj: Obj) -> Obj:  # objects are new: answer them once they exist, without a request
        return _released(obj)

    with ReadyOnCreate(bare, namespace, on_create, kinds):
        repo = cli("create", "source", "helm", "charts", "-n", namespace, "--url", "http://127.0.0.1:1/charts")
        assert repo.exit_code == 0, repo.stderr
        assert "source created" in repo.stderr
        assert f"fetched revision: {INDEX_DIGEST}" in repo.stderr
        release = cli("create", "helmrelease", "web", "-n", namespace, "--source", "HelmRepository/charts",
                      "--chart", "podinfo", "--values", str(values))
        assert release.exit_code == 0, release.stderr
        assert "HelmRelease created" in release.stderr and "HelmRelease web is ready" in release.stderr
        assert "applied revision 6.5.0" in release.stderr
        again = cli("create", "helmrelease", "web", "-n", namespace, "--source", "HelmRepository/charts",
                    "--chart", "podinfo", "--chart-version", "6.x")
        assert again.exit_code == 0, again.stderr
        assert "HelmRelease updated" in again.stderr
    stored = bare.get(HR_API, "HelmRelease", "web", namespace)
    assert stored["spec"]["chart"]["spec"]["version"] == "6.x"
    assert "values" not in stored["spec"]  # the second create does not carry --values: as flux, spec is replaced
    oci = cli("create", "source", "helm", "oci-charts", "-n", namespace, "--url", "oci://127.0.0.1:1/charts")
    assert oci.exit_code == 0, oci.stderr  # type oci has no reconciler to wait for
    assert bare.get(SOURCE_API, "HelmRepository", "oci-charts", namespace)["spec"]["type"] == "oci"


class ReadyOnCreate(StandIn):
    """Marks each object Ready for its current generation, as a controller does after a create or an update."""

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            for kind in self.kinds:
                for obj in self.kube.list(kind.api_version, kind.kind, self.namespace).items:
                    generation = obj["metadata"].get("generation", 1)
                    if obj.get("status", {}).get("observedGeneration") != generation:
                        self.kube.patch_status(obj, self.answer(obj))


def _push_chart(sandbox: SandboxHandle, folder: Path) -> str:
    """A one-ConfigMap chart named after ``folder``, version 0.1.0, pushed to the sandbox's chart repository."""
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {folder.name}\nversion: 0.1.0\n")
    (folder / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n"
        "  greeting: {{ .Values.greeting | default \"hello\" | quote }}\n")
    helmrepo.push_chart(sandbox.name, folder)
    return folder.name


@pytest.mark.skipif(not all(support.BY_KIND[k].ours for k in ("HelmRepository", "HelmChart")),
                    reason="needs the sandbox reconciler's HelmRepository and HelmChart controllers")
def test_helm_sources_with_the_sandbox_reconciler(sandbox: SandboxHandle, tmp_path: Path) -> None:
    name = _push_chart(sandbox, tmp_path / f"src-{secrets.token_hex(3)}")

    def run(*args: str) -> Any:
        result = run_cli(*args, "--name", sandbox.name)
        assert result.exit_code == 0, result.stderr
        return result

    try:
        created = run("create", "source", "helm", name, "--url", helmrepo.repository_url(sandbox.name))
        assert "fetched revision: sha256:" in created.stderr
        row = next(line for line in run("get", "sources", "helm").stdout.splitlines() if line.startswith(name))
        assert row.split()[1].startswith("sha256:") and len(row.split()[1]) == len("sha256:") + 8
        chart = helm_chart("flux-system", name, source=name)
        chart["spec"].update(chart=name, version="0.1.x")
        sandbox.kube.apply(chart, field_manager="test")
        reconciled = run("reconcile", "source", "chart", name, "--with-source")
        assert reconciled.stderr.index("annotating HelmRepository") < reconciled.stderr.index("annotating HelmChart")
        assert "fetched revision 0.1.0" in reconciled.stderr
        row = next(line for line in run("get", "sources", "chart").stdout.splitlines() if line.startswith(name))
        assert row.split()[1:4] == ["0.1.0", "False", "True"]
        registry = helmrepo.list_charts(sandbox.name)[0]["oci"].rsplit("/", 1)[0]
        run("create", "source", "helm", f"{name}-oci", "--url", registry)
        assert "reconciliation not supported by the object" in run(
            "reconcile", "source", "helm", f"{name}-oci").stderr
    finally:
        sandbox.kube.delete(SOURCE_API, "HelmChart", name, "flux-system")
        sandbox.kube.delete(SOURCE_API, "HelmRepository", name, "flux-system")
        sandbox.kube.delete(SOURCE_API, "HelmRepository", f"{name}-oci", "flux-system")


@pytest.mark.skipif(not all(support.BY_KIND[k].ours for k in ("HelmRepository", "HelmChart", "HelmRelease")),
                    reason="needs the sandbox reconciler's HelmRepository, HelmChart and HelmRelease controllers")
def test_create_reconcile_and_tree_with_the_sandbox_reconciler(sandbox: SandboxHandle, tmp_path: Path) -> None:
    name = _push_chart(sandbox, tmp_path / f"cli-{secrets.token_hex(3)}")
    target = f"helm-cli-{secrets.token_hex(3)}"

    def run(*args: str) -> Any:
        result = run_cli(*args, "--name", sandbox.name)
        assert result.exit_code == 0, result.stderr
        return result

    try:
        run("create", "source", "helm", name, "--url", helmrepo.repository_url(sandbox.name))
        created = run("create", "helmrelease", name, "--source", f"HelmRepository/{name}", "--chart", name,
                      "--chart-version", ">=0.1.0", "--target-namespace", target, "--create-target-namespace",
                      "--release-name", name)
        assert "applied revision 0.1.0" in created.stderr
        assert sandbox.kube.get("v1", "ConfigMap", name, target)["data"]["greeting"] == "hello"
        forced = run("reconcile", "hr", name, "--force", "--with-source")
        assert "applied revision 0.1.0" in forced.stderr
        assert f"ConfigMap/{target}/{name}" in run("tree", "helmrelease", name).stdout
        row = next(line for line in run("get", "helmreleases").stdout.splitlines() if line.startswith(name))
        assert row.split()[1:4] == ["0.1.0", "False", "True"]
    finally:
        sandbox.kube.delete(HR_API, "HelmRelease", name, "flux-system")
        wait_until(lambda: sandbox.kube.get_or_none(HR_API, "HelmRelease", name, "flux-system") is None, timeout=60,
                   what=f"HelmRelease {name} to be uninstalled and deleted")
        sandbox.kube.delete(SOURCE_API, "HelmRepository", name, "flux-system")
        sandbox.kube.delete("v1", "Namespace", target)
