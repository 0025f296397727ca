"""The provider types implemented here, each a function from the Provider's settings and the event (eventv1.Event
JSON, with the Alert's metadata) to the HTTP request upstream's notifier would send."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sandbox.reconciler.notification.providers import changerequest, commitstatus
from sandbox.reconciler.notification.providers.alertmanager import alertmanager
from sandbox.reconciler.notification.providers.base import Obj, Request, Settings
from sandbox.reconciler.notification.providers.generic import generic, generic_hmac
from sandbox.reconciler.notification.providers.msteams import msteams
from sandbox.reconciler.notification.providers.slack import discord, slack

Builder = Callable[[Settings, Obj], Request]
GitBuilder = Callable[[Settings, Obj, str], Request | None]

BUILDERS: dict[str, Builder] = {
    "generic": generic,
    "generic-hmac": generic_hmac,
    "slack": slack,
    "discord": discord,
    "alertmanager": alertmanager,
    "msteams": msteams,
}
# Git commit status providers, given the Provider's UID too (the status context): the only ones the "commit status
# update" event (the success event carrying `commit_status: update`) is for; every other provider skips it, as
# upstream's notifiers do.
GIT_BUILDERS: dict[str, GitBuilder] = {
    "github": commitstatus.github,
    "gitlab": commitstatus.gitlab,
    "gitea": commitstatus.gitea,
}
COMMIT_STATUS_TYPES: frozenset[str] = frozenset(GIT_BUILDERS)
# Change-request comment providers, also given the Provider's UID (the comment's marker).
GIT_BUILDERS.update({
    "giteapullrequestcomment": changerequest.gitea,
    "githubpullrequestcomment": changerequest.github,
    "gitlabmergerequestcomment": changerequest.gitlab,
})
CHANGE_REQUEST_TYPES: frozenset[str] = frozenset(changerequest.TYPES)
IMPLEMENTED = (*BUILDERS, *GIT_BUILDERS)

log = logging.getLogger("sandbox.reconciler.notification")


def sends(provider_type: str, event: Obj, annotations: dict[str, str] | None = None) -> bool:
    """Whether a provider of ``provider_type`` posts ``event`` at all: the commit status update event only to
    commit status providers, and to change-request comment providers only events of objects annotated with
    ``event.toolkit.fluxcd.io/change_request`` (``annotations``: the involved object's)."""
    update = (event.get("metadata") or {}).get("commit_status") == "update"
    if provider_type not in COMMIT_STATUS_TYPES and update:
        return False
    if provider_type in CHANGE_REQUEST_TYPES and not changerequest.has_change_request(annotations or {}):
        involved = event.get("involvedObject") or {}
        log.info("event dropped for change request providers due to missing change request metadata key "
                 "(annotation %s on %s/%s/%s)", changerequest.ANNOTATION, involved.get("kind"),
                 involved.get("namespace"), involved.get("name"))
        return False
    return True


def build(settings: Settings, event: Obj, provider_uid: str = "") -> Request | None:
    """The request, or None when the provider skips this event (GitHub and GitLab skip Progressing events)."""
    if settings.type in GIT_BUILDERS:
        return GIT_BUILDERS[settings.type](settings, event, provider_uid)
    return BUILDERS[settings.type](settings, event)
