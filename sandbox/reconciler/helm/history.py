"""``status.history``: snapshots of the Helm releases a HelmRelease made, newest first, as helm-controller's
``v2.Snapshots`` keeps them (latest, previous deployed, truncation, test hooks)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.reconciler.helm import values as helm_values

Obj = dict[str, Any]
SNAPSHOT_API_VERSION = "v2"
DEFAULT_MAX_HISTORY = 5
DEPLOYED = "deployed"
SUPERSEDED = "superseded"
FAILED = "failed"
UNINSTALLED = "uninstalled"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback", "uninstalling")
TEST_FAILED = "Failed"
TEST_SUCCEEDED = "Succeeded"


@dataclass(frozen=True)
class Release:
    """One release in Helm's storage, as the SDK reports it."""

    name: str
    namespace: str
    version: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str = ""
    config: Obj = field(default_factory=dict)
    manifest: str = ""
    first_deployed: str = ""
    last_deployed: str = ""
    deleted: str = ""
    description: str = ""
    # test hook name -> {"lastStarted", "lastCompleted", "phase"} (None when it never ran)
    test_hooks: Mapping[str, Obj | None] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    @property
    def digest(self) -> str:
        """A digest of what makes the release (not its test runs): a snapshot that does not match it means the
        release was changed behind the controller's back."""
        observed = {"name": self.name, "namespace": self.namespace, "version": self.version, "status": self.status,
                    "chart": [self.chart_name, self.chart_version, self.app_version],
                    "config": helm_values.digest_values(self.config), "manifest": self.manifest,
                    "firstDeployed": self.first_deployed, "lastDeployed": self.last_deployed,
                    "deleted": self.deleted}
        return "sha256:" + hashlib.sha256(json.dumps(observed, sort_keys=True).encode()).hexdigest()


def _seconds(stamp: str) -> str:
    """An RFC 3339 time as metav1.Time writes it (seconds precision); "" stays ""."""
    return re.sub(r"\.\d+(?=Z|[+-]\d\d:\d\d$)", "", stamp)


def snapshot(release: Release, action: str, oci_digest: str = "", test_hooks: Mapping[str, Obj | None] | None = None,
             ) -> Obj:
    """The ``status.history`` entry for ``release`` (helm-controller's ObservedToSnapshot)."""
    snap: Obj = {"apiVersion": SNAPSHOT_API_VERSION, "digest": release.digest, "name": release.name,
                 "namespace": release.namespace, "version": release.version, "status": release.status,
                 "chartName": release.chart_name, "chartVersion": release.chart_version,
                 "configDigest": helm_values.digest_values(release.config),
                 "firstDeployed": _seconds(release.first_deployed) or None,
                 "lastDeployed": _seconds(release.last_deployed) or None}
    if release.app_version:
        snap["appVersion"] = release.app_version
    if release.deleted:
        snap["deleted"] = _seconds(release.deleted)
    if action:
        snap["action"] = action
    if oci_digest:
        snap["ociDigest"] = oci_digest
    if test_hooks is not None:
        snap["testHooks"] = {name: dict(hook) if hook else {} for name, hook in test_hooks.items()}
    return snap


def _sorted(history: list[Obj] | None) -> list[Obj]:
    return sorted((dict(s) for s in history or []), key=lambda s: int(s.get("version", 0)), reverse=True)


def latest(history: list[Obj] | None) -> Obj | None:
    ordered = _sorted(history)
    return ordered[0] if ordered else None


def has_test_in_phase(snap: Obj | None, phase: str) -> bool:
    return any(hook and hook.get("phase") == phase for hook in ((snap or {}).get("testHooks") or {}).values())


def has_been_tested(snap: Obj | None) -> bool:
    """As Snapshot.HasBeenTested: the hooks are recorded and each one finished (or one failed)."""
    if snap is None or "testHooks" not in snap:
        return False
    hooks = snap.get("testHooks") or {}
    if not hooks or has_test_in_phase(snap, TEST_FAILED):
        return True
    return all(hook and hook.get("phase") == TEST_SUCCEEDED for hook in hooks.values())


def _usable(snap: Obj, ignore_tests: bool) -> bool:
    return snap.get("status") in (DEPLOYED, SUPERSEDED) and (ignore_tests or not has_test_in_phase(snap, TEST_FAILED))


def previous(history: list[Obj] | None, ignore_tests: bool) -> Obj | None:
    """The newest deployed or superseded release before the latest (without failed tests unless ignored)."""
    for snap in _sorted(history)[1:]:
        if _usable(snap, ignore_tests):
            return snap
    return None


def truncate(history: list[Obj] | None, ignore_tests: bool) -> list[Obj]:
    """Keep the history up to the previous usable release (Snapshots.Truncate)."""
    ordered = _sorted(history)
    if len(ordered) < 2:
        return ordered
    for index, snap in enumerate(ordered[1:]):
        if _usable(snap, ignore_tests):
            return ordered[:index + 2]
    return ordered[:DEFAULT_MAX_HISTORY]


def truncate_ignoring_previous(history: list[Obj] | None) -> list[Obj]:
    return _sorted(history)[:DEFAULT_MAX_HISTORY]


def targets(snap: Obj | None, name: str, namespace: str, version: int) -> bool:
    return snap is not None and (snap.get("name"), snap.get("namespace"), snap.get("version")) == (
        name, namespace, version)


def full_release_name(snap: Obj | None) -> str:
    return f"{snap['namespace']}/{snap['name']}.v{snap['version']}" if snap else ""


def versioned_chart_name(snap: Obj | None) -> str:
    return f"{snap['chartName']}@{snap['chartVersion']}" if snap else ""


def record(history: list[Obj] | None, snap: Obj) -> list[Obj]:
    """``snap`` put in the history: replacing the entry for the same release version (keeping its test hooks
    unless ``snap`` has its own), or added as the newest."""
    result = _sorted(history)
    for index, existing in enumerate(result):
        if targets(existing, snap["name"], snap["namespace"], snap["version"]):
            merged = dict(snap)
            if "testHooks" not in merged and "testHooks" in existing:
                merged["testHooks"] = existing["testHooks"]
            if "ociDigest" not in merged and existing.get("ociDigest"):
                merged["ociDigest"] = existing["ociDigest"]
            result[index] = merged
            return result
    return [snap, *result]
