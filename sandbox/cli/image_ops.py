"""What the CLI verbs show and do for the image kinds (ImageRepository, ImagePolicy, ImageUpdateAutomation), as
flux2's ``flux get images …`` prints them: each kind's own columns, read from the status fields Flux defines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.reconciler import ops
from sandbox.reconciler.apis import kinds as served_kinds

Obj = dict[str, Any]

IMAGE_REPOSITORY = ops.KindRef(served_kinds.IMAGEREPOSITORY.api_version, "ImageRepository", "image repository")
IMAGE_POLICY = ops.KindRef(served_kinds.IMAGEPOLICY.api_version, "ImagePolicy", "image policy")
IMAGE_UPDATE = ops.KindRef(served_kinds.IMAGEUPDATEAUTOMATION.api_version, "ImageUpdateAutomation", "image update")
KINDS = [IMAGE_REPOSITORY, IMAGE_POLICY, IMAGE_UPDATE]
BY_KIND = {k.kind: k for k in KINDS}


@dataclass(frozen=True)
class Listing:
    """One kind's table: the columns between NAME and READY/MESSAGE, and how to read them from an object."""

    kind: ops.KindRef
    columns: tuple[str, ...]

    def cells(self, obj: Obj) -> list[str]:
        status = obj.get("status", {}) or {}
        suspended = "True" if (obj.get("spec", {}) or {}).get("suspend") else "False"
        if self.kind is IMAGE_REPOSITORY:
            return [str((status.get("lastScanResult") or {}).get("scanTime", "") or ""), suspended]
        if self.kind is IMAGE_POLICY:
            ref = status.get("latestRef") or {}
            return [str(ref.get("name", "") or ""), str(ref.get("tag", "") or "")]
        return [str(status.get("lastAutomationRunTime", "") or ""), suspended]


# As flux get image repository|policy|update (v2.9.5) prints them: NAME, these columns, READY, MESSAGE (NAMESPACE
# first with -A); a policy's IMAGE and TAG are status.latestRef's name and tag.
LISTINGS = {
    "repository": Listing(IMAGE_REPOSITORY, ("LAST SCAN", "SUSPENDED")),
    "policy": Listing(IMAGE_POLICY, ("IMAGE", "TAG")),
    "update": Listing(IMAGE_UPDATE, ("LAST RUN", "SUSPENDED")),
}


def latest_image(policy: Obj) -> str:
    """``status.latestRef`` as ``name:tag`` (``@digest`` appended when the policy reflects one)."""
    ref = (policy.get("status", {}) or {}).get("latestRef") or {}
    if not ref.get("name"):
        return ""
    text = f"{ref['name']}:{ref.get('tag', '')}"
    return f"{text}@{ref['digest']}" if ref.get("digest") else text


def summarize(obj: Obj) -> dict[str, Any]:
    """``ops.summarize`` with each image kind's own fields (for ``-o json|yaml``)."""
    summary = ops.summarize(obj)
    status = obj.get("status", {}) or {}
    kind = obj.get("kind")
    if kind == "ImageRepository":
        scan = status.get("lastScanResult") or {}
        summary.update(lastScan=scan.get("scanTime", ""), tagCount=scan.get("tagCount"),
                       canonicalImageName=status.get("canonicalImageName", ""))
    elif kind == "ImagePolicy":
        ref = status.get("latestRef") or {}
        summary.update(latestImage=latest_image(obj), image=ref.get("name", ""), tag=ref.get("tag", ""),
                       digest=ref.get("digest", ""))
    elif kind == "ImageUpdateAutomation":
        summary.update(lastRun=status.get("lastAutomationRunTime", ""),
                       lastPushCommit=status.get("lastPushCommit", ""), lastPushTime=status.get("lastPushTime", ""))
    return summary


def rows(listing: Listing, objects: list[Obj], all_namespaces: bool, with_kind: bool = False) -> list[list[str]]:
    """Table rows: [NAMESPACE,] NAME (``kind/name`` with ``with_kind``, as flux get images all), the kind's
    columns, READY, MESSAGE."""
    table = []
    for obj in objects:
        ready = ops.ready_condition(obj)
        meta = obj["metadata"]
        row = [str(meta.get("namespace", ""))] if all_namespaces else []
        state = "Terminating" if meta.get("deletionTimestamp") else str(ready.get("status", ""))
        name = f"{listing.kind.kind.lower()}/{meta['name']}" if with_kind else meta["name"]
        table.append([*row, name, *listing.cells(obj), state, str(ready.get("message", ""))])
    return table


def headers(listing: Listing, all_namespaces: bool) -> list[str]:
    return (["NAMESPACE"] if all_namespaces else []) + ["NAME", *listing.columns, "READY", "MESSAGE"]
