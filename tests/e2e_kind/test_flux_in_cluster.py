"""Upstream Flux installed in a kind cluster built here (`sandbox install --flux`): the controllers of the cached
build as images loaded into the node, Flux's own install applied, and the in-cluster source- and
kustomize-controller reconciling an OCI artifact pushed to the sandbox registry (pulled by its in-cluster name).
Skips naming the missing piece (Docker, kind, the node image, upstream Flux built)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cluster import kind
from sandbox.config import UpOptions
from sandbox.fluxdev import images, release
from sandbox.handle import SandboxHandle
from sandbox.registry import container as registry_container
from sandbox.tools import docker
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

NAME = "e2e-kind-flux"


@pytest.fixture(scope="module")
def kind_flux(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    missing = kind.missing_prerequisites()
    if missing:
        pytest.skip(f"missing for a real kind cluster: {missing}")
    if not release.ready():
        pytest.skip("upstream Flux is not built: `sandbox setup --flux`")
    if not docker.image_exists(registry_container.image_name()):
        if not docker.image_exists("local/registry:2"):
            pytest.skip(f"the registry image {registry_container.image_name()} (or the stand-in local/registry:2)")
        os.environ[registry_container.IMAGE_ENV] = "local/registry:2"
    handle = SandboxHandle.start(UpOptions(name=NAME, cluster="kind", reconciler="none", git="none", timeout=300))
    try:
        yield handle
    finally:
        handle.stop()


def test_flux_installed_in_the_cluster_reconciles_an_artifact_from_the_sandbox_registry(
        kind_flux: SandboxHandle, tmp_path: Path) -> None:
    installed = run_cli("install", "--flux", "--name", NAME, "--timeout", "240")
    assert installed.exit_code == 0, installed.output
    kube = kind_flux.kube
    built = release.require()
    deployment = kube.get("apps/v1", "Deployment", "source-controller", "flux-system")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == images.image_name("source-controller", built.built["source-controller"])

    registry = kind_flux.state.read_record()["kind"]["registry"]
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-oci, namespace: default}\ndata: {by: flux}\n")
    pushed = run_cli("push", "artifact", "--name", NAME, f"oci://{registry['host']}/app:v1",
                     "--path", str(tmp_path / "app"), "--source", "local", "--revision", "v1")
    assert pushed.exit_code == 0, pushed.output
    kube.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                "metadata": {"name": "app", "namespace": "flux-system"},
                "spec": {"interval": "1m", "url": f"oci://{registry['in_cluster']}/app", "insecure": True,
                         "ref": {"tag": "v1"}}}, field_manager="e2e")
    kube.apply({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "app", "namespace": "flux-system"},
                "spec": {"interval": "1m", "prune": True, "path": "./",
                         "sourceRef": {"kind": "OCIRepository", "name": "app"}}}, field_manager="e2e")

    def applied() -> dict[str, object] | None:
        found = kube.get_or_none("v1", "ConfigMap", "from-oci", "default")
        return found if found else None

    made = wait_until(applied, timeout=120, what="the in-cluster kustomize-controller to apply the artifact",
                      describe=lambda: str((kube.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "app",
                                                     "flux-system").get("status") or {}).get("conditions")))
    labels = made["metadata"]["labels"]  # type: ignore[index]
    assert labels["kustomize.toolkit.fluxcd.io/name"] == "app"
