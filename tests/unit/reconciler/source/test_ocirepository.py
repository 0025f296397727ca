"""The OCIRepository controller against an in-memory registry over HTTP: a Flux-format artifact pulled and stored
(revision, metadata, events), the refs, layerSelector extract and copy, and bad input (401, missing tag, wrong media
type, corrupt layer, a bad URL) ending Ready=False with source-controller's reason while the last good artifact
stays."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import ssl
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.oci import fluxartifact
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.source.ocirepository import OCIRepositoryReconciler
from sandbox.reconciler.source.storage import Storage
from tests.unit.oci.fakeregistry import FakeRegistry

Obj = dict[str, Any]


class Kube:
    def __init__(self, secrets: dict[str, Obj] | None = None) -> None:
        self.secrets = secrets or {}
        self.status_patches: list[Obj] = []

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        if kind == "Secret" and name in self.secrets:
            return self.secrets[name]
        raise NotFound(f"{kind} {name} not found")

    def patch_status(self, obj: Obj, status: Obj, *, field_manager: str | None = None) -> Obj:
        self.status_patches.append(status)
        return {**obj, "status": {**(obj.get("status") or {}), **status}}


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, dict[str, str]]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, *, controller: str,
               metadata: dict[str, str] | None = None) -> None:
        self.recorded.append((event_type, reason, message, dict(metadata or {})))


def flux_reference_artifact(files: dict[str, str], *, revision: str = "main@sha1:abc") -> tuple[bytes, bytes, bytes]:
    """(manifest, config, layer) written by hand to Flux's documented format — independent of sandbox.oci's
    builder — with Go archive/tar's header choices (no trailing slash on directories, USTAR)."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    layer = gzip.compress(tar_buffer.getvalue(), mtime=0)
    config = b'{"architecture":"","created":"2026-11-29T10:00:00Z","os":"","rootfs":{"type":"","diff_ids":null},' \
             b'"config":{}}'
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json", "size": len(config),
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "size": len(layer),
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest()}],
        "annotations": {"org.opencontainers.image.created": "2026-11-29T10:00:00Z",
                        "org.opencontainers.image.revision": revision,
                        "org.opencontainers.image.source": "https://git.example/app"}}
    return json.dumps(manifest).encode(), config, layer


def publish(fake: FakeRegistry, repository: str, tag: str, files: dict[str, str], **kwargs: Any) -> str:
    manifest, config, layer = flux_reference_artifact(files, **kwargs)
    fake.add_blob(config)
    fake.add_blob(layer)
    return fake.add_manifest(repository, tag, manifest)


def ocirepo(host: str, **spec: Any) -> Obj:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "app", "namespace": "flux-system", "generation": 1, "uid": "u1"},
            "spec": {"url": f"oci://{host}/app", "insecure": True, "interval": "5m", **spec}}


@pytest.fixture
def fake() -> Any:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "artifacts", "http://127.0.0.1:9999")


def run(obj: Obj, storage: Storage, kube: Kube | None = None) -> tuple[Obj, Events]:
    events = Events()
    ctx = Context(kube=kube or Kube(), events=events, metrics=Metrics(),  # type: ignore[arg-type]
                  stop=threading.Event())
    result = OCIRepositoryReconciler(storage).reconcile(obj, ctx)
    assert result.status is not None
    obj["status"] = result.status
    return result.status, events


def ready(status: Obj) -> Obj:
    found = cond.find(status["conditions"], cond.READY)
    assert found is not None
    return found


def files_of(storage: Storage, status: Obj) -> dict[str, str]:
    root = storage.unpacked(status["artifact"]["path"], status["artifact"]["digest"])
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_flux_artifact_is_pulled_and_stored_with_its_revision_and_annotations(fake: FakeRegistry,
                                                                               storage: Storage) -> None:
    digest = publish(fake, "app", "latest", {"cm.yaml": "kind: ConfigMap\n", "sub/x.yaml": "x: 1\n"})
    obj = ocirepo(fake.host)
    status, events = run(obj, storage)
    revision = f"latest@{digest}"
    assert ready(status) | {"lastTransitionTime": ""} == {
        "type": "Ready", "status": "True", "reason": "Succeeded", "observedGeneration": 1,
        "message": f"stored artifact for digest '{revision}'", "lastTransitionTime": ""}
    artifact = status["artifact"]
    assert artifact["revision"] == revision
    assert artifact["path"] == f"ocirepository/flux-system/app/{digest.removeprefix('sha256:')}.tar.gz"
    assert artifact["metadata"]["org.opencontainers.image.revision"] == "main@sha1:abc"
    assert files_of(storage, status) == {"cm.yaml": "kind: ConfigMap\n", "sub/x.yaml": "x: 1\n"}
    assert events.recorded == [("Normal", "NewArtifact",
                                f"stored artifact with revision '{revision}' from 'oci://{fake.host}/app', "
                                "origin source 'https://git.example/app', origin revision 'main@sha1:abc'",
                                {"source.toolkit.fluxcd.io/revision": revision,
                                 "source.toolkit.fluxcd.io/digest": artifact["digest"]})]
    assert status["url"] == "http://127.0.0.1:9999/ocirepository/flux-system/app/latest.tar.gz"
    latest = storage.local_path("ocirepository/flux-system/app") / "latest.tar.gz"
    assert latest.is_symlink() and latest.read_bytes() == storage.local_path(artifact["path"]).read_bytes()
    # Nothing new: only source-controller's up-to-date (trace) event, the same artifact; no blob fetched again.
    fake.requests.clear()
    again, events = run(obj, storage)
    assert again["artifact"] == artifact
    assert [e[:3] for e in events.recorded] == [
        ("Normal", "ArtifactUpToDate", f"artifact up-to-date with remote revision: '{artifact['revision']}'")]
    assert not any("/blobs/" in r for r in fake.requests)


def test_what_sandbox_push_artifact_builds_is_read_back(fake: FakeRegistry, storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.yaml").write_text("a: 1\n")
    artifact = fluxartifact.build(source, source_url="https://git.example/app", revision="v1@sha1:1")
    for blob in (artifact.config, *artifact.layers):
        fake.add_blob(blob.data)
    digest = fake.add_manifest("app", "v1", artifact.manifest())
    status, _ = run(ocirepo(fake.host, ref={"tag": "v1"}), storage)
    assert status["artifact"]["revision"] == f"v1@{digest}"
    assert files_of(storage, status) == {"a.yaml": "a: 1\n"}


def test_semver_moves_forward_and_a_digest_pins(fake: FakeRegistry, storage: Storage) -> None:
    first = publish(fake, "app", "1.0.0", {"v.yaml": "v: 1\n"})
    obj = ocirepo(fake.host, ref={"semver": ">=1.0.0"})
    status, _ = run(obj, storage)
    assert status["artifact"]["revision"] == f"1.0.0@{first}"
    second = publish(fake, "app", "1.1.0", {"v.yaml": "v: 2\n"})
    fake.blobs.clear()  # the new revision cannot be pulled: ArtifactOutdated names it, the old artifact stays
    kube = Kube()
    outdated, _ = run(obj, storage, kube)
    building = cond.find(kube.status_patches[0]["conditions"], cond.READY) or {}
    assert (building.get("status"), building.get("reason"), building.get("message")) == (
        "Unknown", "Progressing", f"building artifact: new revision '1.1.0@{second}' for '{fake.host}/app:1.1.0'")
    pending = cond.find(outdated["conditions"], "ArtifactOutdated") or {}
    assert (pending.get("status"), pending.get("reason"), pending.get("message")) == (
        "True", "NewRevision", f"new revision '1.1.0@{second}' for '{fake.host}/app:1.1.0'")
    assert outdated["artifact"]["revision"] == f"1.0.0@{first}"
    publish(fake, "app", "1.0.0", {"v.yaml": "v: 1\n"})
    publish(fake, "app", "1.1.0", {"v.yaml": "v: 2\n"})
    status, events = run(obj, storage)
    assert status["artifact"]["revision"] == f"1.1.0@{second}"
    assert files_of(storage, status) == {"v.yaml": "v: 2\n"}
    assert [e[1] for e in events.recorded] == ["NewArtifact"]
    pinned, _ = run(ocirepo(fake.host, ref={"digest": first, "semver": ">=1.0.0"}), storage)
    assert pinned["artifact"]["revision"] == first


def test_layer_selector_copy_stores_the_layer_as_is(fake: FakeRegistry, storage: Storage) -> None:
    publish(fake, "app", "latest", {"a.yaml": "a: 1\n"})
    _, _, layer = flux_reference_artifact({"a.yaml": "a: 1\n"})
    status, _ = run(ocirepo(fake.host, layerSelector={"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip",
                                                      "operation": "copy"}), storage)
    assert storage.local_path(status["artifact"]["path"]).read_bytes() == layer
    assert status["observedLayerSelector"]["operation"] == "copy"
    assert files_of(storage, status) == {"a.yaml": "a: 1\n"}


def test_ignore_filters_the_extracted_files(fake: FakeRegistry, storage: Storage) -> None:
    publish(fake, "app", "latest", {"a.yaml": "a\n", "docs/readme.md": "x\n", "b.yaml": "b\n"})
    status, _ = run(ocirepo(fake.host, ignore="docs/\nb.yaml\n"), storage)
    assert files_of(storage, status) == {"a.yaml": "a\n"}
    assert status["observedIgnore"] == "docs/\nb.yaml\n"


def failed(status: Obj) -> tuple[str, str]:
    condition = ready(status)
    assert condition["status"] == "False"
    return condition["reason"], condition["message"]


def test_bad_input_fails_with_flux_reasons_and_keeps_the_last_good_artifact(fake: FakeRegistry,
                                                                           storage: Storage) -> None:
    publish(fake, "app", "latest", {"a.yaml": "a\n"})
    obj = ocirepo(fake.host)
    good, _ = run(obj, storage)
    kept = good["artifact"]

    obj["spec"]["ref"] = {"tag": "missing"}
    status, events = run(obj, storage)
    reason, message = failed(status)
    assert reason == "OCIArtifactPullFailed"
    assert message.startswith(f"failed to determine artifact digest: resolving {fake.host}/app:missing: HTTP 404")
    assert status["artifact"] == kept
    assert cond.find(status["conditions"], "FetchFailed")["reason"] == "OCIArtifactPullFailed"  # type: ignore[index]
    assert events.recorded[-1][:2] == ("Warning", "OCIArtifactPullFailed")

    obj["spec"]["ref"] = {"semver": ">=9.0.0"}
    reason, message = failed(run(obj, storage)[0])
    assert (reason, message) == ("ReadOperationFailed", f"failed to determine the artifact tag for "
                                 f"'oci://{fake.host}/app': no match found for semver: >=9.0.0")

    obj["spec"]["ref"] = {}
    obj["spec"]["layerSelector"] = {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip"}
    reason, message = failed(run(obj, storage)[0])
    assert (reason, message) == ("OCIArtifactLayerOperationFailed", "failed to find layer with media type "
                                 "'application/vnd.cncf.helm.chart.content.v1.tar+gzip' in artifact")
    assert obj["status"]["artifact"] == kept

    # Back to what was stored: Ready again, told as a recovery (same digest: no NewArtifact).
    obj["spec"].pop("layerSelector")
    status, events = run(obj, storage)
    assert ready(status)["status"] == "True" and status["artifact"] == kept
    assert [e[1] for e in events.recorded] == ["ArtifactUpToDate", "Succeeded"]
    assert cond.find(status["conditions"], "ArtifactOutdated") is None
    assert cond.find(status["conditions"], "FetchFailed") is None


def test_a_corrupt_layer_fails_the_extraction(fake: FakeRegistry, storage: Storage) -> None:
    layer = b"not gzip at all"
    config = b"{}"
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": fluxartifact.CONFIG_MEDIA_TYPE, "size": 2, "digest": fake.add_blob(config)},
                "layers": [{"mediaType": fluxartifact.CONTENT_MEDIA_TYPE, "size": len(layer),
                            "digest": fake.add_blob(layer)}]}
    fake.add_manifest("app", "latest", json.dumps(manifest).encode())
    reason, message = failed(run(ocirepo(fake.host), storage)[0])
    assert reason == "OCIArtifactLayerOperationFailed"
    assert message.startswith("failed to extract layer contents from artifact: ")


def dockerconfig(host: str, username: str, password: str) -> Obj:
    config = {"auths": {host: {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}}}
    return {"type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


def test_registry_credentials_come_from_a_dockerconfigjson_secret(storage: Storage) -> None:
    with FakeRegistry(username="flux", password="s3cret") as fake:
        publish(fake, "app", "latest", {"a.yaml": "a\n"})
        reason, message = failed(run(ocirepo(fake.host), storage)[0])
        assert reason == "OCIArtifactPullFailed" and "HTTP 401" in message and f"{fake.host}/app:latest" in message
        wrong = Kube({"creds": dockerconfig(fake.host, "flux", "nope")})
        assert failed(run(ocirepo(fake.host, secretRef={"name": "creds"}), storage, wrong)[0])[0] == \
            "OCIArtifactPullFailed"
        right = Kube({"creds": dockerconfig(fake.host, "flux", "s3cret")})
        status, _ = run(ocirepo(fake.host, secretRef={"name": "creds"}), storage, right)
        assert ready(status)["status"] == "True"
        reason, message = failed(run(ocirepo(fake.host, secretRef={"name": "absent"}), storage)[0])
        assert reason == "AuthenticationFailed"
        assert message == ("failed to get credential: failed to get secret 'flux-system/absent': secrets \"absent\" "
                           "not found")


@pytest.mark.parametrize(("url", "message"), [
    ("https://x.test/app", "URL must be in format 'oci://<domain>/<org>/<repo>'"),
    ("oci://x.test/app:v1", "URL must not contain a tag; remove ':v1'"),
])
def test_a_bad_url_stalls(url: str, message: str, storage: Storage) -> None:
    obj = ocirepo("unused")
    obj["spec"]["url"] = url
    status, _ = run(obj, storage)
    assert failed(status) == ("URLInvalid", f"URL validation failed for '{url}': {message}")
    assert cond.find(status["conditions"], cond.STALLED) is not None


def test_unsupported_fields_stall_before_any_pull(storage: Storage) -> None:
    status, _ = run(ocirepo("unused", verify={"provider": "cosign"}), storage)
    reason, message = failed(status)
    assert reason == "NotSupported" and message.startswith("spec.verify is set but not supported")
    assert "cosign and notation are not available here" in message
    assert ready(run(ocirepo("unused", provider="generic"), storage)[0])["reason"] != "NotSupported"


def test_cert_secret_ref_trusts_the_registry_ca(tmp_path: Path, storage: Storage) -> None:
    """A registry on HTTPS with its own CA: untrusted without certSecretRef, pulled with its ca.crt."""
    from sandbox.cluster import pki

    creds = pki.generate(tmp_path / "pki", "oci-test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(creds.serving_cert, creds.serving_key)
    ca = base64.b64encode(creds.ca_cert.read_bytes()).decode()
    with FakeRegistry(tls=context) as fake:
        digest = publish(fake, "app", "latest", {"a.yaml": "a\n"})
        spec: dict[str, Any] = {"insecure": False}
        reason, message = failed(run(ocirepo(fake.host, **spec), storage)[0])
        assert reason == "OCIArtifactPullFailed" and "TLS with" in message
        kube = Kube({"registry-ca": {"data": {"ca.crt": ca}}})
        status, _ = run(ocirepo(fake.host, certSecretRef={"name": "registry-ca"}, **spec), storage, kube)
        assert status["artifact"]["revision"] == f"latest@{digest}"
        reason, message = failed(run(ocirepo(fake.host, certSecretRef={"name": "absent"}, **spec), storage)[0])
        assert (reason, message) == ("AuthenticationFailed", f"failed to generate transport for "
                                     f"'oci://{fake.host}/app': secrets \"absent\" not found")
        half = Kube({"half": {"data": {"tls.crt": ca}}})
        reason, message = failed(run(ocirepo(fake.host, certSecretRef={"name": "half"}, **spec), storage, half)[0])
        assert "must contain both 'tls.crt' and 'tls.key'" in message
