"""Which client applies an object's manifests: the reconciler's own, or one impersonating a ServiceAccount.

As fluxcd/pkg/runtime/client's Impersonator: ``spec.serviceAccountName``, else the controller's
``--default-service-account``, makes every apply, prune and health check act as
``system:serviceaccount:<namespace of the object>:<name>`` (the Impersonate-User header; the API server adds the
ServiceAccount's groups); without either, the reconciler's own identity applies. Sources, dependencies, variables and
decryption keys are read with the reconciler's own client, as upstream.

Every controller that applies asks ``resolve``; a further way of reaching a cluster (``spec.kubeConfig``) joins here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import NotFound
from sandbox.kube import kubeconfig
from sandbox.kube.client import KubeClient, Obj


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server gives a ServiceAccount (and Flux impersonates)."""
    return f"system:serviceaccount:{namespace}:{name}"


@dataclass(frozen=True)
class Target:
    """Where and as whom an object's manifests are applied."""

    kube: KubeClient
    helm_kubeconfig: Path | None  # the file the Helm SDK connects with, acting as the same identity
    service_account: str = ""  # the impersonated ServiceAccount's name ("" for the reconciler's own identity)
    namespace: str = ""  # its namespace: the object's

    @property
    def impersonated(self) -> bool:
        return bool(self.service_account)

    @property
    def user(self) -> str:
        return service_account_user(self.namespace, self.service_account) if self.service_account else ""


@dataclass
class Targets:
    """The reconciler's client and kubeconfig, the default ServiceAccount, and the clients made from them."""

    kube: KubeClient
    kubeconfig: Path | None = None  # the reconciler's own (Helm SDK); None: no Helm kubeconfigs
    default_service_account: str = ""  # --default-service-account
    kubeconfig_dir: Path | None = None  # where per-ServiceAccount Helm kubeconfigs (0600) are written
    _clients: dict[str, KubeClient] = field(default_factory=dict)
    _files: dict[str, Path] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, obj: Obj) -> Target:
        """The target of ``obj`` (a Kustomization or HelmRelease)."""
        namespace = str(obj["metadata"].get("namespace") or "")
        name = str((obj.get("spec") or {}).get("serviceAccountName") or self.default_service_account)
        if not name:
            return Target(self.kube, self.kubeconfig)
        user = service_account_user(namespace, name)
        with self._lock:
            client = self._clients.get(user)
            if client is None:
                client = self._clients[user] = self.kube.impersonating(user)
            helm = self._helm_kubeconfig(user)
        return Target(client, helm, name, namespace)

    def can_impersonate(self, target: Target) -> bool:
        """Whether ``target``'s ServiceAccount exists (upstream's ``CanImpersonate``)."""
        if not target.impersonated:
            return True
        try:
            return self.kube.get("v1", "ServiceAccount", target.service_account, target.namespace) is not None
        except NotFound:
            return False

    def _helm_kubeconfig(self, user: str) -> Path | None:
        if self.kubeconfig is None or self.kubeconfig_dir is None:
            return None
        path = self._files.get(user)
        if path is None:
            path = self.kubeconfig_dir / f"{user.replace(':', '_')}.kubeconfig"
            kubeconfig.write_impersonating(self.kubeconfig, path, user)
            self._files[user] = path
        return path


SERVICE = "targets"


def of(services: dict[str, Any], kube: KubeClient) -> Targets:
    """The process's ``Targets`` (``Context.services``); without one set up, the reconciler's own client only."""
    found = services.get(SERVICE)
    if not isinstance(found, Targets):
        found = services[SERVICE] = Targets(kube)
    return found
