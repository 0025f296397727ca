"""spec.kubeConfig.secretRef: which key is read, Flux's errors, and kubeconfigs naming local files refused."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.reconciler.runtime import remote

KUBECONFIG = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
              "users": [{"name": "u", "user": {"token": "t"}}],
              "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}


def secret(**data: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": "1"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_value_then_value_yaml_then_the_named_key() -> None:
    assert remote.kubeconfig_bytes(secret(value="a", **{"value.yaml": "b"}), "ns", "s") == b"a"
    assert remote.kubeconfig_bytes(secret(**{"value.yaml": "b"}), "ns", "s") == b"b"
    assert remote.kubeconfig_bytes(secret(value="a", config="c"), "ns", "s", "config") == b"c"


@pytest.mark.parametrize(("data", "key", "message"), [
    (None, "", "unable to read KubeConfig secret 'ns/s' error: secrets \"s\" not found"),
    ({"other": "x"}, "", "KubeConfig secret 'ns/s' does not contain a 'value' key with a kubeconfig"),
    ({"value": "x"}, "config", "KubeConfig secret 'ns/s' does not contain a 'config' key with a kubeconfig"),
])
def test_kustomize_controllers_messages(data: dict[str, str] | None, key: str, message: str) -> None:
    with pytest.raises(remote.KubeConfigError) as err:
        remote.kubeconfig_bytes(None if data is None else secret(**data), "ns", "s", key)
    assert str(err.value) == message


@pytest.mark.parametrize(("path", "value", "message"), [
    (("clusters", "cluster", "certificate-authority"), "/etc/ca.crt",
     "cluster 'c' references a certificate-authority file, only certificate-authority-data is supported"),
    (("users", "user", "tokenFile"), "/var/token", "user 'u' references a tokenFile, only an inline token is "
                                                    "supported"),
    (("users", "user", "client-key"), "/k", "user 'u' references a client-key file, only client-key-data is "
                                            "supported"),
])
def test_local_files_are_refused(path: tuple[str, str, str], value: str, message: str, tmp_path: Path) -> None:
    document = yaml.safe_load(yaml.safe_dump(KUBECONFIG))
    document[path[0]][0][path[1]][path[2]] = value

    class Kube:
        def get_or_none(self, *_args: Any) -> dict[str, Any]:
            return secret(value=yaml.safe_dump(document))

    obj = {"metadata": {"name": "k", "namespace": "ns"}, "spec": {"kubeConfig": {"secretRef": {"name": "s"}}}}
    with pytest.raises(remote.KubeConfigError) as err:
        remote.RemoteClients(tmp_path).resolve(Kube(), obj)  # type: ignore[arg-type]
    assert str(err.value) == f"invalid KubeConfig in secret 'ns/s': {message}"
    with pytest.raises(remote.KubeConfigError) as err:
        remote.RemoteClients(tmp_path, remote.HELM).resolve(Kube(), obj)  # type: ignore[arg-type]
    assert str(err.value) == f"failed to load KubeConfig from secret 'ns/s': {message}"


def test_client_cached_per_resource_version(tmp_path: Path) -> None:
    versions = iter(["1", "1", "2"])

    class Kube:
        def get_or_none(self, *_args: Any) -> dict[str, Any]:
            found = secret(value=yaml.safe_dump(KUBECONFIG))
            found["metadata"]["resourceVersion"] = next(versions)
            return found

    clients = remote.RemoteClients(tmp_path)
    obj = {"metadata": {"name": "k", "namespace": "ns"}, "spec": {"kubeConfig": {"secretRef": {"name": "s"}}}}
    first = clients.resolve(Kube(), obj)  # type: ignore[arg-type]
    assert first is not None and first.kube.server == "https://127.0.0.1:6443"
    assert (first.kubeconfig.stat().st_mode & 0o777) == 0o600
    assert clients.resolve(Kube(), obj) is first  # type: ignore[arg-type]
    assert clients.resolve(Kube(), obj) is not first  # type: ignore[arg-type]
    assert clients.resolve(Kube(), {"metadata": {"namespace": "ns"}, "spec": {}}) is None  # type: ignore[arg-type]


def test_helm_controllers_messages() -> None:
    with pytest.raises(remote.KubeConfigError) as err:
        remote.kubeconfig_bytes(None, "ns", "s", "", remote.HELM)
    assert str(err.value) == "could not get KubeConfig secret 'ns/s': secrets \"s\" not found" and err.value.not_found
    with pytest.raises(remote.KubeConfigError) as err:
        remote.kubeconfig_bytes(secret(other="x"), "ns", "s", "", remote.HELM)
    assert str(err.value) == "KubeConfig secret 'ns/s' does not contain a 'value' or 'value.yaml' key with data"
