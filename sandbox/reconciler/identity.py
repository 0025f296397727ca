"""The reconciler's own identity: a token for its ServiceAccount (TokenRequest) in a kubeconfig of its own.

The dev install (``apis.install``) is applied with the credentials the reconciler is started with, as ``flux
install`` is run by an administrator; from then on the controllers and the Helm SDK authenticate as
``system:serviceaccount:flux-system:sandbox-reconciler``, bound as Flux binds its controllers, never as the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import APIError
from sandbox.kube import kubeconfig
from sandbox.kube.client import KubeClient
from sandbox.reconciler.apis.install import NAMESPACE, SERVICE_ACCOUNT

# A year: the sandbox's reconciler asks again at each start; the API server may cap it (its max token expiration).
TOKEN_SECONDS = 365 * 24 * 3600


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server gives a ServiceAccount's tokens."""
    return f"system:serviceaccount:{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    """The groups the API server gives a ServiceAccount's tokens (impersonating one sends the same)."""
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")


@dataclass(frozen=True)
class Identity:
    user: str
    kubeconfig: Path
    expires: str  # RFC 3339, as the TokenRequest answered


def request_token(kube: KubeClient, namespace: str, name: str, *, seconds: int = TOKEN_SECONDS) -> tuple[str, str]:
    """A token for ServiceAccount ``namespace/name`` and its expiry (the TokenRequest API)."""
    answer = kube.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": seconds}},
                          what=f"a token for ServiceAccount/{namespace}/{name}")
    token = (answer.get("status") or {}).get("token")
    if not token:
        raise APIError(f"the API server answered a TokenRequest for ServiceAccount/{namespace}/{name} without a token")
    return str(token), str(answer["status"].get("expirationTimestamp", ""))


def whoami(kube: KubeClient) -> str:
    """The user the API server authenticates ``kube``'s requests as (a SelfSubjectReview)."""
    answer = kube.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                          what="a SelfSubjectReview")
    return str(((answer.get("status") or {}).get("userInfo") or {}).get("username", ""))


def write_kubeconfig(admin: KubeClient, path: Path) -> Identity:
    """Request a token for the reconciler's ServiceAccount with ``admin`` and write a kubeconfig (0600) for it."""
    token, expires = request_token(admin, NAMESPACE, SERVICE_ACCOUNT)
    ca_pem = admin.connection.ca_pem or b""
    kubeconfig.write(path, name="reconciler", server=admin.server, ca_cert=ca_pem, token=token,
                     user=SERVICE_ACCOUNT)
    return Identity(service_account_user(NAMESPACE, SERVICE_ACCOUNT), path, expires)
