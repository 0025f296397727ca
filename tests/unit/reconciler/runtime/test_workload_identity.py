"""spec.kubeConfig.configMapRef as fluxcd/pkg's auth/utils.GetRESTConfig: the ConfigMap's keys, upstream's errors,
the generic provider's TokenRequest for the controller's own ServiceAccount, cloud providers NotSupported."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from sandbox.errors import NotFound
from sandbox.kube.client import KubeClient
from sandbox.reconciler.runtime import workload_identity as wi

OBJ = {"metadata": {"name": "apps", "namespace": "team"}, "spec": {"kubeConfig": {"configMapRef": {"name": "c"}}}}


class FakeKube:
    def __init__(self, data: dict[str, str] | None, accounts: tuple[str, ...] = ()) -> None:
        self.data, self.accounts, self.token_requests = data, accounts, []  # type: list[Any]
        self.user = "system:serviceaccount:flux-system:sandbox-reconciler"

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        if self.data is None:
            return None
        return {"metadata": {"name": name, "resourceVersion": "7"}, "data": self.data}

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        if kind == "ServiceAccount" and name in self.accounts:
            return {"metadata": {"name": name}}
        raise NotFound(f"{kind} {name}")

    def request(self, method: str, path: str, body: Any = None, what: str = "") -> Any:
        if path.endswith("selfsubjectreviews"):
            return {"status": {"userInfo": {"username": self.user}}}
        self.token_requests.append((path, body["spec"]))
        return {"status": {"token": "tok", "expirationTimestamp": "2999-01-01T00:00:00Z"}}


def resolve(kube: FakeKube) -> dict[str, Any]:
    fake: KubeClient = kube  # type: ignore[assignment]
    made = wi.Identities().resolve(fake, OBJ, {"name": "c"}, lambda text, where: (yaml.safe_load(text), where))
    document, where = made
    assert where == "team/c"
    return dict(document)


def test_generic_requests_a_token_for_the_controllers_own_service_account_with_the_address_as_audience() -> None:
    kube = FakeKube({"provider": "generic", "address": "https://127.0.0.1:6443", "ca.crt": "PEM"})
    document = resolve(kube)
    assert kube.token_requests == [("/api/v1/namespaces/flux-system/serviceaccounts/sandbox-reconciler/token",
                                    {"audiences": ["https://127.0.0.1:6443"]})]
    assert document["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert document["users"][0]["user"] == {"token": "tok"}


def test_audiences_are_one_a_line_and_the_address_is_made_canonical() -> None:
    kube = FakeKube({"provider": "generic", "address": "API.Example:7443", "audiences": " a \n\nb\n"})
    document = resolve(kube)
    assert kube.token_requests[0][1] == {"audiences": ["a", "b"]}
    assert document["clusters"][0]["cluster"]["server"] == "https://api.example:7443"
    assert wi.canonical_address("https://h") == "https://h:443"


@pytest.mark.parametrize(("data", "accounts", "message", "not_supported"), [
    (None, (), 'failed to get configmap team/c: configmaps "c" not found', False),
    ({"provider": "aws", "address": "https://x"}, (), "names provider 'aws', which is not supported", True),
    ({"provider": "gcp"}, (), "names provider 'gcp'", True),
    ({"provider": "vault"}, (), "provider 'vault' not implemented", False),
    ({"provider": "generic"}, (), "cluster address is required to create a REST config", False),
    ({"provider": "generic", "address": "http://x:1"}, (),
     "failed to parse cluster address http://x:1: the Kubernetes API server address 'http://x:1' must use https "
     "scheme", False),
    ({"provider": "generic", "address": "https://x", "serviceAccountName": "deployer"}, (),
     "failed to get access token for cluster: failed to get service account 'team/deployer': serviceaccounts "
     '"deployer" not found', False),
    ({"provider": "generic", "address": "https://x", "serviceAccountName": "deployer"}, ("deployer",),
     "failed to get access token for cluster: ObjectLevelWorkloadIdentity feature gate is not enabled", False),
])
def test_upstreams_errors(data: dict[str, str] | None, accounts: tuple[str, ...], message: str,
                          not_supported: bool) -> None:
    with pytest.raises(wi.IdentityError) as caught:
        resolve(FakeKube(data, accounts))
    assert message in str(caught.value)
    assert caught.value.not_supported is not_supported


def test_a_controller_that_is_no_service_account_cannot_use_generic() -> None:
    kube = FakeKube({"provider": "generic", "address": "https://x"})
    kube.user = "admin"
    with pytest.raises(wi.IdentityError, match="invalid subject format in service account token: admin"):
        resolve(kube)


def test_the_client_is_kept_until_the_configmap_changes() -> None:
    kube = FakeKube({"provider": "generic", "address": "https://x"})
    identities = wi.Identities()
    fake: KubeClient = kube  # type: ignore[assignment]
    first = identities.resolve(fake, OBJ, {"name": "c"}, lambda text, where: object())
    assert identities.resolve(fake, OBJ, {"name": "c"}, lambda text, where: object()) is first
    assert len(kube.token_requests) == 1
