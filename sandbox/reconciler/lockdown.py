"""Flux's multi-tenancy lockdown flags, as the reconciler process takes them and as the sandbox record keeps them.

``--default-service-account`` (kustomize-controller, helm-controller): the ServiceAccount impersonated when an
object names none. ``--no-cross-namespace-refs``: a reference to a source in another namespace is refused with
reason ``AccessDenied``. ``--no-remote-bases`` (kustomize-controller): a kustomization may not load remote bases.
``sandbox up --tenancy-lockdown`` sets all three, with ``default`` as flux2-multi-tenancy does.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import asdict, dataclass
from typing import Any

from sandbox.errors import InputError

ACCESS_DENIED = "AccessDenied"  # fluxcd/pkg/apis/acl's AccessDeniedReason
LOCKDOWN_SERVICE_ACCOUNT = "default"  # what flux2-multi-tenancy patches into the controllers
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class Lockdown:
    default_service_account: str = ""
    no_cross_namespace_refs: bool = False
    no_remote_bases: bool = False

    def __post_init__(self) -> None:
        name = self.default_service_account
        if name and (len(name) > 253 or not _NAME.match(name)):
            raise InputError(f"--default-service-account {name!r} is not a ServiceAccount name (lower-case "
                             "letters, digits, '-' and '.')")

    @staticmethod
    def full() -> Lockdown:
        """What ``--tenancy-lockdown`` sets."""
        return Lockdown(LOCKDOWN_SERVICE_ACCOUNT, True, True)

    @property
    def any(self) -> bool:
        return bool(self.default_service_account or self.no_cross_namespace_refs or self.no_remote_bases)

    def argv(self) -> list[str]:
        """The reconciler process's (and Flux's controllers') flags."""
        return ([f"--default-service-account={self.default_service_account}"] if self.default_service_account
                else []) + (["--no-cross-namespace-refs"] if self.no_cross_namespace_refs else []) \
            + (["--no-remote-bases"] if self.no_remote_bases else [])

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--default-service-account", default="", metavar="NAME",
                            help="impersonate this ServiceAccount (of the object's namespace) for Kustomizations "
                                 "and HelmReleases that name none, as Flux's controllers' flag")
        parser.add_argument("--no-cross-namespace-refs", action="store_true",
                            help="refuse references to sources in another namespace (AccessDenied)")
        parser.add_argument("--no-remote-bases", action="store_true",
                            help="refuse kustomizations that load remote bases")

    @staticmethod
    def from_arguments(args: argparse.Namespace) -> Lockdown:
        return Lockdown(args.default_service_account, args.no_cross_namespace_refs, args.no_remote_bases)


def cross_namespace_kustomization(kind: str, namespace: str, name: str) -> str:
    """kustomize-controller's message for a sourceRef it may not follow."""
    return f"can't access '{kind}/{namespace}/{name}', cross-namespace references have been blocked"


def cross_namespace_helmrelease(kind: str, namespace: str, name: str) -> str:
    """helm-controller's message (internal/acl) for a chart reference it may not follow."""
    return f"cross-namespace references are not allowed: cannot access {kind} {namespace}/{name}"


SERVICE = "lockdown"


def of(services: dict[str, Any]) -> Lockdown:
    """The process's lockdown flags (``Context.services``); none set: nothing locked down."""
    found = services.get(SERVICE)
    return found if isinstance(found, Lockdown) else Lockdown()
