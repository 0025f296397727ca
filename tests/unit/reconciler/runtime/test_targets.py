"""Target resolution: serviceAccountName, else the default ServiceAccount, else the reconciler's own identity; the
Helm SDK's kubeconfig acts as the same user."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandbox.kube import kubeconfig
from sandbox.kube.client import KubeClient
from sandbox.reconciler.runtime import targets

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
