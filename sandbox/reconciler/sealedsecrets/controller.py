"""The SealedSecret controller: unseal with the controller's keys, write the Secret it owns, report ``Synced``.

Upstream's behaviour (bitnami-labs/sealed-secrets ``pkg/controller``): events ``Unsealed``, ``ErrUnsealFailed``
(``Failed to unseal: …``) and ``ErrUpdateFailed``; the condition ``Synced`` with the error as its message; a Secret
of the same name that this SealedSecret does not control (and that is not annotated ``managed``/``patch``) is left
alone. On any failure the previous Secret stays as it was. Messages never hold a value: only key names and
upstream's fixed texts.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sandbox.errors import APIError, SandboxError
from sandbox.kube.informer import Informer
from sandbox.reconciler.apis.sealedsecrets import SEALEDSECRET
from sandbox.reconciler.runtime.controller import Context, Controller, Result
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.manager import Manager
from sandbox.reconciler.runtime.timeutil import rfc3339
from sandbox.reconciler.sealedsecrets.crypto import UnsealError
from sandbox.reconciler.sealedsecrets.keys import KEY_SELECTOR, NAMESPACE, KeyRing
from sandbox.reconciler.sealedsecrets.unseal import API_VERSION, KIND, TemplateNotSupported, unseal

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CONTROLLER = "sealed-secrets-controller"
SYNCED = "Synced"
UNSEALED = "Unsealed"
ERR_UNSEAL_FAILED = "ErrUnsealFailed"
ERR_UPDATE_FAILED = "ErrUpdateFailed"
MANAGED = "sealedsecrets.bitnami.com/managed"
PATCH = "sealedsecrets.bitnami.com/patch"
# A SealedSecret that failed is looked at again after this long (a key may have been restored meanwhile).
RETRY_AFTER = 60.0


def controlled_by(secret: Obj, sealed: Obj) -> bool:
    uid = sealed["metadata"].get("uid")
    return any(ref.get("controller") and ref.get("uid") == uid
               for ref in secret["metadata"].get("ownerReferences") or [])


def _annotated(secret: Obj, annotation: str) -> bool:
    return (secret["metadata"].get("annotations") or {}).get(annotation) == "true"


def synced_status(sealed: Obj, error: str | None) -> Obj:
    """The status upstream writes: ``Synced`` True with no message, or False with the error."""
    current = dict(sealed.get("status") or {})
    status_value = "False" if error else "True"
    old = next((c for c in current.get("conditions") or [] if c.get("type") == SYNCED), None)
    generation = sealed["metadata"].get("generation")
    if (old and old.get("status") == status_value and old.get("message", "") == (error or "")
            and current.get("observedGeneration") == generation):
        return current
    stamp = rfc3339()
    condition: Obj = {"type": SYNCED, "status": status_value, "lastUpdateTime": stamp,
                      "lastTransitionTime": stamp if not old or old.get("status") != status_value
                      else old.get("lastTransitionTime", stamp)}
    if error:
        condition["message"] = error
    others = [c for c in current.get("conditions") or [] if c.get("type") != SYNCED]
    return {**current, "conditions": [condition, *others], "observedGeneration": generation}


class SealedSecretReconciler:
    api_version = SEALEDSECRET.api_version
    kind = SEALEDSECRET.kind
    controller_name = CONTROLLER
    status_manager = CONTROLLER
    ready_condition = SYNCED  # what the runtime reads for metrics and the failure log line
    uses_finalizer = False  # the Secret goes with its owner (garbage collection), as upstream

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    def finalize(self, obj: Obj, ctx: Context) -> None:
        return None

    def resource_info(self, obj: Obj) -> dict[str, str]:
        return {}

    def _fail(self, obj: Obj, ctx: Context, reason: str, event: str, error: str) -> Result:
        # The controller logs the Synced=False message (keys of encryptedData and upstream's texts, never a value).
        ctx.events.record(obj, WARNING, reason, event, controller=CONTROLLER)
        return Result(synced_status(obj, error), requeue_after=RETRY_AFTER)

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        meta = obj["metadata"]
        keys = self.keyring.keys() or [self.keyring.ensure()]
        try:
            wanted = unseal(obj, [key.private for key in keys])
        except UnsealError as err:
            return self._fail(obj, ctx, ERR_UNSEAL_FAILED, f"Failed to unseal: {err}", str(err))
        except TemplateNotSupported as err:
            return self._fail(obj, ctx, ERR_UNSEAL_FAILED, f"Failed to unseal: {err}", str(err))
        try:
            existing = ctx.kube.get_or_none("v1", "Secret", meta["name"], meta["namespace"])
            if existing is None:
                existing = ctx.kube.create(wanted)
        except APIError as err:
            return self._fail(obj, ctx, ERR_UPDATE_FAILED, str(err), str(err))
        if not controlled_by(existing, obj) and not _annotated(existing, MANAGED) and not _annotated(existing, PATCH):
            message = f'Resource "{meta["name"]}" already exists and is not managed by SealedSecret'
            return self._fail(obj, ctx, ERR_UPDATE_FAILED, message, f"failed update: {message}")
        updated = _merged(existing, wanted)
        if updated != existing:
            try:
                ctx.kube.request("PUT", ctx.kube.path("v1", "Secret", meta["namespace"], meta["name"]), body=updated,
                                 what=f"Secret/{meta['namespace']}/{meta['name']}")
            except APIError as err:
                message = str(err)
                if "field is immutable" in message:
                    message = (f"Error updating {meta['namespace']}/{meta['name']}: the target Secret is immutable. "
                               "Once a Secret is marked as immutable, it is not possible to revert this change nor "
                               "to mutate the contents of the data field. You can only delete and recreate the "
                               "Secret.")
                return self._fail(obj, ctx, ERR_UPDATE_FAILED, message, str(err))
        ctx.events.record(obj, NORMAL, UNSEALED, "SealedSecret unsealed successfully", controller=CONTROLLER)
        return Result(synced_status(obj, None))


def _merged(existing: Obj, wanted: Obj) -> Obj:
    """``existing`` updated as upstream does: replaced wholesale, or with ``patch``, merged key by key."""
    updated = {**existing, "metadata": dict(existing["metadata"])}
    meta, new = updated["metadata"], wanted["metadata"]
    if _annotated(existing, PATCH):
        updated["data"] = {**(existing.get("data") or {}), **wanted["data"]}
        meta["labels"] = {**(meta.get("labels") or {}), **(new.get("labels") or {})}
        meta["annotations"] = {**(meta.get("annotations") or {}), **(new.get("annotations") or {})}
        if _annotated(existing, MANAGED):
            meta["ownerReferences"] = new.get("ownerReferences")
    else:
        updated["data"] = wanted["data"]
        for field in ("annotations", "labels", "ownerReferences"):
            meta[field] = new.get(field)
    updated["type"] = wanted.get("type", "Opaque")
    return {key: value for key, value in updated.items() if value is not None}


def _first_key(keyring: KeyRing) -> None:
    try:
        key = keyring.ensure()
    except SandboxError as err:  # the first reconcile (or `sandbox seal`) tries again
        log.warning("could not make the Sealed Secrets key: %s", err)
        return
    log.info("Sealed Secrets key %s/%s ready (fingerprint %s)", NAMESPACE, key.secret_name, key.fingerprint)


def _owner_key(secret: Obj) -> str | None:
    for ref in secret["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == KIND and ref.get("apiVersion") == API_VERSION:
            return f"{secret['metadata'].get('namespace', '')}/{ref.get('name')}"
    return None


def register(manager: Manager, ctx: Context) -> Controller:
    """The SealedSecret controller, woken when a Secret it owns is deleted (it writes it again, as upstream) and
    when a key Secret appears (a restored key may open what failed). The first key is generated at start in the
    background, as upstream's controller does, so that `sandbox seal --fetch-cert` finds it."""
    keyring = KeyRing(ctx.kube)
    controller = manager.add(Controller(SealedSecretReconciler(keyring), ctx, workers=2))
    threading.Thread(target=_first_key, args=(keyring,), name="sealed-secrets-key", daemon=True).start()

    def on_secret(kind: str, secret: Obj) -> None:
        key = _owner_key(secret)
        if kind == "DELETED" and key:
            controller.enqueue(key)

    def on_key(kind: str, secret: Obj) -> None:
        if kind == "ADDED":
            for sealed in controller.informer.items():
                conditions = (sealed.get("status") or {}).get("conditions") or []
                if not any(c.get("type") == SYNCED and c.get("status") == "True" for c in conditions):
                    controller.enqueue(f"{sealed['metadata']['namespace']}/{sealed['metadata']['name']}")

    controller.watched.append(Informer(ctx.kube, "v1", "Secret", on_secret, stop=ctx.stop))
    controller.watched.append(Informer(ctx.kube, "v1", "Secret", on_key, namespace=NAMESPACE,
                                       label_selector=KEY_SELECTOR, stop=ctx.stop))
    return controller


