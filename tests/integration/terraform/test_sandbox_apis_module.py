"""examples/terraform/sandbox-apis, run for real: tofu (or terraform) init/apply against a sandbox, the CRDs are
there and the Kustomization goes Ready under our reconciler with the repository's revision, then destroy removes
what it made. Skips naming the missing binary or provider mirror."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import terraform
from sandbox.config import UpOptions
from sandbox.git import repo as repos
from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.apis import install as dev_install
from sandbox.tools import tofu
from sandbox.waiting import wait_until

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "terraform" / "sandbox-apis"
CRD_API = "apiextensions.k8s.io/v1"
KS_API = "kustomize.toolkit.fluxcd.io/v1"
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: from-terraform
  namespace: default
data:
  made-by: a Kustomization terraform created
"""


@pytest.fixture(scope="module")
def any_binary() -> terraform.Binary:
    found = terraform.find_binary()
    if found is None:
        pytest.skip("neither tofu nor terraform found ($SANDBOX_TOFU, the cache: `sandbox setup --terraform`, PATH)")
    return found


@pytest.fixture(scope="module")
def binary(any_binary: terraform.Binary) -> terraform.Binary:
    """A binary that can also init the module: with the provider mirror, or the registry when allowed."""
    found = any_binary
    if not terraform.mirror_complete() and not os.environ.get("SANDBOX_TERRAFORM_ONLINE"):
        pytest.skip(f"{found.path} found, but not the provider mirror (`sandbox setup --terraform`; or set "
                    "SANDBOX_TERRAFORM_ONLINE=1 to let init use the registry)")
    return found


def test_the_examples_are_in_canonical_format(any_binary: terraform.Binary) -> None:
    result = tofu.fmt_check(any_binary.path, EXAMPLE.parent, env=terraform.run_env())
    assert result.returncode == 0, f"`tofu fmt -recursive examples/terraform`: {result.stdout}"  # 3: not canonical


@pytest.fixture(scope="module")
def own_sandbox(binary: terraform.Binary) -> Iterator[SandboxHandle]:
    """A sandbox of this module's own: destroy removes the CRDs, which no other test could live with."""
    handle = SandboxHandle.start(UpOptions(name=f"tf-{os.getpid()}", git="local", registry="local", fleet_repo=""))
    try:
        yield handle
    finally:
        handle.stop()


def test_apply_installs_the_apis_and_the_kustomization_goes_ready_then_destroy_removes_them(
        binary: terraform.Binary, own_sandbox: SandboxHandle, tmp_path: Path) -> None:
    kube, git = own_sandbox.kube, own_sandbox.git
    git.create_repo("tf-app")
    head = repos.commit_files(git, "tf-app", {"configmap.yaml": CONFIGMAP}, "A ConfigMap")
    module_dir = tmp_path / "sandbox-apis"
    module_dir.mkdir()
    for source in EXAMPLE.glob("*.tf"):
        shutil.copy2(source, module_dir)
    apis = tmp_path / "flux-apis.yaml"
    apis.write_text(dev_install.export())  # what `sandbox install --export` prints
    token = git.auth().password
    (module_dir / "terraform.tfvars.json").write_text(json.dumps({
        "kubeconfig_path": str(own_sandbox.kubeconfig), "apis_manifest_path": str(apis),
        "git_url": git.clone_url("tf-app", in_cluster=True), "name": "tf-app", "interval": "10s"}))
    env = {**terraform.run_env(), "TF_VAR_git_token": token}

    tofu.init(binary.path, module_dir, env=env)
    applied = tofu.apply(binary.path, module_dir, env=env, secrets=[token])
    assert token not in applied.stdout + applied.stderr

    for crd in dev_install.crd_objects():
        assert kube.get_or_none(CRD_API, "CustomResourceDefinition", crd["metadata"]["name"]) is not None
    managers = {m.get("manager") for m in kube.get(CRD_API, "CustomResourceDefinition",
                                                  "kustomizations.kustomize.toolkit.fluxcd.io")
                ["metadata"].get("managedFields", [])}
    assert any(m and "sandbox-install" not in m for m in managers)  # the provider applied it too

    def ready() -> dict[str, object] | None:
        ks = kube.get_or_none(KS_API, "Kustomization", "tf-app", "flux-system")
        if ks is None:
            return None
        condition = ops.ready_condition(ks)
        applied_revision = (ks.get("status") or {}).get("lastAppliedRevision")
        return ks if condition.get("status") == "True" and applied_revision == f"main@sha1:{head}" else None

    wait_until(ready, timeout=120, what="Kustomization flux-system/tf-app to be Ready at the pushed revision")
    assert kube.get_or_none("v1", "ConfigMap", "from-terraform", "default") is not None

    tofu.destroy(binary.path, module_dir, env=env, secrets=[token])
    # The Kustomization went first (its finalizer pruned the ConfigMap), then the source, then the APIs.
    wait_until(lambda: kube.get_or_none("v1", "ConfigMap", "from-terraform", "default") is None, timeout=60,
               what="the ConfigMap to be pruned")
    wait_until(lambda: kube.get_or_none(CRD_API, "CustomResourceDefinition",
                                        "kustomizations.kustomize.toolkit.fluxcd.io") is None,
               timeout=60, what="the Kustomization CRD to be removed by destroy")
