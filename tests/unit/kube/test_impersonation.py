"""Impersonation: a kubeconfig's ``as``/``as-groups`` and ``KubeClient.impersonating`` send the headers the API
server reads, one Impersonate-Group header per group, and leave the original client as it was."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from sandbox.kube import kubeconfig
from sandbox.kube.client import KubeClient
from sandbox.kube.kubeconfig import Connection

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _client() -> KubeClient:
    return KubeClient(Connection(server="http://127.0.0.1:1", ca_pem=None, token="t0ken", cert_pem=None,
                                 key_pem=None))


def test_impersonating_adds_one_header_per_group_and_leaves_the_original_alone() -> None:
    admin = _client()
    tenant = admin.impersonating("system:serviceaccount:apps:dev", ("system:serviceaccounts", "system:authenticated"))
    headers = list(tenant._headers.items())
    assert ("Impersonate-User", "system:serviceaccount:apps:dev") in headers
    assert [v for k, v in headers if k == "Impersonate-Group"] == ["system:serviceaccounts", "system:authenticated"]
    assert ("Authorization", "Bearer t0ken") in headers
    assert "Impersonate-User" not in admin._headers and admin.impersonated is None
    assert tenant.impersonated == "system:serviceaccount:apps:dev"
    other = tenant.impersonating("system:serviceaccount:apps:ops")
    assert other._headers.getlist("Impersonate-User") == ["system:serviceaccount:apps:ops"]
    assert other._headers.getlist("Impersonate-Group") == []


def test_a_kubeconfig_with_as_round_trips_to_an_impersonating_client(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    kubeconfig.write(path, name="x", server="http://127.0.0.1:1", ca_cert=CA, token="t0ken", user="dev",
                     impersonate="system:serviceaccount:apps:dev", impersonate_groups=("system:serviceaccounts",))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    assert user == {"token": "t0ken", "as": "system:serviceaccount:apps:dev", "as-groups": ["system:serviceaccounts"]}
    client = KubeClient.from_kubeconfig(path)
    assert client.impersonated == "system:serviceaccount:apps:dev"
    assert client._headers.getlist("Impersonate-Group") == ["system:serviceaccounts"]
