"""The HelmRepository and HelmChart controllers against a real chart repository over HTTP (charts made and indexed
by the Helm SDK), an in-memory OCI registry and a GitRepository-like source in the artifact storage: revisions,
artifacts, statuses and events as source-controller writes them, and bad input ending Ready=False with its reason
and message while the last good artifact stays."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import ssl
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.errors import NotFound
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import FINALIZER, Context
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.source import chartbuild
from sandbox.reconciler.source.artifact import Sources
from sandbox.reconciler.source.helmchart import HelmChartReconciler
from sandbox.reconciler.source.helmrepository import HelmRepositoryReconciler
from sandbox.reconciler.source.helmsources import charts_to_rebuild
from sandbox.reconciler.source.mirrors import MirrorMapFile
from sandbox.reconciler.source.storage import Storage
from tests.unit.oci.fakeregistry import FakeRegistry

helm = pytest.importorskip("helm_python")

Obj = dict[str, Any]
NS = "flux-system"


class Kube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.patches: list[Obj] = []

    def add(self, obj: Obj) -> Obj:
        self.objects[(obj["kind"], obj["metadata"]["name"])] = obj
        return obj

    def secret(self, name: str, **data: str) -> None:
        self.add({"kind": "Secret", "metadata": {"name": name, "namespace": NS},
                  "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        if (kind, name) in self.objects:
            return self.objects[(kind, name)]
        raise NotFound(f"{kind} {name} not found")

    def patch_status(self, obj: Obj, status: Obj, *, field_manager: str | None = None) -> Obj:
        return {**obj, "status": {**(obj.get("status") or {}), **status}}

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: Obj) -> Obj:
        self.patches.append(patch)
        return {}


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, dict[str, str]]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, *, controller: str,
               metadata: dict[str, str] | None = None) -> None:
        self.recorded.append((event_type, reason, message, dict(metadata or {})))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _, _ in self.recorded]


class ChartServer:
    """A directory served over HTTP on loopback, with optional basic auth."""

    def __init__(self, root: Path, credentials: tuple[str, str] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        expected = "Basic " + base64.b64encode(":".join(credentials).encode()).decode() if credentials else None
        served = str(root)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=served, **kwargs)

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                if expected and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                    self.end_headers()
                    return
                super().do_GET()

        self.root = root
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, chart_dir: Path) -> Path:
        archive = Path(helm.package(chart_dir, destination=self.root))
        helm.repo_index_generate(self.root, merge=self.root / "index.yaml" if (self.root / "index.yaml").exists()
                                 else None)
        return archive

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_chart(tmp_path: Path, version: str, *, name: str = "app", extra_files: dict[str, str] | None = None) -> Path:
    folder = tmp_path / f"src-{name}-{version}"
    folder.mkdir(parents=True)
    helm.Chart.create(name, folder).close()
    chart = folder / name
    metadata = yaml.safe_load((chart / "Chart.yaml").read_text())
    metadata["version"] = version
    (chart / "Chart.yaml").write_text(yaml.safe_dump(metadata))
    (chart / "values.yaml").write_text("replicaCount: 1\nimage:\n  repository: nginx\n  tag: stable\n")
    for relative, text in (extra_files or {}).items():
        (chart / relative).write_text(text)
    return chart


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "artifacts", "http://127.0.0.1:9999")


@pytest.fixture
def charts(tmp_path: Path) -> Iterator[ChartServer]:
    server = ChartServer(tmp_path / "repo")
    for version in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
        server.publish(make_chart(tmp_path, version, extra_files={"values-prod.yaml": "replicaCount: 3\n"}))
    yield server
    server.close()


def helmrepo(url: str, **spec: Any) -> Obj:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": NS, "generation": 1, "uid": "r1", "resourceVersion": "1"},
            "spec": {"url": url, "interval": "10m", **spec}}


def helmchart(**spec: Any) -> Obj:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "app", "namespace": NS, "generation": 1, "uid": "c1", "resourceVersion": "1"},
            "spec": {"chart": "app", "interval": "10m",
                     "sourceRef": {"kind": "HelmRepository", "name": "charts"}, **spec}}


def context(kube: Kube, events: Events) -> Context:
    return Context(kube=kube, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]


def reconcile_repository(obj: Obj, storage: Storage, kube: Kube) -> tuple[Obj, Events]:
    events = Events()
    result = HelmRepositoryReconciler(storage).reconcile(obj, context(kube, events))
    assert result.status is not None
    obj["status"] = result.status
    return result.status, events


def reconcile_chart(obj: Obj, storage: Storage, kube: Kube, sources: Sources | None = None,
                    mirror_map: MirrorMapFile | None = None) -> tuple[Obj, Events]:
    events = Events()
    reconciler = HelmChartReconciler(storage, sources or Sources(), mirror_map=mirror_map,
                                     dependencies=chartbuild.resolve_dependencies)
    result = reconciler.reconcile(obj, context(kube, events))
    assert result.status is not None
    obj["status"] = result.status
    return result.status, events


def condition(status: Obj, kind: str = cond.READY) -> Obj:
    found = cond.find(status.get("conditions"), kind)
    assert found is not None, status.get("conditions")
    return found


def ready_repository(charts: ChartServer, storage: Storage, kube: Kube, **spec: Any) -> Obj:
    repository = kube.add(helmrepo(charts.url, **spec))
    status, _ = reconcile_repository(repository, storage, kube)
    assert condition(status)["status"] == "True", status
    return repository


# --- HelmRepository ----------------------------------------------------------------------------------------------

def test_the_index_is_fetched_and_stored_with_the_digest_of_what_was_downloaded(charts: ChartServer,
                                                                               storage: Storage) -> None:
    kube = Kube()
    repository = helmrepo(charts.url)
    status, events = reconcile_repository(repository, storage, kube)
    revision = "sha256:" + hashlib.sha256((charts.root / "index.yaml").read_bytes()).hexdigest()
    assert status["artifact"]["revision"] == revision
    assert (condition(status)["reason"], condition(status)["message"]) == \
        ("Succeeded", f"stored artifact: revision '{revision}'")
    assert condition(status, cond.ARTIFACT_IN_STORAGE)["status"] == "True"
    assert status["artifact"]["path"] == f"helmrepository/{NS}/charts/index-{revision[7:]}.yaml"
    assert status["url"] == f"http://127.0.0.1:9999/helmrepository/{NS}/charts/index.yaml"
    stored = json.loads(storage.local_path(status["artifact"]["path"]).read_bytes())
    assert [v["version"] for v in stored["entries"]["app"]] == ["2.0.0-rc.1", "1.1.0", "1.0.0"]
    assert (storage.local_path(f"helmrepository/{NS}/charts") / "index.yaml").read_bytes() == \
        storage.local_path(status["artifact"]["path"]).read_bytes()
    kind, reason, message, metadata = events.recorded[-1]
    assert (kind, reason) == ("Normal", "NewArtifact")
    assert message.startswith("stored fetched index of size ") and message.endswith(f"from '{charts.url}'")
    assert metadata["source.toolkit.fluxcd.io/revision"] == revision

    again, events = reconcile_repository(repository, storage, kube)
    assert again["artifact"] == status["artifact"]
    assert events.reasons() == ["ArtifactUpToDate"]


def test_a_new_chart_version_is_a_new_index_revision(charts: ChartServer, storage: Storage, tmp_path: Path) -> None:
    kube = Kube()
    repository = helmrepo(charts.url)
    first, _ = reconcile_repository(repository, storage, kube)
    old_path = first["artifact"]["path"]
    charts.publish(make_chart(tmp_path, "1.2.0"))
    second, events = reconcile_repository(repository, storage, kube)
    assert second["artifact"]["revision"] != first["artifact"]["revision"]
    assert "NewArtifact" in events.reasons()
    assert storage.local_path(old_path).exists()  # retained, as source-controller keeps the last 2 for 60 s


def test_basic_auth_from_the_secret(tmp_path: Path, storage: Storage) -> None:
    server = ChartServer(tmp_path / "private", ("reader", "s3cret-value"))
    try:
        server.publish(make_chart(tmp_path, "1.0.0"))
        kube = Kube()
        unauthenticated, events = reconcile_repository(helmrepo(server.url), storage, kube)
        assert condition(unauthenticated)["status"] == "False"
        assert condition(unauthenticated, cond.FETCH_FAILED)["reason"] == "Failed"
        assert condition(unauthenticated)["message"] == (
            "failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch "
            f"{server.url}/index.yaml : 401 Unauthorized")
        missing, _ = reconcile_repository(helmrepo(server.url, secretRef={"name": "auth"}), storage, kube)
        assert (condition(missing)["reason"], condition(missing)["message"]) == (
            "AuthenticationFailed", f"failed to get authentication secret '{NS}/auth': secrets \"auth\" not found")
        kube.secret("auth", username="reader", password="s3cret-value")
        repository = kube.add(helmrepo(server.url, secretRef={"name": "auth"}))
        status, events = reconcile_repository(repository, storage, kube)
        assert condition(status)["status"] == "True"
        chart, chart_events = reconcile_chart(helmchart(version="1.x"), storage, kube)
        assert condition(chart)["status"] == "True", chart
        everything = json.dumps([status, chart, events.recorded, chart_events.recorded])
        assert "s3cret-value" not in everything
    finally:
        server.close()


def test_cert_secret_ref_trusts_the_repository_ca(tmp_path: Path, storage: Storage) -> None:
    from sandbox.cluster import pki

    creds = pki.generate(tmp_path / "pki", "charts-test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(creds.serving_cert, creds.serving_key)
    server = ChartServer(tmp_path / "tls-repo", tls=context)
    try:
        server.publish(make_chart(tmp_path, "1.0.0"))
        kube = Kube()
        untrusted, _ = reconcile_repository(helmrepo(server.url), storage, kube)
        assert condition(untrusted)["message"] == (
            "failed to fetch Helm repository index: failed to cache index to temporary file: Get "
            f"\"{server.url}/index.yaml\": tls: failed to verify certificate: x509: certificate signed by unknown "
            "authority")
        kube.secret("ca", **{"ca.crt": creds.ca_cert.read_text()})
        repository = kube.add(helmrepo(server.url, certSecretRef={"name": "ca"}))
        status, _ = reconcile_repository(repository, storage, kube)
        assert condition(status)["status"] == "True", status
        chart, _ = reconcile_chart(helmchart(version="1.0.0"), storage, kube)
        assert condition(chart)["message"] == "pulled 'app' chart with version '1.0.0'"
    finally:
        server.close()


def test_an_oci_url_on_a_default_repository_stalls(storage: Storage) -> None:
    status, events = reconcile_repository(helmrepo("oci://registry.example/charts"), storage, Kube())
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "URLInvalid", "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository "
        "type")
    assert condition(status, cond.STALLED)["status"] == "True"
    assert events.recorded[-1][0] == "Warning"


def test_an_unreachable_repository_keeps_the_last_artifact(charts: ChartServer, storage: Storage) -> None:
    kube = Kube()
    repository = helmrepo(charts.url)
    good, _ = reconcile_repository(repository, storage, kube)
    charts.close()
    status, _ = reconcile_repository(repository, storage, kube)
    assert condition(status)["status"] == "False"
    assert condition(status, cond.FETCH_FAILED)["status"] == "True"
    assert status["artifact"] == good["artifact"]
    assert cond.find(status["conditions"], cond.STALLED) is None


def test_an_oci_repository_is_static(storage: Storage) -> None:
    kube = Kube()
    repository = helmrepo("oci://registry.example/charts", type="oci")
    repository["metadata"]["finalizers"] = [FINALIZER]
    repository["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    status, events = reconcile_repository(repository, storage, kube)
    assert status == {}
    assert kube.patches == [{"metadata": {"finalizers": [], "resourceVersion": "1"}}]
    assert events.recorded == []
    assert not HelmRepositoryReconciler.uses_finalizer(repository)


def test_a_cloud_provider_is_not_supported(charts: ChartServer, storage: Storage) -> None:
    status, _ = reconcile_repository(helmrepo(charts.url, provider="aws"), storage, Kube())
    assert condition(status)["reason"] == "NotSupported"
    assert "spec.provider" in condition(status)["message"]


# --- HelmChart from a HelmRepository -----------------------------------------------------------------------------

def test_a_range_resolves_to_the_newest_stable_match_and_the_chart_is_stored_as_pulled(
        charts: ChartServer, storage: Storage) -> None:
    kube = Kube()
    ready_repository(charts, storage, kube)
    chart = helmchart(version="1.x")
    status, events = reconcile_chart(chart, storage, kube)
    assert (condition(status)["reason"], condition(status)["message"]) == \
        ("ChartPullSucceeded", "pulled 'app' chart with version '1.1.0'")
    assert status["artifact"]["revision"] == "1.1.0"
    assert status["artifact"]["path"] == f"helmchart/{NS}/app/app-1.1.0.tgz"
    assert status["url"] == f"http://127.0.0.1:9999/helmchart/{NS}/app/latest.tar.gz"
    assert status["observedChartName"] == "app"
    assert status["observedSourceArtifactRevision"] == kube.get("", "HelmRepository", "charts")["status"][
        "artifact"]["revision"]
    # pulled as is: the very archive the repository serves
    assert storage.local_path(status["artifact"]["path"]).read_bytes() == (charts.root / "app-1.1.0.tgz").read_bytes()
    assert events.recorded[-1][:2] == ("Normal", "ChartPullSucceeded")

    chart["status"]["observedGeneration"] = 1
    again, events = reconcile_chart(chart, storage, kube)
    assert again["artifact"] == status["artifact"]
    assert events.reasons() == ["ArtifactUpToDate"]


def test_a_newer_version_in_the_index_is_picked_up(charts: ChartServer, storage: Storage, tmp_path: Path) -> None:
    kube = Kube()
    repository = ready_repository(charts, storage, kube)
    chart = helmchart(version=">=1.0.0 <2.0.0")
    first, _ = reconcile_chart(chart, storage, kube)
    assert first["artifact"]["revision"] == "1.1.0"
    charts.publish(make_chart(tmp_path, "1.5.0"))
    reconcile_repository(repository, storage, kube)
    assert charts_to_rebuild(repository, [chart]) == [f"{NS}/app"]
    second, events = reconcile_chart(chart, storage, kube)
    assert second["artifact"]["revision"] == "1.5.0"
    assert events.recorded[-1][:3] == ("Normal", "ChartPullSucceeded", "pulled 'app' chart with version '1.5.0'")
    assert condition(second)["message"] == "pulled 'app' chart with version '1.5.0'"
    assert storage.local_path(first["artifact"]["path"]).exists()  # retained: the last 2 stay for 60 s


def test_values_files_are_merged_in_order_and_the_version_gets_the_generation(charts: ChartServer,
                                                                             storage: Storage) -> None:
    kube = Kube()
    ready_repository(charts, storage, kube)
    chart = helmchart(version="1.0.0", valuesFiles=["values.yaml", "values-prod.yaml"])
    chart["metadata"]["generation"] = 3
    status, _ = reconcile_chart(chart, storage, kube)
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "ChartPackageSucceeded",
        "packaged 'app' chart with version '1.0.0+3' and merged values files [values.yaml values-prod.yaml]")
    with helm.Chart.load(storage.local_path(status["artifact"]["path"])) as packaged:
        assert packaged.version == "1.0.0+3"
        assert packaged.values == {"replicaCount": 3, "image": {"repository": "nginx", "tag": "stable"}}
    assert "observedValuesFiles" not in status


def test_a_missing_values_file_fails_unless_ignored(charts: ChartServer, storage: Storage) -> None:
    kube = Kube()
    ready_repository(charts, storage, kube)
    status, events = reconcile_chart(helmchart(version="1.0.0", valuesFiles=["values-prod.yaml", "nope.yaml"]),
                                     storage, kube)
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "ValuesFilesError", "values files merge error: failed to merge chart values: no values file found at path "
        "'nope.yaml'")
    assert condition(status, "BuildFailed")["status"] == "True"
    assert condition(status, cond.STALLED)["status"] == "True"
    assert events.recorded[-1][:2] == ("Warning", "ValuesFilesError")
    ignored, _ = reconcile_chart(helmchart(version="1.0.0", valuesFiles=["values-prod.yaml", "nope.yaml"],
                                           ignoreMissingValuesFiles=True), storage, kube)
    assert condition(ignored)["status"] == "True"
    assert ignored["observedValuesFiles"] == ["values-prod.yaml"]


def test_a_missing_version_is_an_invalid_chart_reference(charts: ChartServer, storage: Storage) -> None:
    kube = Kube()
    ready_repository(charts, storage, kube)
    status, events = reconcile_chart(helmchart(version="9.x"), storage, kube)
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "InvalidChartReference", "invalid chart reference: failed to get chart version for remote reference: no "
        "'app' chart with version matching '9.x' found")
    assert condition(status, cond.FETCH_FAILED)["status"] == "True"
    assert condition(status, cond.STALLED)["status"] == "True"
    assert events.recorded[-1][:2] == ("Warning", "InvalidChartReference")
    unknown, _ = reconcile_chart(helmchart(chart="nothing"), storage, kube)
    assert condition(unknown)["message"] == ("invalid chart reference: failed to get chart version for remote "
                                             "reference: no chart name found")


def test_a_missing_repository_or_index_is_waited_for(storage: Storage) -> None:
    kube = Kube()
    status, _ = reconcile_chart(helmchart(), storage, kube)
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "SourceUnavailable",
        "failed to get source: helmrepositories.source.toolkit.fluxcd.io \"charts\" not found")
    kube.add(helmrepo("http://127.0.0.1:1"))
    status, events = reconcile_chart(helmchart(), storage, kube)
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "NoSourceArtifact", "no artifact available for HelmRepository source 'charts'")
    assert cond.find(status["conditions"], cond.STALLED) is None
    assert events.recorded[-1][0] == "Normal"


def test_verify_is_not_supported(storage: Storage) -> None:
    status, _ = reconcile_chart(helmchart(verify={"provider": "cosign"}), storage, Kube())
    assert condition(status)["reason"] == "NotSupported"
    assert "spec.verify" in condition(status)["message"]


# --- HelmChart from an OCI HelmRepository --------------------------------------------------------------------------

def push_oci_chart(fake: FakeRegistry, archive: Path, name: str, version: str) -> None:
    data = archive.read_bytes()
    config = json.dumps({"name": name, "version": version}).encode()
    fake.add_blob(config)
    fake.add_blob(data)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "size": len(config),
                           "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
                "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "size": len(data),
                            "digest": "sha256:" + hashlib.sha256(data).hexdigest()}]}
    fake.add_manifest(f"charts/{name}", version, json.dumps(manifest).encode())


def test_an_oci_repository_resolves_the_range_in_the_registry(storage: Storage, tmp_path: Path) -> None:
    with FakeRegistry() as fake:
        for version in ("0.9.0", "1.0.0", "1.3.0", "2.0.0"):
            archive = Path(helm.package(make_chart(tmp_path, version), destination=tmp_path / "oci"))
            push_oci_chart(fake, archive, "app", version)
        kube = Kube()
        repository = kube.add(helmrepo(f"oci://{fake.host}/charts", type="oci", insecure=True))
        assert reconcile_repository(repository, storage, kube)[0] == {}
        status, _ = reconcile_chart(helmchart(version="^1.0"), storage, kube)
        assert (condition(status)["reason"], condition(status)["message"]) == \
            ("ChartPullSucceeded", "pulled 'app' chart with version '1.3.0'")
        assert "observedSourceArtifactRevision" not in status
        exact, _ = reconcile_chart(helmchart(version="0.9.0"), storage, kube)
        assert exact["artifact"]["revision"] == "0.9.0"
        missing, _ = reconcile_chart(helmchart(version="5.x"), storage, kube)
        assert (condition(missing)["reason"], condition(missing)["message"]) == (
            "ChartPullError", "chart pull error: failed to get chart version for remote reference: could not "
            "locate a version matching provided version string 5.x")
        assert cond.find(missing["conditions"], cond.STALLED) is None


def test_a_cloud_provider_on_a_static_oci_repository_stops_its_charts(storage: Storage) -> None:
    kube = Kube()
    kube.add(helmrepo("oci://registry.example/charts", type="oci", provider="aws"))
    status, events = reconcile_chart(helmchart(version="1.x"), storage, kube)
    assert condition(status)["reason"] == "NotSupported"
    assert condition(status)["message"].startswith(f"HelmRepository/{NS}/charts: spec.provider is set but not "
                                                   "supported")
    assert condition(status, cond.STALLED)["status"] == "True"
    assert events.recorded[-1][:2] == ("Warning", "NotSupported")


# --- HelmChart from a source's artifact ----------------------------------------------------------------------------

class _Informer:
    def get(self, key: str) -> None:
        return None


def git_source(kube: Kube, storage: Storage, tree: Path, revision: str,
               kind: kinds.Kind = kinds.GITREPOSITORY) -> Sources:
    stored = storage.store_directory(tree, f"{kind.singular}/{NS}/repo/{revision[-40:]}.tar.gz", None)
    kube.add({"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": "repo", "namespace": NS},
              "status": {"artifact": {"path": stored.path, "url": "", "revision": revision,
                                      "digest": stored.digest}}})
    sources = Sources()
    sources.register(kind, _Informer())  # type: ignore[arg-type]
    return sources


def git_tree(tmp_path: Path, version: str = "0.3.0") -> Path:
    tree = tmp_path / f"tree-{version}"
    chart = make_chart(tmp_path, version, name="web")
    (tree / "charts").mkdir(parents=True)
    chart.rename(tree / "charts" / "web")
    (tree / "env").mkdir()
    (tree / "env" / "prod.yaml").write_text("replicaCount: 5\nimage:\n  tag: v2\n")
    return tree


def git_chart(**spec: Any) -> Obj:
    return helmchart(**{"chart": "./charts/web", "sourceRef": {"kind": "GitRepository", "name": "repo"}, **spec})


def test_a_chart_in_a_git_source_is_packaged_with_values_files_from_the_repository_root(
        storage: Storage, tmp_path: Path) -> None:
    kube = Kube()
    sources = git_source(kube, storage, git_tree(tmp_path), "main@sha1:" + "a1b2c3d4e5f6" * 3 + "abcd")
    status, events = reconcile_chart(git_chart(valuesFiles=["env/prod.yaml"]), storage, kube, sources)
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "ChartPackageSucceeded", "packaged 'web' chart with version '0.3.0+1' and merged values files "
        "[env/prod.yaml]")
    with helm.Chart.load(storage.local_path(status["artifact"]["path"])) as packaged:
        assert packaged.values == {"replicaCount": 5, "image": {"tag": "v2"}}  # merged over nothing, as Flux
    assert events.recorded[-1][1] == "ChartPackageSucceeded"
    assert events.recorded[-1][3]["source.toolkit.fluxcd.io/revision"] == "0.3.0+1"
    assert status["observedSourceArtifactRevision"].startswith("main@sha1:")
    plain, _ = reconcile_chart(git_chart(), storage, kube, sources)
    assert condition(plain)["message"] == "packaged 'web' chart with version '0.3.0'"


def test_the_revision_strategy_adds_the_commit(storage: Storage, tmp_path: Path) -> None:
    kube = Kube()
    sha = "0123456789ab" + "f" * 28
    sources = git_source(kube, storage, git_tree(tmp_path), f"main@sha1:{sha}")
    status, _ = reconcile_chart(git_chart(reconcileStrategy="Revision", valuesFiles=["env/prod.yaml"]), storage,
                                kube, sources)
    assert status["artifact"]["revision"] == "0.3.0+0123456789ab.1"


def test_missing_values_files_in_a_source(storage: Storage, tmp_path: Path) -> None:
    kube = Kube()
    sources = git_source(kube, storage, git_tree(tmp_path), "main@sha1:" + "b" * 40)
    status, _ = reconcile_chart(git_chart(valuesFiles=["env/prod.yaml", "env/missing.yaml"]), storage, kube,
                                sources)
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "ValuesFilesError", "values files merge error: no values file found at path '/env/missing.yaml' "
        "(reference 'env/missing.yaml')")
    ignored, _ = reconcile_chart(git_chart(valuesFiles=["env/prod.yaml", "env/missing.yaml"],
                                           ignoreMissingValuesFiles=True), storage, kube, sources)
    assert condition(ignored)["message"] == ("packaged 'web' chart with version '0.3.0+1' and merged values files "
                                             "[env/prod.yaml]")
    assert ignored["observedValuesFiles"] == ["env/prod.yaml"]


def test_a_wrong_path_in_a_source_is_an_invalid_chart_reference(storage: Storage, tmp_path: Path) -> None:
    kube = Kube()
    sources = git_source(kube, storage, git_tree(tmp_path), "main@sha1:" + "c" * 40)
    status, _ = reconcile_chart(git_chart(chart="./charts/nothing"), storage, kube, sources)
    assert (condition(status)["reason"], condition(status)["message"]) == (
        "InvalidChartReference", "invalid chart reference: stat charts/nothing: no such file or directory")


def test_an_unserved_source_kind_stalls(storage: Storage) -> None:
    status, _ = reconcile_chart(helmchart(sourceRef={"kind": "Bucket", "name": "b"}), storage, Kube())
    assert condition(status)["reason"] == "UnsupportedSourceKind"
    assert condition(status, cond.STALLED)["status"] == "True"


def test_a_packaged_chart_in_a_source_is_copied(storage: Storage, tmp_path: Path) -> None:
    kube = Kube()
    tree = tmp_path / "packaged"
    (tree / "dist").mkdir(parents=True)
    helm.package(make_chart(tmp_path, "4.0.0", name="tool"), destination=tree / "dist")
    sources = git_source(kube, storage, tree, "main@sha1:" + "d" * 40)
    status, _ = reconcile_chart(git_chart(chart="dist/tool-4.0.0.tgz"), storage, kube, sources)
    assert condition(status)["message"] == "pulled 'tool' chart with version '4.0.0'"
    with tarfile.open(storage.local_path(status["artifact"]["path"])) as archive:
        assert "tool/Chart.yaml" in archive.getnames()


@pytest.mark.parametrize("kind", [kinds.OCIREPOSITORY, kinds.EXTERNALARTIFACT], ids=lambda k: k.kind)
def test_any_source_kind_serves_through_the_artifact_interface(kind: kinds.Kind, storage: Storage,
                                                                tmp_path: Path) -> None:
    """Flux's HelmChart CRD only admits GitRepository and Bucket besides HelmRepository; the controller itself
    names no kind, so an OCIRepository's or an ExternalArtifact's artifact builds like a GitRepository's."""
    kube = Kube()
    sources = git_source(kube, storage, git_tree(tmp_path), "latest@sha256:" + "e" * 64, kind)
    status, _ = reconcile_chart(git_chart(sourceRef={"kind": kind.kind, "name": "repo"},
                                          reconcileStrategy="Revision"), storage, kube, sources)
    assert (condition(status)["reason"], status["artifact"]["revision"]) == \
        ("ChartPackageSucceeded", "0.3.0+eeeeeeeeeeee")


def test_dependencies_missing_from_charts_are_fetched_and_refused_offline(charts: ChartServer, storage: Storage,
                                                                          tmp_path: Path) -> None:
    tree = git_tree(tmp_path)
    chart_file = tree / "charts" / "web" / "Chart.yaml"
    metadata = yaml.safe_load(chart_file.read_text())
    metadata["dependencies"] = [{"name": "app", "version": "1.x", "repository": charts.url}]
    chart_file.write_text(yaml.safe_dump(metadata))
    kube = Kube()
    sources = git_source(kube, storage, tree, "main@sha1:" + "f" * 40)
    status, events = reconcile_chart(git_chart(), storage, kube, sources)
    assert condition(status)["message"] == "packaged 'web' chart with version '0.3.0'", status
    assert ("Normal", "ResolvedDependencies", "resolved 1 chart dependencies", {}) in events.recorded
    with helm.Chart.load(storage.local_path(status["artifact"]["path"])) as packaged:
        assert [(d["name"], d["version"]) for d in packaged.dependencies] == [("app", "1.1.0")]
    packaged_chart = yaml.safe_load(helm.show(str(storage.local_path(status["artifact"]["path"])),
                                              output_format="chart"))
    assert packaged_chart["dependencies"][0]["repository"] == charts.url  # Chart.yaml as written

    offline_map = tmp_path / "mirrors.json"
    offline_map.write_text(json.dumps({"offline": True}))
    remote = "https://charts.example.com/stable"
    metadata["dependencies"] = [{"name": "app", "version": "1.x", "repository": remote}]
    chart_file.write_text(yaml.safe_dump(metadata))
    kube = Kube()
    sources = git_source(kube, storage, tree, "main@sha1:" + "9" * 40)
    refused, _ = reconcile_chart(git_chart(), storage, kube, sources, MirrorMapFile(offline_map))
    assert condition(refused)["reason"] == "DependencyBuildError"
    assert f"`sandbox mirror helm {remote} --chart DIR`" in condition(refused)["message"]
    assert condition(refused, "BuildFailed")["status"] == "True"

    offline_map.write_text(json.dumps({"offline": True, "helm": [{"url": remote, "target": charts.url}]}))
    mirrored, _ = reconcile_chart(git_chart(), storage, kube, sources, MirrorMapFile(offline_map))
    assert condition(mirrored)["status"] == "True", mirrored


def test_superseded_index_artifacts_are_garbage_collected_with_an_event(charts: ChartServer, storage: Storage,
                                                                       tmp_path: Path) -> None:
    """As source-controller: at the start of a reconcile, artifacts older than the retention TTL other than the
    current one go, and a GarbageCollectionSucceeded event says how many."""
    kube = Kube()
    repository = helmrepo(charts.url)
    first, _ = reconcile_repository(repository, storage, kube)
    charts.publish(make_chart(tmp_path, "1.2.0"))
    second, events = reconcile_repository(repository, storage, kube)
    assert "GarbageCollectionSucceeded" not in events.reasons()  # the previous one is young: retained
    old = storage.local_path(first["artifact"]["path"])
    os.utime(old, (old.stat().st_mtime - 3600, old.stat().st_mtime - 3600))
    _, events = reconcile_repository(repository, storage, kube)
    assert ("Normal", "GarbageCollectionSucceeded", "garbage collected 1 artifacts", {}) in events.recorded
    assert not old.exists() and storage.local_path(second["artifact"]["path"]).exists()
