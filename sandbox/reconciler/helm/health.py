"""``spec.healthCheckExprs`` for a release: helm-controller hands Helm's wait a status reader that evaluates the
CEL expressions for their kinds; here, once Helm's own wait (kstatus) has passed, the release's objects of those
kinds are waited for with the same expressions (the Kustomization's CEL health checks), and a failure is worded
as Helm's wait words it."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import yaml

from sandbox.errors import SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.helm.history import Release
from sandbox.reconciler.kustomize import health, manifest
from sandbox.reconciler.kustomize.health import CustomHealthCheck, Health, Status
from sandbox.waiting import wait_until

Obj = dict[str, Any]
POLL = 0.25


def targets(release: Release, checks: Mapping[str, CustomHealthCheck]) -> list[tuple[str, str, str, str]]:
    """(apiVersion, kind, namespace, name) of the release's objects whose group/kind has a custom check."""
    found = []
    for document in yaml.safe_load_all(release.manifest or ""):
        if not isinstance(document, dict) or not document.get("kind"):
            continue
        api_version, kind = str(document.get("apiVersion", "")), str(document["kind"])
        group = manifest.api_group(api_version)
        if (f"{group}/{kind}" if group else kind) not in checks:
            continue
        meta = document.get("metadata") or {}
        found.append((api_version, kind, str(meta.get("namespace") or release.namespace), str(meta.get("name", ""))))
    return found


def _not_ready(statuses: Mapping[str, Health | None]) -> list[str]:
    lines = []
    for subject in sorted(statuses):
        state = statuses[subject]
        if state is None:
            lines.append(f"resource {subject} not ready. status: Unknown")
        elif not state.current:
            lines.append(f"resource {subject} not ready. status: {state.status}, message: "
                         f"{state.error or state.message}")
    return lines


def wait(kube: KubeClient, release: Release, checks: Mapping[str, CustomHealthCheck], timeout: float,
         stop: threading.Event | None = None) -> str:
    """Wait up to ``timeout`` for the release's objects with custom checks to be Current: "" when they are,
    else Helm's wait error."""
    objects = targets(release, checks)
    if not objects:
        return ""
    statuses: dict[str, Health | None] = {}

    def settled() -> bool:
        statuses.clear()
        for api_version, kind, namespace, name in objects:
            subject = f"{kind}/{namespace}/{name}"
            try:
                live = kube.get_or_none(api_version, kind, name, namespace)
            except SandboxError:
                statuses[subject] = None
                continue
            statuses[subject] = health.status_of(live, custom=checks)
        if any(s is not None and s.status is Status.FAILED for s in statuses.values()):
            return True
        return health.all_current(statuses)

    try:
        wait_until(settled, timeout=max(timeout, 0.1), what="custom health checks", interval=POLL,
                   max_interval=1.0, stop=stop)
    except SandboxError:
        return "\n".join([*_not_ready(statuses), "context deadline exceeded"])
    return "\n".join(_not_ready(statuses))
