"""The reconciler's own identity: a token for its ServiceAccount (TokenRequest) in a kubeconfig of its own.

The dev install (``apis.install``) is applied with the credentials the reconciler is started with, as ``flux
install`` is run by an administrator; from then on the controllers and the Helm SDK authenticate as
``system:serviceaccount:flux-system:sandbox-reconciler``, bound as Flux binds its controllers, never as the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import APIError, SandboxError
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


def write_kubeconfig(admin: KubeClient, path: Path, service_account: str = SERVICE_ACCOUNT) -> Identity:
    """Request a token for ServiceAccount flux-system/``service_account`` (the reconciler's, by default) with
    ``admin`` and write a kubeconfig (0600) for it."""
    token, expires = request_token(admin, NAMESPACE, service_account)
    ca_pem = admin.connection.ca_pem or b""
    kubeconfig.write(path, name=service_account, server=admin.server, ca_cert=ca_pem, token=token,
                     user=service_account)
    return Identity(service_account_user(NAMESPACE, service_account), path, expires)


def upstream_identities(admin: KubeClient, rbac: list[dict[str, Any]], kubeconfigs: dict[str, Path]) -> None:
    """Beside upstream Flux: apply Flux's own ServiceAccounts and RBAC (from ``flux install``) with ``admin``, then
    write a kubeconfig for each controller's ServiceAccount (``kubeconfigs``: name → file), so each controller
    authenticates as Flux's install makes it do; SandboxError when the API server authenticates one otherwise."""
    for obj in rbac:
        admin.apply(obj, field_manager="flux")
    for service_account, path in kubeconfigs.items():
        made = write_kubeconfig(admin, path, service_account)
        user = whoami(KubeClient.from_kubeconfig(path))
        if user != made.user:
            raise SandboxError(f"the API server authenticates {service_account}'s token as {user!r}, not "
                               f"{made.user!r}")
