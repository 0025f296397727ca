"""HelmRepository and HelmChart on the embedded cluster, against the sandbox's own chart repository and registry
(charts created with the Helm SDK and published with `sandbox.helmrepo.push_chart`): the index revision, a range
resolved to the newest match and moved forward by a newer push, a chart from a GitRepository path with valuesFiles,
an OCI HelmRepository, a mirrored remote repository served offline, and bad input (a missing version, basic auth, a
missing values file) with source-controller's reasons; a suspended chart is left alone."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from sandbox import helmrepo
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.mirrors import ScopedMirrors
from sandbox.reconciler import ops
from sandbox.reconciler.runtime import conditions as cond
from sandbox.registry.base import RegistryEndpoint
from sandbox.waiting import wait_until
from tests.unit.reconciler.source.test_helm_sources import ChartServer

helm = pytest.importorskip("helm_python")

Obj = dict[str, Any]
API = "source.toolkit.fluxcd.io/v1"
NS = "flux-system"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


def chart_dir(tmp_path: Path, name: str, version: str, *, values: str = "replicaCount: 1\n",
              files: dict[str, str] | None = None) -> Path:
    """A chart made by `helm create`, with ``version`` and ``values``."""
    folder = tmp_path / f"{name}-{version}"
    folder.mkdir(parents=True)
    helm.Chart.create(name, folder).close()
    chart = folder / name
    metadata = yaml.safe_load((chart / "Chart.yaml").read_text())
    metadata["version"] = version
    (chart / "Chart.yaml").write_text(yaml.safe_dump(metadata))
    (chart / "values.yaml").write_text(values)
    for relative, text in (files or {}).items():
        (chart / relative).write_text(text)
    return chart


class HelmObjects:
    """The HelmRepositories and HelmCharts a test creates in flux-system (deleted afterwards)."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.sandbox = sandbox
        self.created: list[tuple[str, str]] = []

    def apply(self, kind: str, name: str, **spec: Any) -> None:
        self.sandbox.kube.apply({"apiVersion": API, "kind": kind, "metadata": {"name": name, "namespace": NS},
                                 "spec": spec}, field_manager="test")
        if (kind, name) not in self.created:
            self.created.append((kind, name))

    def get(self, kind: str, name: str) -> Obj:
        return self.sandbox.kube.get(API, kind, name, NS)

    def wait(self, kind: str, name: str, check: Callable[[Obj], bool], what: str, timeout: float = 60) -> Obj:
        def done() -> Obj | None:
            obj = self.get(kind, name)
            return obj if check(obj) else None

        return wait_until(done, timeout=timeout, what=f"{kind} {name} {what}",
                          describe=lambda: json.dumps((self.get(kind, name).get("status") or {}).get("conditions")))

    def wait_ready(self, kind: str, name: str, revision: str | None = None, timeout: float = 60) -> Obj:
        def ready(obj: Obj) -> bool:
            status = obj.get("status") or {}
            if status.get("observedGeneration") != obj["metadata"].get("generation"):
                return False
            if revision is not None and (status.get("artifact") or {}).get("revision") != revision:
                return False
            return cond.is_true(status.get("conditions"), cond.READY)

        return self.wait(kind, name, ready, f"to be Ready{f' with {revision}' if revision else ''}", timeout)

    def wait_failed(self, kind: str, name: str, reason: str, timeout: float = 60) -> Obj:
        return self.wait(kind, name, lambda o: ops.ready_condition(o).get("status") == "False"
                         and ops.ready_condition(o).get("reason") == reason, f"to fail with {reason}", timeout)

    def request_reconcile(self, kind: str, name: str) -> None:
        self.sandbox.kube.patch(API, kind, name, NS, {"metadata": {"annotations": {REQUESTED_AT: uuid.uuid4().hex}}})

    def delete_all(self) -> None:
        kube = self.sandbox.kube
        for kind, name in reversed(self.created):
            kube.delete(API, kind, name, NS)
        for kind, name in self.created:
            wait_until(lambda k=kind, n=name: kube.get_or_none(API, k, n, NS) is None, timeout=60,
                       what=f"{kind} {name} to be deleted")


@pytest.fixture
def helm_objects(sandbox: SandboxHandle) -> Iterator[HelmObjects]:
    objects = HelmObjects(sandbox)
    try:
        yield objects
    finally:
        objects.delete_all()


@pytest.fixture
def unique() -> str:
    return f"hs{uuid.uuid4().hex[:6]}"


def download(url: str) -> bytes:
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.content


def test_http_repository_and_a_range_that_moves_forward(sandbox: SandboxHandle, helm_objects: HelmObjects,
                                                        unique: str, tmp_path: Path) -> None:
    helmrepo.push_chart(sandbox.name, chart_dir(tmp_path, unique, "1.0.0"))
    url = helmrepo.repository_url(sandbox.name)
    helm_objects.apply("HelmRepository", unique, url=url, interval="10m")
    repository = helm_objects.wait_ready("HelmRepository", unique)
    revision = "sha256:" + hashlib.sha256(download(f"{url}/index.yaml")).hexdigest()
    assert repository["status"]["artifact"]["revision"] == revision
    assert ops.ready_condition(repository)["message"] == f"stored artifact: revision '{revision}'"
    stored_index = json.loads(download(repository["status"]["url"]))
    assert [entry["version"] for entry in stored_index["entries"][unique]] == ["1.0.0"]
    assert "finalizers.fluxcd.io" in repository["metadata"]["finalizers"]

    helm_objects.apply("HelmChart", unique, chart=unique, version="1.x", interval="10m",
                       sourceRef={"kind": "HelmRepository", "name": unique})
    chart = helm_objects.wait_ready("HelmChart", unique, "1.0.0")
    assert ops.ready_condition(chart)["reason"] == "ChartPullSucceeded"
    assert chart["status"]["observedSourceArtifactRevision"] == revision
    with helm.Chart.load_archive(download(chart["status"]["artifact"]["url"])) as pulled:
        assert (pulled.name, pulled.version) == (unique, "1.0.0")
    events = ops.events(sandbox.kube, NS, for_object=f"HelmChart/{unique}")
    assert any(e["reason"] == "ChartPullSucceeded" and e["message"] == f"pulled '{unique}' chart with version "
               "'1.0.0'" for e in events)

    # A newer version in the range: the repository's next index revision rebuilds the chart (its watch).
    helmrepo.push_chart(sandbox.name, chart_dir(tmp_path, unique, "1.3.0"))
    helmrepo.push_chart(sandbox.name, chart_dir(tmp_path, unique, "2.0.0"))  # out of the range
    helm_objects.request_reconcile("HelmRepository", unique)
    chart = helm_objects.wait_ready("HelmChart", unique, "1.3.0")
    assert ops.ready_condition(chart)["message"] == f"pulled '{unique}' chart with version '1.3.0'"


def test_chart_from_a_git_path_with_values_files(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                 helm_objects: HelmObjects, unique: str, tmp_path: Path) -> None:
    chart = chart_dir(tmp_path, "web", "0.2.0", values="replicaCount: 1\nimage:\n  tag: stable\n")
    files: dict[str, str | None] = {f"charts/web/{path.relative_to(chart)}": path.read_text()
                                    for path in chart.rglob("*") if path.is_file()}
    files["env/prod.yaml"] = "replicaCount: 4\n"
    sha = gitops_repo.commit(files, "a chart and its values")
    gitops_repo.wait_for_source(sha)
    source_ref = {"kind": "GitRepository", "name": gitops_repo.source_name}
    helm_objects.apply("HelmChart", unique, chart="./charts/web", interval="10m", sourceRef=source_ref,
                       valuesFiles=["charts/web/values.yaml", "env/prod.yaml"])
    built = helm_objects.wait_ready("HelmChart", unique, "0.2.0+1")
    assert ops.ready_condition(built)["message"] == (
        "packaged 'web' chart with version '0.2.0+1' and merged values files [charts/web/values.yaml "
        "env/prod.yaml]")
    with helm.Chart.load_archive(download(built["status"]["artifact"]["url"])) as packaged:
        assert packaged.values == {"replicaCount": 4, "image": {"tag": "stable"}}

    helm_objects.apply("HelmChart", unique, chart="./charts/web", interval="10m", sourceRef=source_ref,
                       valuesFiles=["charts/web/values.yaml", "env/missing.yaml"])
    failed = helm_objects.wait_failed("HelmChart", unique, "ValuesFilesError")
    assert ops.ready_condition(failed)["message"] == ("values files merge error: no values file found at path "
                                                       "'/env/missing.yaml' (reference 'env/missing.yaml')")
    assert cond.is_true(failed["status"]["conditions"], "BuildFailed")
    assert failed["status"]["artifact"]["revision"] == "0.2.0+1"  # the last good chart stays served

    helm_objects.apply("HelmChart", unique, chart="./charts/web", interval="10m", sourceRef=source_ref,
                       valuesFiles=["charts/web/values.yaml", "env/missing.yaml"], ignoreMissingValuesFiles=True)
    ignored = helm_objects.wait_ready("HelmChart", unique, "0.2.0+3")
    assert ignored["status"]["observedValuesFiles"] == ["charts/web/values.yaml"]

    # Revision strategy: a new commit is a new chart version.
    helm_objects.apply("HelmChart", unique, chart="./charts/web", interval="10m", sourceRef=source_ref,
                       reconcileStrategy="Revision")
    helm_objects.wait_ready("HelmChart", unique, f"0.2.0+{sha[:12]}")
    newer = gitops_repo.commit({"env/other.yaml": "replicaCount: 2\n"}, "another commit")
    helm_objects.wait_ready("HelmChart", unique, f"0.2.0+{newer[:12]}")


def test_oci_repository(sandbox: SandboxHandle, registry: RegistryEndpoint, helm_objects: HelmObjects,
                        unique: str, tmp_path: Path) -> None:
    for version in ("0.1.0", "0.2.0", "1.0.0"):
        helmrepo.push_chart(sandbox.name, chart_dir(tmp_path, unique, version))
    helm_objects.apply("HelmRepository", unique, type="oci", url=registry.oci_charts, insecure=True,
                       interval="10m")
    helm_objects.apply("HelmChart", unique, chart=unique, version="<1.0.0", interval="10m",
                       sourceRef={"kind": "HelmRepository", "name": unique})
    chart = helm_objects.wait_ready("HelmChart", unique, "0.2.0")
    assert ops.ready_condition(chart)["message"] == f"pulled '{unique}' chart with version '0.2.0'"
    with helm.Chart.load_archive(download(chart["status"]["artifact"]["url"])) as pulled:
        assert pulled.version == "0.2.0"
    repository = helm_objects.get("HelmRepository", unique)
    assert not repository.get("status") and not repository["metadata"].get("finalizers")  # static, as in Flux


def test_bad_input_and_basic_auth(sandbox: SandboxHandle, helm_objects: HelmObjects, unique: str,
                                  tmp_path: Path) -> None:
    server = ChartServer(tmp_path / "private", ("reader", "not-a-real-password"))
    try:
        server.publish(chart_dir(tmp_path, unique, "1.0.0"))
        helm_objects.apply("HelmRepository", unique, url=server.url, interval="10m")
        failed = helm_objects.wait_failed("HelmRepository", unique, "Failed")
        assert ops.ready_condition(failed)["message"].endswith(f"{server.url}/index.yaml : 401 Unauthorized")
        sandbox.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": unique, "namespace": NS},
                            "data": {"username": base64.b64encode(b"reader").decode(),
                                     "password": base64.b64encode(b"not-a-real-password").decode()}},
                           field_manager="test")
        helm_objects.apply("HelmRepository", unique, url=server.url, interval="10m", secretRef={"name": unique})
        helm_objects.wait_ready("HelmRepository", unique)

        helm_objects.apply("HelmChart", unique, chart=unique, version="9.x", interval="10m",
                           sourceRef={"kind": "HelmRepository", "name": unique})
        missing = helm_objects.wait_failed("HelmChart", unique, "InvalidChartReference")
        assert ops.ready_condition(missing)["message"] == (
            "invalid chart reference: failed to get chart version for remote reference: no "
            f"'{unique}' chart with version matching '9.x' found")
        assert cond.is_true(missing["status"]["conditions"], cond.STALLED)
        helm_objects.apply("HelmChart", unique, chart=unique, version="1.0.0", interval="10m",
                           sourceRef={"kind": "HelmRepository", "name": unique})
        helm_objects.wait_ready("HelmChart", unique, "1.0.0")
        events = json.dumps(ops.events(sandbox.kube, NS, for_object=f"HelmChart/{unique}")
                            + ops.events(sandbox.kube, NS, for_object=f"HelmRepository/{unique}"))
        assert "not-a-real-password" not in events + json.dumps(helm_objects.get("HelmRepository", unique))
    finally:
        sandbox.kube.delete("v1", "Secret", unique, NS)
        helm_objects.delete_all()
        helm_objects.created.clear()
        server.close()


def test_a_suspended_chart_is_left_alone(sandbox: SandboxHandle, helm_objects: HelmObjects, unique: str,
                                         tmp_path: Path) -> None:
    helmrepo.push_chart(sandbox.name, chart_dir(tmp_path, unique, "1.0.0"))
    helm_objects.apply("HelmRepository", unique, url=helmrepo.repository_url(sandbox.name), interval="10m")
    helm_objects.wait_ready("HelmRepository", unique)
    helm_objects.apply("HelmChart", unique, chart=unique, interval="10m", suspend=True,
                       sourceRef={"kind": "HelmRepository", "name": unique})
    # The object is seen (the finalizer is added) but not reconciled.
    helm_objects.wait("HelmChart", unique, lambda o: "finalizers.fluxcd.io" in (o["metadata"].get("finalizers")
                                                                                or []), "to get its finalizer")
    assert not (helm_objects.get("HelmChart", unique).get("status") or {}).get("artifact")
    helm_objects.apply("HelmChart", unique, chart=unique, interval="10m", suspend=False,
                       sourceRef={"kind": "HelmRepository", "name": unique})
    helm_objects.wait_ready("HelmChart", unique, "1.0.0")


def test_a_mirrored_remote_repository_is_served_by_the_sandbox_offline(
        sandbox: SandboxHandle, sandbox_mirror: ScopedMirrors, helm_objects: HelmObjects, unique: str,
        tmp_path: Path) -> None:
    remote = f"https://charts.example.com/{unique}"
    sandbox_mirror.helm(remote, (chart_dir(tmp_path, unique, "3.1.0"),))
    sandbox_mirror.offline()
    helm_objects.apply("HelmRepository", unique, url=remote, interval="10m",
                       secretRef={"name": "the-real-remotes-credentials"})  # absent here, unused for a mirror
    repository = helm_objects.wait_ready("HelmRepository", unique)
    assert repository["spec"]["url"] == remote
    revision = repository["status"]["artifact"]["revision"]
    assert ops.ready_condition(repository)["message"] == \
        f"stored artifact: revision '{revision}' (served by the sandbox mirror of {remote})"
    helm_objects.apply("HelmChart", unique, chart=unique, version="3.x", interval="10m",
                       sourceRef={"kind": "HelmRepository", "name": unique})
    chart = helm_objects.wait_ready("HelmChart", unique, "3.1.0")
    assert ops.ready_condition(chart)["message"] == \
        f"pulled '{unique}' chart with version '3.1.0' (served by the sandbox mirror of {remote})"

    unmirrored = f"https://charts.example.com/{unique}-elsewhere"
    helm_objects.apply("HelmRepository", f"{unique}-x", url=unmirrored, interval="10m")
    failed = helm_objects.wait_failed("HelmRepository", f"{unique}-x", "Failed", timeout=15)
    message = ops.ready_condition(failed)["message"]
    assert "offline" in message and f"`sandbox mirror helm {unmirrored} --chart DIR`" in message, message


def test_a_chart_applied_with_its_repository_is_woken_by_the_first_index(sandbox: SandboxHandle,
                                                                         helm_objects: HelmObjects, unique: str,
                                                                         tmp_path: Path) -> None:
    """As a repository applies them, in any order: the HelmChart first finds no repository, and the repository's
    first artifact wakes it (the watch) — well before its fallback retry (30 s)."""
    helmrepo.push_chart(sandbox.name, chart_dir(tmp_path, unique, "0.5.0"))
    helm_objects.apply("HelmChart", unique, chart=unique, interval="10m",
                       sourceRef={"kind": "HelmRepository", "name": unique})
    waiting = helm_objects.wait_failed("HelmChart", unique, "SourceUnavailable", timeout=20)
    assert ops.ready_condition(waiting)["message"] == \
        f"failed to get source: helmrepositories.source.toolkit.fluxcd.io \"{unique}\" not found"
    helm_objects.apply("HelmRepository", unique, url=helmrepo.repository_url(sandbox.name), interval="10m")
    helm_objects.wait_ready("HelmChart", unique, "0.5.0", timeout=20)
