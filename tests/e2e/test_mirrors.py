"""Mirrors for hermetic runs, end to end: a repository whose Flux YAML names a remote git repository and a remote
OCI repository runs green, offline, once both are mirrored — the objects keep their real URLs, and their status
and NewArtifact events say the sandbox mirror served them; without the mirrors it fails at once with Flux's
reasons and a message naming the URL and the `sandbox mirror` command that would serve it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from sandbox.handle import SandboxHandle
from sandbox.mirrors import ScopedMirrors
from sandbox.reconciler import ops
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

Obj = dict[str, Any]
SOURCE_API = "source.toolkit.fluxcd.io/v1"
KS_API = "kustomize.toolkit.fluxcd.io/v1"
FLEET_URL = "https://git.example.com/org/fleet"
OCI_PREFIX = "oci://registry.example.com/org"
APP_URL = "oci://registry.example.com/org/app"


def configmap(name: str, namespace: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                           "data": data})


def sources(suffix: str) -> list[Obj]:
    """The user's Flux YAML, unchanged: sources with real remote URLs and a Kustomization for each."""
    meta = {"namespace": "flux-system"}
    return [
        {"apiVersion": SOURCE_API, "kind": "GitRepository", "metadata": {"name": f"fleet-{suffix}", **meta},
         "spec": {"url": FLEET_URL, "interval": "1m", "ref": {"branch": "main"},
                  "secretRef": {"name": "fleet-credentials"}}},  # the real remote's; absent here, unused
        {"apiVersion": SOURCE_API, "kind": "OCIRepository", "metadata": {"name": f"app-{suffix}", **meta},
         "spec": {"url": APP_URL, "interval": "1m", "ref": {"tag": "latest"}}},
        {"apiVersion": KS_API, "kind": "Kustomization", "metadata": {"name": f"fleet-{suffix}", **meta},
         "spec": {"interval": "10m", "prune": True, "path": "./apps",
                  "sourceRef": {"kind": "GitRepository", "name": f"fleet-{suffix}"}}},
        {"apiVersion": KS_API, "kind": "Kustomization", "metadata": {"name": f"app-{suffix}", **meta},
         "spec": {"interval": "10m", "prune": True, "path": "./",
                  "sourceRef": {"kind": "OCIRepository", "name": f"app-{suffix}"}}},
    ]


def test_a_repository_naming_remote_sources_runs_green_offline_through_mirrors(
        sandbox: SandboxHandle, sandbox_mirror: ScopedMirrors, sandbox_apply_repo: Any, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    namespace = f"mirrored-{suffix}"
    namespace_yaml = yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    sandbox_mirror.git(FLEET_URL, files={"apps/namespace.yaml": namespace_yaml,
                                         "apps/fleet.yaml": configmap("from-git", namespace, served="git")})
    sandbox_mirror.oci(APP_URL, files={"namespace.yaml": namespace_yaml,
                                       "app.yaml": configmap("from-oci", namespace, served="oci")})
    sandbox_mirror.offline()

    repository = tmp_path / "repo"
    (repository / "clusters" / "dev").mkdir(parents=True)
    (repository / "clusters" / "dev" / "sources.yaml").write_text(yaml.safe_dump_all(sources(suffix)))
    sandbox_apply_repo(repository, path="./clusters/dev", timeout=90)

    kube = sandbox.kube

    # The verdict judges the sources the repository applied; Kustomizations following other sources are waited
    # for here.
    def applied() -> bool:
        return all(ops.ready_condition(kube.get(KS_API, "Kustomization", name, "flux-system")).get("status")
                   == "True" for name in (f"fleet-{suffix}", f"app-{suffix}"))

    wait_until(applied, timeout=60, what="the Kustomizations of the mirrored sources to be Ready",
               describe=lambda: str([ops.ready_condition(kube.get(KS_API, "Kustomization", name, "flux-system"))
                                     for name in (f"fleet-{suffix}", f"app-{suffix}")]))
    assert kube.get("v1", "ConfigMap", "from-git", namespace)["data"] == {"served": "git"}
    assert kube.get("v1", "ConfigMap", "from-oci", namespace)["data"] == {"served": "oci"}

    git_source = kube.get(SOURCE_API, "GitRepository", f"fleet-{suffix}", "flux-system")
    assert git_source["spec"]["url"] == FLEET_URL
    revision = git_source["status"]["artifact"]["revision"]
    assert revision.startswith("main@sha1:") and len(revision) == len("main@sha1:") + 40
    assert ops.ready_condition(git_source)["message"] == \
        f"stored artifact for revision '{revision}' (served by the sandbox mirror of {FLEET_URL})"
    oci_source = kube.get(SOURCE_API, "OCIRepository", f"app-{suffix}", "flux-system")
    assert oci_source["spec"]["url"] == APP_URL
    oci_revision = oci_source["status"]["artifact"]["revision"]
    assert oci_revision.startswith("latest@sha256:")
    assert ops.ready_condition(oci_source)["message"] == \
        f"stored artifact for digest '{oci_revision}' (served by the sandbox mirror of {APP_URL})"
    for kind, name, url in (("GitRepository", f"fleet-{suffix}", FLEET_URL), ("OCIRepository", f"app-{suffix}",
                                                                              APP_URL)):
        events = ops.events(kube, "flux-system", for_object=f"{kind}/{name}")
        assert any(e["reason"] == "NewArtifact" and e["message"].endswith(f"(served by the sandbox mirror of {url})")
                   for e in events), [e["message"] for e in events]

    listed = run_cli("mirror", "list", "--name", sandbox.name, "-o", "json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert data["offline"] is True
    assert {(m["kind"], m["url"]) for m in data["mirrors"]} >= {("git", FLEET_URL), ("oci", APP_URL)}


def test_offline_without_mirrors_fails_at_once_naming_the_url_and_the_command(
        sandbox: SandboxHandle, sandbox_mirror: ScopedMirrors) -> None:
    suffix = uuid.uuid4().hex[:6]
    sandbox_mirror.offline()
    kube = sandbox.kube
    git_source, oci_source = sources(suffix)[:2]
    started = time.monotonic()
    try:
        for obj in (git_source, oci_source):
            kube.apply(obj, field_manager="test")
        expected = {
            ("GitRepository", git_source["metadata"]["name"]): (
                "GitOperationFailed", f"`sandbox mirror git {FLEET_URL} --from DIR`"),
            ("OCIRepository", oci_source["metadata"]["name"]): (
                "OCIArtifactPullFailed", f"`sandbox mirror oci {APP_URL} --from DIR --tag TAG`"),
        }
        for (kind, name), (reason, command) in expected.items():
            url = FLEET_URL if kind == "GitRepository" else APP_URL

            def failed(kind: str = kind, name: str = name) -> Obj | None:
                live = kube.get(SOURCE_API, kind, name, "flux-system")
                ready = ops.ready_condition(live)
                return ready if ready.get("status") == "False" else None

            ready = wait_until(failed, timeout=15, what=f"{kind}/{name} to fail offline",
                               hint="is the reconciler reading the mirror map? (`sandbox status`)")
            assert ready["reason"] == reason
            assert url in ready["message"] and command in ready["message"], ready["message"]
            assert "offline" in ready["message"]
        # At once: no network attempt, no timeout waited out.
        assert time.monotonic() - started < 15
    finally:
        for obj in (git_source, oci_source):
            kube.delete(SOURCE_API, obj["kind"], obj["metadata"]["name"], "flux-system")
