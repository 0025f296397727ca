"""Compatibility both ways with what `flux push artifact` writes (the bytes in data/flux-push-artifact, produced by
fluxcd/pkg/oci itself): our OCIRepository reads flux's artifact, and what we build matches it — the tar and the
config byte for byte, the manifest byte for byte but for the layer's digest and size (gzip differs)."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import pytest

from sandbox.oci import fluxartifact
from sandbox.oci.distribution import RegistryClient, sha256_digest
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.source.ocirepository import OCIRepositoryReconciler
from sandbox.reconciler.source.storage import Storage
from tests.unit.oci.fakeregistry import FakeRegistry
from tests.unit.reconciler.source.test_ocirepository import Events, Kube, ocirepo

FLUX = Path(__file__).parent / "data" / "flux-push-artifact"
SOURCE = "https://git.example/app"
REVISION = "main@sha1:0123456789abcdef0123456789abcdef01234567"
CREATED = "1970-01-01T00:00:00Z"
FILES = {"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fluxref\n",
         "apps/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: fluxref\ndata:\n"
                             "  origin: flux\n",
         "apps/run.sh": "#!/bin/sh\necho hi\n"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The tree flux's artifact was pushed from (modes set: the tar keeps them)."""
    root = tmp_path / "src"
    for relative, text in {**FILES, ".git/HEAD": "x\n", "logo.png": "png\n"}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
    (root / "apps" / "run.sh").chmod(0o755)
    for directory in (root, root / "apps", root / "apps" / "web", root / ".git"):
        directory.chmod(0o755)
    return root


def flux_bytes() -> tuple[bytes, bytes, bytes]:
    return ((FLUX / "manifest.json").read_bytes(), (FLUX / "config.json").read_bytes(),
            (FLUX / "layer.tar.gz").read_bytes())


def test_what_we_build_is_flux_format_byte_for_byte_but_the_gzip_stream(tree: Path) -> None:
    manifest, config, layer = flux_bytes()
    ours = fluxartifact.build(tree, source_url=SOURCE, revision=REVISION, created=CREATED)
    assert fluxartifact.build_tar(tree) == gzip.decompress(layer)
    assert ours.config.data == config
    flux_layer = json.loads(manifest)["layers"][0]
    expected = manifest.replace(flux_layer["digest"].encode(), ours.layers[0].digest.encode()).replace(
        f'"size":{flux_layer["size"]}'.encode(), f'"size":{len(ours.layers[0].data)}'.encode())
    assert ours.manifest() == expected


def test_our_ocirepository_reads_what_flux_pushed(tmp_path: Path) -> None:
    manifest, config, layer = flux_bytes()
    storage = Storage(tmp_path / "artifacts", "http://127.0.0.1:9999")
    with FakeRegistry() as fake:
        fake.add_blob(config)
        fake.add_blob(layer)
        digest = fake.add_manifest("app", "v1", manifest)
        obj = ocirepo(fake.host, ref={"tag": "v1"})
        ctx = Context(kube=Kube(), events=Events(), metrics=Metrics(),  # type: ignore[arg-type]
                      stop=threading.Event())
        status = OCIRepositoryReconciler(storage).reconcile(obj, ctx).status
    assert status is not None
    assert digest == "sha256:6a97e847191176253ce03a22b102bf507998f9f42e136cbd6f6eff762df5face"
    assert status["artifact"]["revision"] == f"v1@{digest}"
    assert status["artifact"]["metadata"] == {"org.opencontainers.image.created": CREATED,
                                              "org.opencontainers.image.revision": REVISION,
                                              "org.opencontainers.image.source": SOURCE}
    root = storage.unpacked(status["artifact"]["path"], status["artifact"]["digest"])
    assert {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()} == FILES


def test_our_push_lands_in_a_registry_as_built(tree: Path) -> None:
    artifact = fluxartifact.build(tree, source_url=SOURCE, revision=REVISION, created=CREATED)
    with FakeRegistry() as fake, RegistryClient(fake.host, insecure=True) as client:
        digest = fluxartifact.push(client, "team/app", "v1", artifact)
        assert digest == artifact.digest == sha256_digest(artifact.manifest())
        assert fake.tags["team/app"]["v1"] == digest
        assert client.blob("team/app", artifact.layers[0].digest) == artifact.layers[0].data
        # Pushing the same artifact again uploads nothing new.
        fake.requests.clear()
        fluxartifact.push(client, "team/app", "v1", artifact)
        assert not any(r.startswith(("POST", "PATCH")) for r in fake.requests)
