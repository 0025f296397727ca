"""OCI sources end to end on the embedded cluster, with no git involved: `sandbox push artifact` → OCIRepository →
Kustomization applied; semver moves forward; a digest pins; layerSelector extract and copy; a 401, a missing tag
and a wrong media type end Ready=False with source-controller's reason while the last good artifact keeps serving."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.runtime import conditions as cond
from sandbox.registry.base import RegistryEndpoint
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli
from tests.unit.oci.fakeregistry import FakeRegistry
from tests.unit.reconciler.source.test_ocirepository import publish

Obj = dict[str, Any]
SOURCE_API = "source.toolkit.fluxcd.io/v1"
KS_API = "kustomize.toolkit.fluxcd.io/v1"


class OCIApp:
    """An OCIRepository (and optionally a Kustomization) in flux-system following one repository of the sandbox
    registry; removed afterwards, applied objects pruned."""

    def __init__(self, sandbox: SandboxHandle, registry: RegistryEndpoint, tmp_path: Path) -> None:
        self.sandbox, self.registry, self.tmp = sandbox, registry, tmp_path
        self.name = f"oci-{uuid.uuid4().hex[:6]}"
        self.namespace = f"{self.name}-ns"
        self.url = f"oci://{registry.host}/{self.name}"

    def push(self, tag: str, version: str, *, files: int = 2) -> str:
        folder = self.tmp / f"{tag}-{version}"
        folder.mkdir()
        documents = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}]
        documents += [{"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"cm-{i}", "namespace": self.namespace}, "data": {"version": version}}
                      for i in range(files)]
        for index, document in enumerate(documents):
            (folder / f"{index:02d}.yaml").write_text(yaml.safe_dump(document))
        result = run_cli("push", "artifact", f"{self.url}:{tag}", "--name", self.sandbox.name, "--path", str(folder),
                         "--source", "https://git.example/app", "--revision", f"{version}@sha1:{'0' * 40}",
                         "-o", "json")
        assert result.exit_code == 0, result.output
        pushed = json.loads(result.stdout)
        assert pushed["tag"] == tag and pushed["repository"] == f"{self.registry.host}/{self.name}"
        return str(pushed["digest"])

    def source(self, **spec: Any) -> None:
        self.sandbox.kube.apply({"apiVersion": SOURCE_API, "kind": "OCIRepository",
                                 "metadata": {"name": self.name, "namespace": "flux-system"},
                                 "spec": {"url": self.url, "insecure": True, "interval": "10m", **spec}},
                                field_manager="sandbox")

    def kustomization(self) -> None:
        manifest = ops.kustomization_manifest(self.name, "flux-system", source=f"OCIRepository/{self.name}",
                                              path="./", interval="10m", prune=True, wait=False,
                                              target_namespace=None, depends_on=[], timeout=None)
        self.sandbox.kube.apply(manifest, field_manager="sandbox")

    def get_source(self) -> Obj:
        return self.sandbox.kube.get(SOURCE_API, "OCIRepository", self.name, "flux-system")

    def reconcile_source(self) -> None:
        """What `flux reconcile source oci` does: the requestedAt annotation (a new tag is otherwise seen at the
        next interval)."""
        ops.request_reconcile(self.sandbox.kube, ops.OCI_REPOSITORY, self.name, "flux-system", timeout=30)

    def wait_source(self, predicate: Any, what: str, timeout: float = 30) -> Obj:
        def check() -> Obj | None:
            obj = self.get_source()
            return obj if predicate(obj) else None

        return wait_until(check, timeout=timeout, what=f"OCIRepository {self.name} {what}",
                          describe=lambda: json.dumps(ops.ready_condition(self.get_source())))

    def wait_revision(self, revision: str) -> Obj:
        return self.wait_source(lambda o: ((o.get("status") or {}).get("artifact") or {}).get("revision") == revision
                                and cond.is_true(o["status"].get("conditions"), cond.READY), f"to store {revision}")

    def wait_failed(self, reason: str) -> Obj:
        return self.wait_source(lambda o: ops.ready_condition(o).get("status") == "False"
                                and ops.ready_condition(o).get("reason") == reason, f"to fail with {reason}")

    def wait_applied(self, revision: str, timeout: float = 30) -> Obj:
        def applied() -> Obj | None:
            ks = self.sandbox.kube.get(KS_API, "Kustomization", self.name, "flux-system")
            status = ks.get("status") or {}
            if status.get("lastAppliedRevision") == revision and cond.is_true(status.get("conditions"), cond.READY):
                return ks
            return None

        return wait_until(applied, timeout=timeout, what=f"Kustomization {self.name} to apply {revision}",
                          describe=lambda: json.dumps(ops.ready_condition(
                              self.sandbox.kube.get(KS_API, "Kustomization", self.name, "flux-system"))))

    def configmap_version(self) -> str | None:
        live = self.sandbox.kube.get_or_none("v1", "ConfigMap", "cm-0", self.namespace)
        return None if live is None else str(live["data"]["version"])

    def delete(self) -> None:
        kube = self.sandbox.kube
        kube.delete(KS_API, "Kustomization", self.name, "flux-system")
        wait_until(lambda: kube.get_or_none(KS_API, "Kustomization", self.name, "flux-system") is None, timeout=60,
                   what=f"Kustomization {self.name} to be deleted")
        kube.delete(SOURCE_API, "OCIRepository", self.name, "flux-system")


@pytest.fixture
def oci_app(sandbox: SandboxHandle, registry: RegistryEndpoint, tmp_path: Path) -> Iterator[OCIApp]:
    app = OCIApp(sandbox, registry, tmp_path)
    try:
        yield app
    finally:
        app.delete()


def test_push_then_applied_then_a_new_tag_through_semver(oci_app: OCIApp) -> None:
    first = oci_app.push("1.0.0", "1.0.0")
    oci_app.source(ref={"semver": ">=1.0.0"})
    oci_app.kustomization()
    revision = f"1.0.0@{first}"
    source = oci_app.wait_revision(revision)
    assert ops.ready_condition(source)["message"] == f"stored artifact for digest '{revision}'"
    assert source["status"]["artifact"]["metadata"]["org.opencontainers.image.source"] == "https://git.example/app"
    ks = oci_app.wait_applied(revision)
    assert ks["status"]["lastAppliedOriginRevision"] == f"1.0.0@sha1:{'0' * 40}"
    assert oci_app.configmap_version() == "1.0.0"
    events = ops.events(oci_app.sandbox.kube, "flux-system", for_object=f"OCIRepository/{oci_app.name}")
    assert any(e["reason"] == "NewArtifact" and e["message"].startswith(f"stored artifact with revision '{revision}'")
               for e in events)

    # A new tag in the range rolls forward once the source looks (requestedAt, as `flux reconcile source oci`).
    second = oci_app.push("1.1.0", "1.1.0")
    oci_app.push("2.0.0-rc.1", "2.0.0-rc.1")  # a prerelease is not in the range
    oci_app.reconcile_source()
    oci_app.wait_applied(f"1.1.0@{second}")
    assert oci_app.configmap_version() == "1.1.0"

    # A digest pins the first artifact whatever the semver range says.
    oci_app.source(ref={"semver": ">=1.0.0", "digest": first})
    oci_app.wait_applied(first)
    assert oci_app.configmap_version() == "1.0.0"


def test_layer_selector_extract_and_copy_and_tagging(oci_app: OCIApp) -> None:
    digest = oci_app.push("v1", "one")
    tagged = run_cli("tag", "artifact", f"{oci_app.url}:v1", "--name", oci_app.sandbox.name, "--tag", "latest")
    assert tagged.exit_code == 0, tagged.output
    listed = run_cli("list", "artifacts", oci_app.url, "--name", oci_app.sandbox.name, "-o", "json")
    artifacts = {a["tag"]: a for a in json.loads(listed.stdout)["artifacts"]}
    assert artifacts["latest"]["digest"] == artifacts["v1"]["digest"] == digest
    assert artifacts["v1"]["revision"] == f"one@sha1:{'0' * 40}"

    oci_app.source()  # no ref: tag latest
    oci_app.kustomization()
    oci_app.wait_applied(f"latest@{digest}")
    oci_app.source(layerSelector={"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip",
                                  "operation": "copy"})
    copied = oci_app.wait_source(lambda o: (o.get("status") or {}).get("observedLayerSelector", {}).get("operation")
                                 == "copy", "to copy the layer")
    assert copied["status"]["artifact"]["revision"] == f"latest@{digest}"
    oci_app.reconcile_source()
    assert oci_app.configmap_version() == "one"


def test_bad_input_fails_with_the_reason_and_the_last_artifact_keeps_serving(oci_app: OCIApp) -> None:
    digest = oci_app.push("v1", "good")
    oci_app.source(ref={"tag": "v1"})
    oci_app.kustomization()
    revision = f"v1@{digest}"
    oci_app.wait_applied(revision)

    oci_app.source(ref={"tag": "missing"})
    failed = oci_app.wait_failed("OCIArtifactPullFailed")
    message = ops.ready_condition(failed)["message"]
    assert f"{oci_app.registry.host}/{oci_app.name}:missing" in message and "MANIFEST_UNKNOWN" in message
    assert failed["status"]["artifact"]["revision"] == revision

    oci_app.source(ref={"tag": "v1"},
                   layerSelector={"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip"})
    failed = oci_app.wait_failed("OCIArtifactLayerOperationFailed")
    assert ops.ready_condition(failed)["message"] == ("failed to find layer with media type "
                                                       "'application/vnd.cncf.helm.chart.content.v1.tar+gzip' in "
                                                       "artifact")
    assert failed["status"]["artifact"]["revision"] == revision
    # The Kustomization still has its artifact: a reconcile of it applies the last good revision.
    ops.request_reconcile(oci_app.sandbox.kube, ops.KUSTOMIZATION, oci_app.name, "flux-system", timeout=30)
    assert oci_app.configmap_version() == "good"


def test_a_registry_that_wants_credentials(sandbox: SandboxHandle, tmp_path: Path) -> None:
    """The sandbox registry needs no login, so an in-memory registry on loopback asks for one (HTTP 401)."""
    kube = sandbox.kube
    name = f"oci-auth-{uuid.uuid4().hex[:6]}"
    with FakeRegistry(username="flux", password="s3cret") as fake:
        digest = publish(fake, "app", "latest", {"cm.yaml": "kind: ConfigMap\n"})
        spec = {"url": f"oci://{fake.host}/app", "insecure": True, "interval": "10m"}
        kube.apply({"apiVersion": SOURCE_API, "kind": "OCIRepository",
                    "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec}, field_manager="sandbox")
        try:
            def status_of() -> Obj:
                return kube.get(SOURCE_API, "OCIRepository", name, "flux-system")

            failed = wait_until(lambda: status_of() if ops.ready_condition(status_of()).get("reason")
                                == "OCIArtifactPullFailed" else None, timeout=30, what="a 401 to fail the pull")
            assert "HTTP 401" in ops.ready_condition(failed)["message"]
            config = {"auths": {fake.host: {"username": "flux", "password": "s3cret"}}}
            kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                        "metadata": {"name": name, "namespace": "flux-system"},
                        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}},
                       field_manager="sandbox")
            kube.apply({"apiVersion": SOURCE_API, "kind": "OCIRepository",
                        "metadata": {"name": name, "namespace": "flux-system"},
                        "spec": {**spec, "secretRef": {"name": name}}}, field_manager="sandbox")
            stored = wait_until(lambda: status_of() if ((status_of().get("status") or {}).get("artifact") or {})
                                .get("revision") == f"latest@{digest}" else None, timeout=30,
                                what="the pull with credentials")
            assert ops.ready_condition(stored)["status"] == "True"
        finally:
            kube.delete(SOURCE_API, "OCIRepository", name, "flux-system")
            kube.delete("v1", "Secret", name, "flux-system")
