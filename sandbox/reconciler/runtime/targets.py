"""Which client applies an object's manifests: the reconciler's own, or one impersonating a ServiceAccount.

As fluxcd/pkg/runtime/client's Impersonator: ``spec.serviceAccountName``, else the controller's
``--default-service-account``, makes every apply, prune and health check act as
``system:serviceaccount:<namespace of the object>:<name>`` (the Impersonate-User header; the API server adds the
ServiceAccount's groups); without either, the reconciler's own identity applies. Sources, dependencies, variables and
decryption keys are read with the reconciler's own client, as upstream.

With ``spec.kubeConfig``, as the Impersonator's ``clientForKubeConfig``: the remote cluster's client comes first
(``remote.RemoteClients``), and the same ServiceAccount (named, else the default) is impersonated there — it must
exist in the remote cluster, in a namespace named as the object's. Every controller that applies asks ``resolve``.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import NotFound
from sandbox.kube import kubeconfig
from sandbox.kube.client import KubeClient, Obj
from sandbox.reconciler.runtime import remote


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
    remote: str = ""  # spec.kubeConfig's Secret (namespace/name); "" for the cluster the reconciler runs in

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
    remote_dir: Path | None = None  # where remote clusters' kubeconfigs (0600) are written; None: a temporary one
    _clients: dict[str, KubeClient] = field(default_factory=dict)
    _files: dict[str, Path] = field(default_factory=dict)
    _remotes: dict[remote.Messages, remote.RemoteClients] = field(default_factory=dict)
    _remote_targets: dict[tuple[Path, str], tuple[remote.Remote, Target]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def service_account(self, obj: Obj) -> str:
        """The ServiceAccount ``obj`` acts as: ``spec.serviceAccountName``, else the default ("" for none)."""
        return str((obj.get("spec") or {}).get("serviceAccountName") or self.default_service_account)

    def resolve(self, obj: Obj, messages: remote.Messages = remote.KUSTOMIZE) -> Target:
        """The target of ``obj`` (a Kustomization or HelmRelease). With ``spec.kubeConfig``, the remote cluster's
        (``remote.KubeConfigError`` with the controller's ``messages`` when its Secret cannot be read)."""
        namespace = str(obj["metadata"].get("namespace") or "")
        name = self.service_account(obj)
        found = self._remote_clients(messages).resolve(self.kube, obj)
        if found is not None:
            return self._remote_target(found, namespace, name)
        if not name:
            return Target(self.kube, self.kubeconfig)
        user = service_account_user(namespace, name)
        with self._lock:
            client = self._clients.get(user)
            if client is None:
                client = self._clients[user] = self.kube.impersonating(user)
            helm = self._helm_kubeconfig(user)
        return Target(client, helm, name, namespace)

    def can_impersonate(self, subject: Target | Obj) -> bool:
        """Whether the ServiceAccount of ``subject`` (a target, or the object itself) exists (upstream's
        ``CanImpersonate``: read in the cluster the reconciler runs in, with a remote cluster's object too)."""
        if isinstance(subject, Target):
            name, namespace = subject.service_account, subject.namespace
        else:
            name, namespace = self.service_account(subject), str(subject["metadata"].get("namespace") or "")
        if not name:
            return True
        try:
            return self.kube.get("v1", "ServiceAccount", name, namespace) is not None
        except NotFound:
            return False

    def _remote_clients(self, messages: remote.Messages) -> remote.RemoteClients:
        with self._lock:
            clients = self._remotes.get(messages)
            if clients is None:
                if self.remote_dir is None:
                    self.remote_dir = Path(tempfile.mkdtemp(prefix="sandbox-kubeconfigs-"))
                # One directory per controller: each writes its own files, never one the other's Helm reads.
                directory = self.remote_dir / "helm" if messages is remote.HELM else self.remote_dir
                clients = self._remotes[messages] = remote.RemoteClients(directory, messages)
            return clients

    def _remote_target(self, found: remote.Remote, namespace: str, name: str) -> Target:
        """The remote cluster's target: its own client and kubeconfig, or both acting as the ServiceAccount (a
        new Secret version makes new ones)."""
        if not name:
            return Target(found.kube, found.kubeconfig, remote=found.secret)
        user = service_account_user(namespace, name)
        with self._lock:
            cached = self._remote_targets.get((found.kubeconfig, user))
            if cached is not None and cached[0] is found:
                return cached[1]
            helm = found.kubeconfig.with_name(f"{found.kubeconfig.stem}.{user.replace(':', '_')}.kubeconfig")
            kubeconfig.write_impersonating(found.kubeconfig, helm, user)
            target = Target(found.kube.impersonating(user), helm, name, namespace, remote=found.secret)
            self._remote_targets[(found.kubeconfig, user)] = (found, target)
            return target

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
