"""``spec.kubeConfig.configMapRef``: a remote cluster reached with a token of the management cluster's issuer.

As fluxcd/pkg ``auth/utils.GetRESTConfig`` with the ``generic`` provider: the ConfigMap (in the object's namespace)
has ``provider``, ``address`` (``https://host[:port]``), optionally ``ca.crt``, ``audiences`` (one a line; default:
the address as written), ``cluster`` (not used by ``generic``) and ``serviceAccountName``. The controller asks its
own cluster for a token of its own ServiceAccount (a TokenRequest with those audiences — upstream reads the
ServiceAccount from its token file; the reconciler from a SelfSubjectReview) and presents it to the address as a
bearer token, verifying the server with ``ca.crt``. The remote API server must trust the management cluster's
issuer (docs/several-clusters.md). ``serviceAccountName`` (object-level workload identity) needs upstream's
``ObjectLevelWorkloadIdentity`` feature gate, off by default: it fails with upstream's message. The cloud
providers (aws, azure, gcp) are not implemented: ``NotSupported`` naming the provider. Tokens are kept until five
minutes before they expire, or until the ConfigMap changes.
"""

from __future__ import annotations

import base64
import datetime
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml

from sandbox.errors import APIError, NotFound
from sandbox.kube.client import KubeClient

Obj = dict[str, Any]
T = TypeVar("T")
GENERIC = "generic"
CLOUD = ("aws", "azure", "gcp")
FEATURE_GATE = "ObjectLevelWorkloadIdentity"
_RENEW_BEFORE = 300.0  # seconds before the token expires


class IdentityError(Exception):
    """The remote cluster cannot be reached with the ConfigMap's settings; the message is upstream's."""

    def __init__(self, message: str, *, not_found: bool = False, not_supported: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found
        self.not_supported = not_supported


def config_map_ref(obj: Obj) -> Obj | None:
    ref = ((obj.get("spec") or {}).get("kubeConfig") or {}).get("configMapRef")
    return ref if isinstance(ref, dict) else None


def canonical_address(address: str) -> str:
    """As ``auth.ParseClusterAddress``: ``https://<lowercase host>:<port>`` (443 by default)."""
    if not address:
        raise IdentityError("empty address")
    if not address.startswith("http"):
        address = f"https://{address}"
    parts = urlsplit(address)
    if parts.scheme != "https":
        raise IdentityError(f"the Kubernetes API server address '{address}' must use https scheme")
    host = parts.netloc if parts.port else f"{parts.netloc}:443"
    return f"https://{host.lower()}"


def audiences_of(data: dict[str, str]) -> list[str]:
    """The ConfigMap's ``audiences``, else the address as written (upstream's generic default)."""
    listed = [line.strip() for line in data.get("audiences", "").split("\n") if line.strip()]
    return listed or [data.get("address", "")]


def service_account_of(user: str) -> tuple[str, str]:
    """The namespace and name of a ServiceAccount user name (upstream parses its token's subject)."""
    parts = user.split(":")
    if len(parts) != 4 or parts[:2] != ["system", "serviceaccount"]:
        raise IdentityError("failed to get access token for cluster: failed to create provider access token for the "
                            f"controller: invalid subject format in service account token: {user}")
    return parts[2], parts[3]


def kubeconfig_text(server: str, ca_pem: str, token: str) -> bytes:
    """A kubeconfig with everything inline (the reconciler's client and Helm read it)."""
    cluster: Obj = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "remote",
                           "clusters": [{"name": "remote", "cluster": cluster}],
                           "users": [{"name": "controller", "user": {"token": token}}],
                           "contexts": [{"name": "remote", "context": {"cluster": "remote",
                                                                       "user": "controller"}}]}).encode()


def _expiry(timestamp: str) -> float:
    """Seconds from now until ``timestamp`` (RFC 3339), as a monotonic deadline; an hour when unreadable."""
    try:
        at = datetime.datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return time.monotonic() + 3600
    return time.monotonic() + (at - time.time())


class Identities:
    """Remote clusters reached through configMapRef, cached per ConfigMap version until the token is old."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[str, float, Any]] = {}
        self._subject = ""
        self._lock = threading.Lock()

    def resolve(self, kube: KubeClient, obj: Obj, ref: Obj, make: Callable[[bytes, str], T]) -> T:
        """``make(kubeconfig, "namespace/name")`` for the ConfigMap ``ref`` of ``obj``; IdentityError when it
        cannot be done."""
        namespace, name = str(obj["metadata"]["namespace"]), str(ref.get("name", ""))
        config_map = kube.get_or_none("v1", "ConfigMap", name, namespace)
        if config_map is None:
            raise IdentityError(f"failed to get configmap {namespace}/{name}: configmaps \"{name}\" not found",
                                not_found=True)
        version = str(config_map["metadata"].get("resourceVersion", ""))
        with self._lock:
            cached = self._cache.get((namespace, name))
            if cached is not None and cached[0] == version and time.monotonic() < cached[1]:
                result: T = cached[2]
                return result
        data = {str(k): str(v) for k, v in (config_map.get("data") or {}).items()}
        provider = data.get("provider", "")
        if provider in CLOUD:
            raise IdentityError(
                f"spec.kubeConfig.configMapRef: ConfigMap {namespace}/{name} names provider '{provider}', which is "
                "not supported by the gitops-sandbox reconciler (cloud identities need that cloud): use provider "
                "generic, or spec.kubeConfig.secretRef", not_supported=True)
        if provider != GENERIC:
            raise IdentityError(f"provider '{provider}' not implemented")
        token, expires = self._token(kube, namespace, data)
        address = data.get("address", "")
        if not address:
            raise IdentityError("cluster address is required to create a REST config")
        try:
            server = canonical_address(address)
        except IdentityError as err:
            raise IdentityError(f"failed to parse cluster address {address}: {err}") from err
        made = make(kubeconfig_text(server, data.get("ca.crt", ""), token), f"{namespace}/{name}")
        with self._lock:
            self._cache[(namespace, name)] = (version, expires - _RENEW_BEFORE, made)
        return made

    def _token(self, kube: KubeClient, namespace: str, data: dict[str, str]) -> tuple[str, float]:
        account = data.get("serviceAccountName", "")
        if account:
            try:
                kube.get("v1", "ServiceAccount", account, namespace)
            except NotFound as err:
                raise IdentityError(f"failed to get access token for cluster: failed to get service account "
                                    f"'{namespace}/{account}': serviceaccounts \"{account}\" not found") from err
            raise IdentityError(f"failed to get access token for cluster: {FEATURE_GATE} feature gate is not "
                                "enabled")
        sa_namespace, sa_name = service_account_of(self._whoami(kube))
        try:
            answer = kube.request(
                "POST", f"/api/v1/namespaces/{sa_namespace}/serviceaccounts/{sa_name}/token",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                      "spec": {"audiences": audiences_of(data)}},
                what=f"a token for ServiceAccount/{sa_namespace}/{sa_name}")
        except APIError as err:
            raise IdentityError(
                "failed to get access token for cluster: failed to create provider access token for the controller: "
                f"failed to create kubernetes token for controller service account '{sa_namespace}/{sa_name}': "
                f"{err}") from err
        status = answer.get("status") or {}
        if not status.get("token"):
            raise IdentityError("failed to get access token for cluster: the API server answered the TokenRequest "
                                "without a token")
        return str(status["token"]), _expiry(str(status.get("expirationTimestamp", "")))

    def _whoami(self, kube: KubeClient) -> str:
        if not self._subject:
            answer = kube.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                  body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                                  what="a SelfSubjectReview")
            self._subject = str(((answer.get("status") or {}).get("userInfo") or {}).get("username", ""))
        return self._subject
