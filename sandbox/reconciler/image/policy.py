"""ImagePolicy: choose the latest tag among the tags its ImageRepository's last scan stored (``spec.policy`` after
``spec.filterTags``), reflect its digest as ``spec.digestReflectionPolicy`` says, and report ``status.latestRef`` and
``status.observedPreviousRef``. Conditions, reasons, messages and events follow image-reflector-controller's
ImagePolicyReconciler; the policy is evaluated again whenever its ImageRepository changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.errors import NotFound, SandboxError
from sandbox.oci.distribution import OCIError
from sandbox.reconciler.image import auth, notify
from sandbox.reconciler.image.policies import InvalidPolicy, PolicyError, latest_tag
from sandbox.reconciler.image.reference import ImageName, ImageURLInvalid, parse_image
from sandbox.reconciler.image.registryclient import tag_digest
from sandbox.reconciler.image.repository import API_VERSION, CONTROLLER
from sandbox.reconciler.image.repository import KIND as REPOSITORY_KIND
from sandbox.reconciler.image.tagstore import TagStore
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Result, interval_of
from sandbox.reconciler.source import failure
from sandbox.reconciler.unsupported import refuse_unsupported_fields

DigestResolver = Callable[[ImageName, str, auth.Access], str]

Obj = dict[str, Any]
KIND = "ImagePolicy"
RETRY_AFTER_FAILURE = 30.0

ACCESS_DENIED = "AccessDenied"
INVALID_POLICY = "InvalidPolicy"
FAILURE = "Failure"
NEVER, IF_NOT_PRESENT, ALWAYS = "Never", "IfNotPresent", "Always"
NOT_SCANNED = "referenced ImageRepository has not been scanned yet"
NO_TAGS = "no tags in database"


class _Failed(SandboxError):
    def __init__(self, reason: str, message: str, *, stalled: bool = False, retry: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.stalled = stalled
        self.retry = retry


def ready_message(previous_tag: str, latest: str, image: str) -> str:
    """Upstream's composeImagePolicyReadyMessage."""
    if previous_tag and previous_tag != latest:
        return f"Latest image tag for '{image}' updated from {previous_tag} to {latest}"
    return f"Latest image tag for '{image}' resolved to {latest}"


def repository_key(policy: Obj) -> str:
    """``namespace/name`` of the ImageRepository a policy refers to."""
    ref = (policy.get("spec") or {}).get("imageRepositoryRef") or {}
    return f"{ref.get('namespace') or policy['metadata'].get('namespace', '')}/{ref.get('name', '')}"


def keep_digest(policy_value: str, old_ref: Obj | None, new_ref: Obj) -> bool:
    """IfNotPresent keeps the digest it has while the chosen image and tag stay the same."""
    return (policy_value == IF_NOT_PRESENT and old_ref is not None and bool(old_ref.get("digest"))
            and old_ref.get("name") == new_ref.get("name") and old_ref.get("tag") == new_ref.get("tag"))


def access_denied(policy: Obj, repository: Obj | None, namespace_labels: dict[str, str],
                  ref_namespace: str, ref_name: str) -> str:
    """fluxcd/pkg/runtime/acl HasAccessToRef: "" when the policy may read the repository, else why not."""
    if ref_namespace == policy["metadata"].get("namespace"):
        return ""
    access_from = ((repository or {}).get("spec") or {}).get("accessFrom")
    if access_from is None:
        return f"'{ref_namespace}/{ref_name}' can't be accessed due to missing ACL labels on 'accessFrom'"
    for selector in access_from.get("namespaceSelectors") or []:
        labels = (selector or {}).get("matchLabels") or {}
        if all(namespace_labels.get(key) == value for key, value in labels.items()):
            return ""
    return (f"'{ref_namespace}/{ref_name}' can't be accessed due to ACL labels mismatch on namespace "
            f"'{policy['metadata'].get('namespace')}'")


class ImagePolicyReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = CONTROLLER
    status_manager = CONTROLLER

    def __init__(self, store: TagStore, *, resolve_digest: DigestResolver | None = None) -> None:
        """``resolve_digest(image, tag, access)``: the registry lookup (a manifest HEAD) by default."""
        self.store = store
        self.resolve_digest = resolve_digest or tag_digest

    def resource_info(self, obj: Obj) -> dict[str, str]:
        latest = (obj.get("status") or {}).get("latestRef") or {}
        return {"revision": str(latest.get("tag", "")), "source_name": repository_key(obj).rpartition("/")[2]}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        return None

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        meta, spec = obj["metadata"], obj.get("spec") or {}
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        conditions = list(status.get("conditions") or [])
        old_ready = dict(cond.find(conditions, cond.READY) or {})
        old_ref = status.get("latestRef")
        if generation != status.get("observedGeneration"):
            message = f"processing object: new generation {status.get('observedGeneration', 0)} -> {generation}"
            conditions = failure.progress(obj, ctx, conditions, message, generation, self.status_manager)
        status.pop("latestRef", None)
        reflection = str(spec.get("digestReflectionPolicy") or NEVER)
        requeue = interval_of(obj) if reflection == ALWAYS and spec.get("interval") else None
        try:
            repository = self._repository(obj, ctx)
            if not (repository.get("status") or {}).get("lastScanResult"):
                raise _Failed(cond.DEPENDENCY_NOT_READY, NOT_SCANNED, retry=False)
            tags = self.store.tags(repository["metadata"]["namespace"], repository["metadata"]["name"])
            if not tags:
                raise _Failed(cond.DEPENDENCY_NOT_READY, NO_TAGS)
            try:
                latest = latest_tag(tags, spec.get("policy") or {}, spec.get("filterTags"))
            except InvalidPolicy as err:
                raise _Failed(INVALID_POLICY, str(err), stalled=True) from err
            except PolicyError as err:
                raise _Failed(FAILURE, str(err)) from err
            image = str((repository.get("spec") or {}).get("image", ""))
            new_ref: Obj = {"name": image, "tag": latest}
            if reflection != NEVER:
                if keep_digest(reflection, old_ref, new_ref):
                    new_ref["digest"] = old_ref["digest"]  # type: ignore[index]
                else:
                    new_ref["digest"] = self._digest(ctx, repository, latest)
        except _Failed as err:
            return self._fail(obj, ctx, status, conditions, old_ready, err, generation, requeue)
        status["latestRef"] = new_ref
        if old_ref is not None and old_ref != new_ref:
            status["observedPreviousRef"] = dict(old_ref)
        previous = status.get("observedPreviousRef") or {}
        message = ready_message(str(previous.get("tag", "")), latest, image)
        status["observedGeneration"] = generation
        status["conditions"] = cond.mark_ready(conditions, cond.SUCCEEDED, message, generation)
        notify.notify(obj, ctx, old_ready, status, message, self.controller_name)
        return Result(status, requeue)

    # --- steps --------------------------------------------------------------------------------------------------

    def _repository(self, obj: Obj, ctx: Context) -> Obj:
        """The referred ImageRepository, if the policy may read it (upstream's getImageRepository)."""
        namespace, _, name = repository_key(obj).partition("/")
        prefix = "failed to get the referred ImageRepository: "
        repository: Obj | None
        try:
            repository = ctx.kube.get(API_VERSION, REPOSITORY_KIND, name, namespace)
        except NotFound:
            repository = None
        labels: dict[str, str] = {}
        if namespace != obj["metadata"].get("namespace") and repository is not None:
            try:
                source = ctx.kube.get("v1", "Namespace", obj["metadata"]["namespace"], None)
                labels = dict((source.get("metadata") or {}).get("labels") or {})
            except NotFound:
                labels = {}
        if repository is None:
            # Upstream checks the ACL after the lookup, on an empty object when it is missing: a missing
            # repository in another namespace reads as denied; in the same one, as not ready yet.
            denied = access_denied(obj, None, labels, namespace, name)
            if denied:
                raise _Failed(ACCESS_DENIED, f"{prefix}access denied: {denied}")
            raise _Failed(cond.DEPENDENCY_NOT_READY, f"{prefix}referenced {REPOSITORY_KIND} does not exist: "
                          f"imagerepositories.image.toolkit.fluxcd.io \"{name}\" not found")
        denied = access_denied(obj, repository, labels, namespace, name)
        if denied:
            raise _Failed(ACCESS_DENIED, f"{prefix}access denied: {denied}")
        return repository

    def _digest(self, ctx: Context, repository: Obj, tag: str) -> str:
        spec = repository.get("spec") or {}
        ref = f"{spec.get('image', '')}:{tag}"
        try:
            image = parse_image(str(spec.get("image", "")), bool(spec.get("insecure")))
            access = auth.access_for(ctx.kube, repository, image)
        except ImageURLInvalid as err:
            raise _Failed(FAILURE, f"failed fetching digest of {ref}: failed parsing reference \"{ref}\": "
                          f"{err}") from err
        except auth.AuthError as err:
            raise _Failed(FAILURE, f"failed fetching digest of {ref}: failed to configure authentication "
                          f"options: {err}") from err
        try:
            return self.resolve_digest(image, tag, access)
        except OCIError as err:
            raise _Failed(FAILURE, f"failed fetching digest of {ref}: failed fetching descriptor for "
                          f"\"{image.canonical}:{tag}\": {err}") from err

    def _fail(self, obj: Obj, ctx: Context, status: Obj, conditions: list[Obj], old_ready: Obj, err: _Failed,
              generation: int, requeue: float | None) -> Result:
        status["conditions"] = cond.mark_failed(conditions, err.reason, str(err), generation, stalled=err.stalled)
        if err.stalled or not err.retry:
            status["observedGeneration"] = generation
        notify.notify(obj, ctx, old_ready, status, "", self.controller_name)
        if err.stalled:
            return Result(status, None)
        if not err.retry:  # the repository's next scan triggers the policy (the watch)
            return Result(status, requeue)
        return Result(status, min(requeue or RETRY_AFTER_FAILURE, RETRY_AFTER_FAILURE))

def policies_for_repository(policies: list[Obj], repository: Obj) -> list[str]:
    """Keys of the ImagePolicies referring to ``repository`` (what its changes must re-evaluate)."""
    key = f"{repository['metadata'].get('namespace', '')}/{repository['metadata'].get('name', '')}"
    return [f"{p['metadata'].get('namespace', '')}/{p['metadata']['name']}" for p in policies
            if repository_key(p) == key]
