"""The provider types implemented here, each a function from the Provider's settings and the event (eventv1.Event
JSON, with the Alert's metadata) to the HTTP request upstream's notifier would send."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.reconciler.notification.providers.alertmanager import alertmanager
from sandbox.reconciler.notification.providers.base import Obj, Request, Settings
from sandbox.reconciler.notification.providers.generic import generic, generic_hmac
from sandbox.reconciler.notification.providers.slack import discord, slack

Builder = Callable[[Settings, Obj], Request]

BUILDERS: dict[str, Builder] = {
    "generic": generic,
    "generic-hmac": generic_hmac,
    "slack": slack,
    "discord": discord,
    "alertmanager": alertmanager,
}
IMPLEMENTED = tuple(BUILDERS)


def build(settings: Settings, event: Obj) -> Request:
    return BUILDERS[settings.type](settings, event)
