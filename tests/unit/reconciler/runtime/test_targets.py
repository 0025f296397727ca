"""Target resolution: serviceAccountName, else the default ServiceAccount, else the reconciler's own identity; the
Helm SDK's kubeconfig acts as the same user."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.errors import NotFound
from sandbox.kube import kubeconfig
from sandbox.kube.client import KubeClient
from sandbox.reconciler.runtime import remote, targets

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def resolver(tmp_path: Path) -> targets.Targets:
    own = tmp_path / "reconciler.kubeconfig"
    kubeconfig.write(own, name="reconciler", server="http://127.0.0.1:1", ca_cert=CA, token="t0ken",
                     user="sandbox-reconciler")
    return targets.Targets(KubeClient.from_kubeconfig(own), kubeconfig=own, kubeconfig_dir=tmp_path / "imp")


def _obj(namespace: str, **spec: str) -> dict[str, object]:
    return {"metadata": {"name": "x", "namespace": namespace}, "spec": spec}


def test_without_a_service_account_the_reconcilers_own_identity(resolver: targets.Targets) -> None:
    target = resolver.resolve(_obj("apps"))
    assert not target.impersonated and target.user == ""
    assert target.kube is resolver.kube and target.helm_kubeconfig == resolver.kubeconfig


def test_service_account_name_impersonates_it_in_the_objects_namespace(resolver: targets.Targets) -> None:
    target = resolver.resolve(_obj("apps", serviceAccountName="dev"))
    assert target.user == "system:serviceaccount:apps:dev"
    assert target.kube.impersonated == "system:serviceaccount:apps:dev"
    assert resolver.kube.impersonated is None
    assert target.helm_kubeconfig is not None and target.helm_kubeconfig.stat().st_mode & 0o777 == 0o600
    user = yaml.safe_load(target.helm_kubeconfig.read_text())["users"][0]["user"]
    assert user == {"token": "t0ken", "as": "system:serviceaccount:apps:dev"}
    assert resolver.resolve(_obj("apps", serviceAccountName="dev")).kube is target.kube  # one client per user


def test_the_default_service_account_applies_when_none_is_named(resolver: targets.Targets) -> None:
    resolver.default_service_account = "default"
    assert resolver.resolve(_obj("team-a")).user == "system:serviceaccount:team-a:default"
    assert resolver.resolve(_obj("team-a", serviceAccountName="ops")).user == "system:serviceaccount:team-a:ops"


def test_without_a_targets_service_the_context_gets_the_reconcilers_client(resolver: targets.Targets) -> None:
    services: dict[str, object] = {}
    found = targets.of(services, resolver.kube)
    assert found.kube is resolver.kube and targets.of(services, resolver.kube) is found
    assert found.resolve(_obj("apps", serviceAccountName="dev")).helm_kubeconfig is None


REMOTE = {"apiVersion": "v1", "kind": "Config", "current-context": "staging",
          "clusters": [{"name": "staging", "cluster": {"server": "https://127.0.0.1:7443"}}],
          "users": [{"name": "admin", "user": {"token": "r3mote"}}],
          "contexts": [{"name": "staging", "context": {"cluster": "staging", "user": "admin"}}]}


@pytest.fixture
def remote_secret(resolver: targets.Targets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The Secret ``apps/staging-kubeconfig`` as the management cluster serves it (``resourceVersion`` may change)."""
    found: dict[str, Any] = {"metadata": {"name": "staging-kubeconfig", "namespace": "apps", "resourceVersion": "1"},
                             "data": {"value": base64.b64encode(yaml.safe_dump(REMOTE).encode()).decode()}}
    resolver.remote_dir = tmp_path / "kubeconfigs"
    monkeypatch.setattr(resolver.kube, "get_or_none", lambda *_args, **_kw: found)
    return found


def _remote(namespace: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": namespace},
            "spec": {"kubeConfig": {"secretRef": {"name": "staging-kubeconfig"}}, **spec}}


def test_a_kubeconfig_alone_targets_the_remote_cluster_as_its_user(resolver: targets.Targets,
                                                                   remote_secret: dict[str, Any]) -> None:
    target = resolver.resolve(_remote("apps"))
    assert target.remote == "apps/staging-kubeconfig" and not target.impersonated
    assert target.kube.server == "https://127.0.0.1:7443" and target.kube.impersonated is None
    assert target.helm_kubeconfig is not None
    assert yaml.safe_load(target.helm_kubeconfig.read_text())["users"][0]["user"] == {"token": "r3mote"}


def test_service_account_name_is_impersonated_in_the_remote_cluster(resolver: targets.Targets,
                                                                    remote_secret: dict[str, Any]) -> None:
    """As fluxcd/pkg's Impersonator: the kubeconfig's client first, then the ServiceAccount impersonated on it."""
    target = resolver.resolve(_remote("apps", serviceAccountName="deployer"))
    assert target.remote == "apps/staging-kubeconfig" and target.user == "system:serviceaccount:apps:deployer"
    assert target.kube.server == "https://127.0.0.1:7443"
    assert target.kube.impersonated == "system:serviceaccount:apps:deployer"
    assert target.helm_kubeconfig is not None and target.helm_kubeconfig.stat().st_mode & 0o777 == 0o600
    document = yaml.safe_load(target.helm_kubeconfig.read_text())
    assert document["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:7443"
    assert document["users"][0]["user"] == {"token": "r3mote", "as": "system:serviceaccount:apps:deployer"}
    plain = resolver.resolve(_remote("apps"))  # the remote cluster's own file stays as it came
    assert plain.helm_kubeconfig is not None and "as" not in yaml.safe_load(
        plain.helm_kubeconfig.read_text())["users"][0]["user"]
    assert resolver.resolve(_remote("apps", serviceAccountName="deployer")) == target  # cached
    remote_secret["metadata"]["resourceVersion"] = "2"  # a rotated kubeconfig: new clients
    assert resolver.resolve(_remote("apps", serviceAccountName="deployer")).kube is not target.kube


def test_the_default_service_account_is_impersonated_in_the_remote_cluster_too(
        resolver: targets.Targets, remote_secret: dict[str, Any]) -> None:
    resolver.default_service_account = "default"
    target = resolver.resolve(_remote("team-a"))
    assert target.remote and target.kube.impersonated == "system:serviceaccount:team-a:default"


def test_each_controller_reads_the_kubeconfig_with_its_own_messages(resolver: targets.Targets, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolver.kube, "get_or_none", lambda *_args, **_kw: None)
    resolver.remote_dir = tmp_path / "kubeconfigs"
    with pytest.raises(remote.KubeConfigError, match=r"^unable to read KubeConfig secret 'apps/staging-kubeconfig'"):
        resolver.resolve(_remote("apps", serviceAccountName="deployer"))
    with pytest.raises(remote.KubeConfigError, match=r"^could not get KubeConfig secret 'apps/staging-kubeconfig'"):
        resolver.resolve(_remote("apps", serviceAccountName="deployer"), remote.HELM)


def test_can_impersonate_looks_the_service_account_up_in_the_management_cluster(
        resolver: targets.Targets, remote_secret: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """As upstream's CanImpersonate, with the controller's own client, for a remote cluster's object too."""
    asked: list[tuple[Any, ...]] = []

    def get(*args: Any, **_kw: Any) -> dict[str, Any]:
        asked.append(args)
        raise NotFound("serviceaccounts \"deployer\" not found")

    monkeypatch.setattr(resolver.kube, "get", get)
    assert not resolver.can_impersonate(_remote("apps", serviceAccountName="deployer"))
    assert asked == [("v1", "ServiceAccount", "deployer", "apps")]
    assert resolver.can_impersonate(_remote("apps"))  # none to impersonate
