"""The reconciler's APIs on the embedded cluster: installed and Established, Flux's own examples accepted, wrong
ones rejected by the apiserver's validation, RBAC effective, and a second install a no-op."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from sandbox.errors import APIError
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler.apis import install as dev_install
from sandbox.reconciler.apis import kinds
from sandbox.tools.kubectl import kubectl
from sandbox.waiting import wait_until

# The examples of Flux's own documentation for the three kinds the reconciler implements first.
GIT_REPOSITORY = yaml.safe_load("""
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  namespace: default
spec:
  interval: 5m0s
  url: https://github.com/stefanprodan/podinfo
  ref:
    branch: master
""")
KUSTOMIZATION = yaml.safe_load("""
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: default
spec:
  interval: 10m
  targetNamespace: default
  sourceRef:
    kind: GitRepository
    name: podinfo
  path: "./kustomize"
  prune: true
  timeout: 1m
""")
RECEIVER = yaml.safe_load("""
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: github-receiver
  namespace: flux-system
spec:
  type: github
  events:
    - "ping"
    - "push"
  secretRef:
    name: receiver-token
  resources:
    - apiVersion: source.toolkit.fluxcd.io/v1
      kind: GitRepository
      name: flux-system
""")
SERVICE_ACCOUNT_USER = f"system:serviceaccount:{dev_install.NAMESPACE}:{dev_install.SERVICE_ACCOUNT}"


def changed(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with the dotted ``path`` set to ``value`` (or removed when ``value`` is ``...``)."""
    result = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = result
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return result


@pytest.fixture(scope="module")
def installed(sandbox: SandboxHandle) -> dev_install.InstallResult:
    return dev_install.install(sandbox.kube)


@pytest.fixture(scope="module")
def namespace(sandbox: SandboxHandle, installed: dev_install.InstallResult) -> Iterator[str]:
    name = f"apis-e2e-{os.getpid()}"
    sandbox.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    sandbox.kube.delete("v1", "Namespace", name)


def dry_run(kube: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    """What the apiserver would store (validated and defaulted), without storing it.

    A create, not a server-side apply: 1.20's apply answers a mistyped field with a 500 from its typed-patch step
    before validation runs, where a create gets the schema's 422 naming the field (as `kubectl create` shows it).
    """
    meta = obj["metadata"]
    path = kube.path(obj["apiVersion"], obj["kind"], meta["namespace"])
    stored: dict[str, Any] = kube.request("POST", path, query={"dryRun": "All"}, body=obj)
    return stored


def can_i(sandbox: SandboxHandle, *args: str) -> bool:
    result = kubectl(["auth", "can-i", *args], kubeconfig=sandbox.kubeconfig, ok_codes=(0, 1))
    return result.stdout.strip() == "yes"


def test_every_crd_is_established_structural_and_served(sandbox: SandboxHandle,
                                                         installed: dev_install.InstallResult) -> None:
    for kind in kinds.ALL:
        crd = sandbox.kube.get(dev_install.CRD_API, "CustomResourceDefinition", kind.crd_name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True", kind
        assert conditions["NamesAccepted"] == "True", kind
        assert "NonStructuralSchema" not in conditions, kind
        assert sandbox.kube.list(kind.api_version, kind.kind).items is not None
    assert installed.crds_seconds < 30


def test_kubectl_lists_the_kinds_by_plural_short_name_and_category(sandbox: SandboxHandle,
                                                                  installed: dev_install.InstallResult) -> None:
    for args in (["get", "gitrepositories", "-A"], ["get", "ks,hr,gitrepo,ocirepo,helmrepo,hc", "-A"],
                 ["get", "fluxcd", "-A"], ["get", "receivers.notification.toolkit.fluxcd.io", "-A"]):
        result = kubectl(args, kubeconfig=sandbox.kubeconfig)
        assert result.returncode == 0, args


def test_installing_twice_changes_nothing(sandbox: SandboxHandle, installed: dev_install.InstallResult) -> None:
    def versions() -> dict[str, str]:
        found = {}
        for obj in dev_install.objects():
            meta = obj["metadata"]
            live = sandbox.kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            found[f"{obj['kind']}/{meta['name']}"] = live["metadata"]["resourceVersion"]
        return found

    before = versions()
    again = dev_install.install(sandbox.kube)
    assert again.changed == []
    assert again.count("unchanged") == len(dev_install.objects())
    assert versions() == before


@pytest.mark.parametrize(("sample", "defaults"), [
    (GIT_REPOSITORY, {"timeout": "60s"}),
    (KUSTOMIZATION, {"force": False}),
    (RECEIVER, {"interval": "10m"}),
], ids=["GitRepository", "Kustomization", "Receiver"])
def test_flux_doc_examples_are_accepted_and_defaulted(sandbox: SandboxHandle, installed: dev_install.InstallResult,
                                                      sample: dict[str, Any], defaults: dict[str, Any]) -> None:
    stored = dry_run(sandbox.kube, sample)
    assert stored["spec"] == {**sample["spec"], **defaults}


@pytest.mark.parametrize(("sample", "path", "value", "complaint"), [
    (GIT_REPOSITORY, "spec.interval", 5, "spec.interval: Invalid value: \"integer\""),
    (GIT_REPOSITORY, "spec.interval", "five minutes", "spec.interval in body should match"),
    (GIT_REPOSITORY, "spec.url", "ftp://example.com/repo", "spec.url in body should match"),
    (GIT_REPOSITORY, "spec.url", ..., "spec.url: Required value"),
    (GIT_REPOSITORY, "spec.ref", {"branch": ["main"]}, "spec.ref.branch: Invalid value: \"array\""),
    (KUSTOMIZATION, "spec.prune", "yes", "spec.prune: Invalid value: \"string\""),
    (KUSTOMIZATION, "spec.prune", ..., "spec.prune: Required value"),
    (KUSTOMIZATION, "spec.sourceRef", {"kind": "HelmRepository", "name": "x"},
     "spec.sourceRef.kind: Unsupported value"),
    (RECEIVER, "spec.type", "gitea", "spec.type: Unsupported value: \"gitea\""),
    (RECEIVER, "spec.resources", [{"kind": "GitRepository"}], "spec.resources.name: Required value"),
], ids=["interval-integer", "interval-pattern", "url-scheme", "url-missing", "branch-list", "prune-string",
        "prune-missing", "sourceRef-kind", "receiver-type", "resource-name-missing"])
def test_wrong_objects_are_rejected_naming_the_field(sandbox: SandboxHandle, installed: dev_install.InstallResult,
                                                     sample: dict[str, Any], path: str, value: Any,
                                                     complaint: str) -> None:
    with pytest.raises(APIError) as caught:
        dry_run(sandbox.kube, changed(sample, path, value))
    assert caught.value.status == 422
    # Newer API servers name list items by index (spec.resources[0].name); 1.20 did not (spec.resources.name).
    assert complaint in re.sub(r"\[\d+\]", "", str(caught.value))


def test_a_stored_object_gets_flux_defaults_columns_and_loses_unknown_fields(
        sandbox: SandboxHandle, namespace: str) -> None:
    repository = changed(changed(GIT_REPOSITORY, "metadata.namespace", namespace), "spec.suspend", True)
    repository["spec"]["notAField"] = "dropped"
    sandbox.kube.create(repository)  # a POST prunes unknown fields, as with Flux's CRDs; server-side apply rejects them
    stored = sandbox.kube.get(kinds.GITREPOSITORY.api_version, "GitRepository", "podinfo", namespace)
    assert "notAField" not in stored["spec"]
    assert stored["spec"]["timeout"] == "60s"
    # Until a controller reconciles it (it is suspended), kstatus must read it as not yet observed.
    assert stored["status"]["observedGeneration"] == -1
    table = kubectl(["get", "gitrepo", "-n", namespace], kubeconfig=sandbox.kubeconfig).stdout.splitlines()
    assert table[0].split() == ["NAME", "URL", "AGE", "READY", "STATUS"]
    assert table[1].split()[:2] == ["podinfo", "https://github.com/stefanprodan/podinfo"]


def test_the_reconciler_may_apply_anything_and_others_may_not(sandbox: SandboxHandle,
                                                              installed: dev_install.InstallResult) -> None:
    assert can_i(sandbox, "create", "deployments", "--all-namespaces", "--as", SERVICE_ACCOUNT_USER)
    assert can_i(sandbox, "create", "customresourcedefinitions", "--as", SERVICE_ACCOUNT_USER)
    assert can_i(sandbox, "patch", "gitrepositories.source.toolkit.fluxcd.io", "--subresource", "status",
                 "-n", "default", "--as", SERVICE_ACCOUNT_USER)
    assert not can_i(sandbox, "create", "deployments", "-n", "default",
                     "--as", "system:serviceaccount:default:default")


def test_namespace_editors_may_manage_flux_objects(sandbox: SandboxHandle, namespace: str) -> None:
    sandbox.kube.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "learner-edit", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "learner"}],
    })
    # The controller-manager aggregates sandbox-flux-edit into "edit" asynchronously.
    wait_until(lambda: can_i(sandbox, "create", "kustomizations.kustomize.toolkit.fluxcd.io", "-n", namespace,
                             "--as", "learner"),
               timeout=30, what="the edit role to include the Flux kinds")
    assert can_i(sandbox, "list", "gitrepositories.source.toolkit.fluxcd.io", "-n", namespace, "--as", "learner")
    assert not can_i(sandbox, "list", "gitrepositories.source.toolkit.fluxcd.io", "-n", "default", "--as", "learner")
