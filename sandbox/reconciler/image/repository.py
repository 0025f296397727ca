"""ImageRepository: list the tags of ``spec.image`` at ``spec.interval`` (at once on a new generation, a new
``reconcile.fluxcd.io/requestedAt``, a changed image or exclusion list, or tags missing from the store), drop those
``spec.exclusionList`` matches, store them for ImagePolicies and report ``status.lastScanResult``. Conditions,
reasons, messages and events follow image-reflector-controller's ImageRepositoryReconciler."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from sandbox.errors import SandboxError
from sandbox.oci.distribution import OCIError
from sandbox.reconciler.image import auth, notify
from sandbox.reconciler.image.auth import Access
from sandbox.reconciler.image.policies import excluded, latest_tags
from sandbox.reconciler.image.reference import ImageName, ImageURLInvalid, parse_image
from sandbox.reconciler.image.registryclient import list_tags
from sandbox.reconciler.image.tagstore import TagStore
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import REQUESTED_AT, Context, Result, interval_of
from sandbox.reconciler.runtime.timeutil import go_duration, now, rfc3339
from sandbox.reconciler.source import failure
from sandbox.reconciler.unsupported import refuse_unsupported_fields

TagLister = Callable[[ImageName, Access], list[str]]

Obj = dict[str, Any]
API_VERSION = "image.toolkit.fluxcd.io/v1"
KIND = "ImageRepository"
CONTROLLER = "image-reflector-controller"
DEFAULT_EXCLUSION_LIST = [r"^.*\.sig$"]
RETRY_AFTER_FAILURE = 30.0

# image-reflector-controller's reasons (api/v1/condition_types.go)
IMAGE_URL_INVALID = "ImageURLInvalid"
AUTHENTICATION_FAILED = "AuthenticationFailed"
READ_OPERATION_FAILED = "ReadOperationFailed"

# Why a scan runs (upstream's scanReason* words)
NEVER_SCANNED = "first scan"
RECONCILE_REQUESTED = "reconcile requested"
NEW_IMAGE_NAME = "new image name"
UPDATED_EXCLUSION_LIST = "updated exclusion list"
EMPTY_DATABASE = "no tags in database"
INTERVAL = "triggered by interval"


class _Failed(SandboxError):
    def __init__(self, reason: str, message: str, *, stalled: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.stalled = stalled


def exclusion_list(spec: Obj) -> list[str]:
    value = spec.get("exclusionList")
    return list(DEFAULT_EXCLUSION_LIST) if value is None else [str(item) for item in value]


def should_scan(obj: Obj, store: TagStore, moment: datetime.datetime) -> tuple[bool, float, str]:
    """(scan now?, seconds to the next scan, why) as upstream's shouldScan."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
    interval = interval_of(obj)
    last = status.get("lastScanResult")
    if not last:
        return True, interval, NEVER_SCANNED
    requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
    if requested and requested != status.get("lastHandledReconcileAt"):
        return True, interval, RECONCILE_REQUESTED
    if parse_image(str(spec.get("image", "")), bool(spec.get("insecure"))).canonical != \
            status.get("canonicalImageName"):
        return True, interval, NEW_IMAGE_NAME
    if sorted(exclusion_list(spec)) != sorted(status.get("observedExclusionList") or []):
        return True, interval, UPDATED_EXCLUSION_LIST
    if not store.tags(meta["namespace"], meta["name"]):
        return True, interval, EMPTY_DATABASE
    try:
        scanned = datetime.datetime.fromisoformat(str(last.get("scanTime", "")).replace("Z", "+00:00"))
    except ValueError:
        return True, interval, INTERVAL
    when = interval - (moment - scanned).total_seconds()
    if when < 1.0:
        return True, interval, INTERVAL
    return False, when, ""


class ImageRepositoryReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = CONTROLLER
    status_manager = CONTROLLER

    def __init__(self, store: TagStore, *, lister: TagLister | None = None) -> None:
        """``lister(image, access)``: the registry's tags (the distribution API by default)."""
        self.store = store
        self.list_tags = lister or list_tags

    def resource_info(self, obj: Obj) -> dict[str, str]:
        last = (obj.get("status") or {}).get("lastScanResult") or {}
        return {"revision": str(last.get("revision", "")), "url": str((obj.get("spec") or {}).get("image", ""))}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        self.store.delete(obj["metadata"]["namespace"], obj["metadata"]["name"])

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        meta, spec = obj["metadata"], obj.get("spec") or {}
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        old_ready = dict(cond.find(status.get("conditions"), cond.READY) or {})
        conditions = list(status.get("conditions") or [])
        old_count = (status.get("lastScanResult") or {}).get("tagCount")
        interval = interval_of(obj)
        if generation != status.get("observedGeneration"):
            message = f"processing object: new generation {status.get('observedGeneration', 0)} -> {generation}"
            conditions = failure.progress(obj, ctx, conditions, message, generation, self.status_manager)
        try:
            try:
                image = parse_image(str(spec.get("image", "")), bool(spec.get("insecure")))
            except ImageURLInvalid as err:
                raise _Failed(IMAGE_URL_INVALID, str(err), stalled=True) from err
            try:
                access = auth.access_for(ctx.kube, obj, image)
            except auth.AuthError as err:
                raise _Failed(AUTHENTICATION_FAILED, f"failed to configure authentication options: {err}") from err
            scan, when, why = should_scan(obj, self.store, now())
            if scan:
                conditions = failure.progress(obj, ctx, conditions, f"scanning: {why}", generation, self.status_manager)
                count = self._scan(obj, status, image, access)
                next_scan = f"next scan in {go_duration(when)}"
                trace = ("no new tags found, " if old_count == count else "successful scan, ") + next_scan
            else:
                count = int((status.get("lastScanResult") or {}).get("tagCount") or 0)
                trace = f"no change in repository configuration since last scan, next scan in {go_duration(when)}"
        except _Failed as err:
            return self._fail(obj, ctx, status, conditions, old_ready, err, generation, interval)
        status["canonicalImageName"] = image.canonical
        status["observedExclusionList"] = exclusion_list(spec)
        status["observedGeneration"] = generation
        status["conditions"] = cond.mark_ready(conditions, cond.SUCCEEDED, f"successful scan: found {count} tags",
                                               generation)
        notify.notify(obj, ctx, old_ready, status, trace, self.controller_name)
        return Result(status, when)

    # --- steps --------------------------------------------------------------------------------------------------

    def _scan(self, obj: Obj, status: Obj, image: ImageName, access: Access) -> int:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        try:
            tags = excluded(self.list_tags(image, access), exclusion_list(spec))
        except (OCIError, ValueError) as err:
            raise _Failed(READ_OPERATION_FAILED, f"scan failed: {err}") from err
        try:
            revision = self.store.set_tags(meta["namespace"], meta["name"], tags)
        except OSError as err:
            raise _Failed(READ_OPERATION_FAILED,
                          f"scan failed: failed to set tags for \"{image.canonical}\": {err}") from err
        status["lastScanResult"] = {"revision": revision, "tagCount": len(tags), "scanTime": rfc3339(),
                                    "latestTags": latest_tags(tags)}
        return len(tags)

    def _fail(self, obj: Obj, ctx: Context, status: Obj, conditions: list[Obj], old_ready: Obj, err: _Failed,
              generation: int, interval: float) -> Result:
        status["conditions"] = cond.mark_failed(conditions, err.reason, str(err), generation, stalled=err.stalled)
        if err.stalled:
            status["observedGeneration"] = generation
        notify.notify(obj, ctx, old_ready, status, "", self.controller_name)
        return Result(status, None if err.stalled else min(interval, RETRY_AFTER_FAILURE))

