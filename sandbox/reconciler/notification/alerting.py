"""The Provider and Alert controllers. Upstream's v1beta3 kinds have no status: nothing is written back. An object
that sets a field (or a Provider type) not implemented here gets a Warning ``NotSupported`` event naming it, once
per generation, is never used to send anything, and makes the repository's verdict refuse it (``verdict``) — as
does a GitHub Provider whose Secret holds GitHub App credentials and no token (``githubapp``). The
others are what the dispatcher reads (``Dispatcher``), from these controllers' informers."""

from __future__ import annotations

import threading

from sandbox.kube.client import KubeClient, Obj
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.kinds import Kind
from sandbox.reconciler.notification import githubapp
from sandbox.reconciler.notification.alertlog import AlertLog
from sandbox.reconciler.notification.dispatch import Dispatcher
from sandbox.reconciler.runtime.controller import Context, Controller, Result
from sandbox.reconciler.runtime.events import WARNING
from sandbox.reconciler.runtime.manager import Manager
from sandbox.reconciler.support import NOT_SUPPORTED, unsupported_fields_message, unsupported_fields_set

CONTROLLER = "notification-controller"
_SECRET_RECHECK = 60.0  # seconds


class StaticReconciler:
    """Checks an object of a status-less kind (Provider, Alert) against the support table."""

    controller_name = CONTROLLER
    status_manager = "gotk-notification-controller"
    uses_finalizer = False

    def __init__(self, kind: Kind) -> None:
        self.api_version = kind.api_version
        self.kind = kind.kind
        self._told: set[tuple[str, int, str]] = set()
        self._lock = threading.Lock()

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        fields = unsupported_fields_set(obj)
        message = unsupported_fields_message(obj, fields) if fields else ""
        # A GitHub Provider's Secret is looked at again now and then: it may come (or change) after the Provider.
        again = None
        if not message and self.kind == kinds.PROVIDER.kind and str((obj.get("spec") or {}).get("type")) in \
                githubapp.TYPES:
            message, again = githubapp.message(ctx.kube, obj), _SECRET_RECHECK
        if message:
            told = (str(obj["metadata"].get("uid", "")), int(obj["metadata"].get("generation", 1)), message)
            with self._lock:
                first = told not in self._told
                self._told.add(told)
            if first:
                ctx.events.record(obj, WARNING, NOT_SUPPORTED, message, controller=self.controller_name)
        return Result(None, again)

    def finalize(self, obj: Obj, ctx: Context) -> None:
        """Nothing to undo."""

    def resource_info(self, obj: Obj) -> dict[str, str]:
        return {}


def register(manager: Manager, ctx: Context, kube: KubeClient, *, alert_log: AlertLog | None = None) -> Dispatcher:
    """The Provider and Alert controllers, and the dispatcher listening to every event ``ctx`` records (and writing
    each delivery's outcome to ``alert_log``)."""
    providers = manager.add(Controller(StaticReconciler(kinds.PROVIDER), ctx, workers=1)).informer
    alerts = manager.add(Controller(StaticReconciler(kinds.ALERT), ctx, workers=1)).informer
    dispatcher = Dispatcher(kube, alerts.items, lambda namespace, name: providers.get(f"{namespace}/{name}"),
                            stop=ctx.stop, alert_log=alert_log)
    ctx.events.listeners.append(dispatcher.listen)
    dispatcher.start()
    return dispatcher
