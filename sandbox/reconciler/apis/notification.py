"""Schemas of the notification kinds: Receiver (notification.toolkit.fluxcd.io/v1), Provider and Alert (v1beta3)."""

from __future__ import annotations

from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.common import event_source, local_ref, reconcile_status
from sandbox.reconciler.apis.definition import AGE, READY, STATUS, Definition
from sandbox.reconciler.apis.schema import (
    Schema,
    array,
    boolean,
    duration,
    obj,
    required,
    string,
    string_map,
    strings,
    timeout,
)

# Gitea is not a type of its own: its push webhooks carry GitHub's headers and signature, so `github` serves it.
RECEIVER_TYPES = ["generic", "generic-hmac", "generic-oidc", "github", "gitlab", "bitbucket", "harbor", "dockerhub",
                  "quay", "gcr", "nexus", "acr", "cdevents"]

PROVIDER_TYPES = [
    "slack", "discord", "msteams", "rocket", "generic", "generic-hmac", "github", "gitlab", "gitea",
    "giteapullrequestcomment", "bitbucketserver", "bitbucket", "azuredevops", "googlechat", "googlepubsub", "webex",
    "sentry", "azureeventhub", "telegram", "lark", "matrix", "opsgenie", "alertmanager", "grafana", "githubdispatch",
    "githubpullrequestcomment", "gitlabmergerequestcomment", "pagerduty", "datadog", "nats", "zulip", "otel", "zoom",
    "incident.io",
]

_SUSPEND = "Stop acting on this object until set back to false."


def _oidc_provider() -> Schema:
    return obj(
        audience=string("Audience the token must be issued for."),
        issuerURL=required(string("Issuer of the tokens.", pattern=r"^https?://")),
        validations=required(array(obj(
            expression=required(string("CEL expression over the token's claims.")),
            message=required(string("Message when the expression is false.")),
        ), "Rules a token must pass.", min_items=1)),
        variables=array(obj(
            expression=required(string("CEL expression computing the variable.")),
            name=required(string("Variable name.")),
        ), "Variables computed from the token for the validations."),
    )


RECEIVER = Definition(
    kind=kinds.RECEIVER,
    doc="An incoming webhook that makes the listed Flux objects reconcile at once.",
    spec=obj(
        "Which webhooks to accept and which objects they wake.",
        events=strings("Event types to act on (e.g. `push`); empty means all."),
        interval=duration("How often to check the Receiver's secret.", default="10m"),
        oidcProviders=array(_oidc_provider(), "Token issuers accepted by the `generic-oidc` type.",
                            list_type="map", list_map_keys=["issuerURL"]),
        resourceFilter=string("CEL expression a listed object must pass to be reconciled."),
        resources=required(array(event_source("An object to reconcile.", with_filter=True),
                                 "The objects to annotate with `reconcile.fluxcd.io/requestedAt`.")),
        secretRef=local_ref("Secret whose `token` salts the webhook path and verifies payloads."),
        suspend=boolean(_SUSPEND),
        type=required(string("The sender, deciding how payloads are verified.", enum=RECEIVER_TYPES)),
    ),
    status=reconcile_status(
        webhookPath=string("The path to send webhooks to: `/hook/<sha256(token+name+namespace)>`."),
    ),
    columns=(AGE, READY, STATUS),
)

PROVIDER = Definition(
    kind=kinds.PROVIDER,
    doc="Where Alerts send events: a chat, a Git commit status, a generic webhook…",
    spec=obj(
        "The destination and how to reach it.",
        address=string("Address of the destination (webhook URL, API base, …).", max_length=2048),
        certSecretRef=local_ref("Secret with `ca.crt` (and client certificates) for TLS."),
        channel=string("Channel, room or topic to post to.", max_length=2048),
        commitStatusExpr=string("CEL expression for the commit status context (Git providers only)."),
        interval=duration("Deprecated and ignored; kept so older objects stay valid."),
        proxy=string("HTTP/S proxy address.", pattern=r"^(http|https)://.*$", max_length=2048),
        proxySecretRef=local_ref("Secret with `address`, `username`, `password` of an HTTP/S proxy."),
        secretRef=local_ref("Secret with the `address`, `token`, `username`/`password` or headers."),
        serviceAccountName=string("ServiceAccount whose identity authenticates to the provider."),
        suspend=boolean(_SUSPEND),
        timeout=timeout("Time limit for sending an event."),
        type=required(string("Kind of destination.", enum=PROVIDER_TYPES)),
        username=string("Bot user name.", max_length=2048),
    ),
    status=None,
    columns=(AGE,),
)

ALERT = Definition(
    kind=kinds.ALERT,
    doc="Forward the events of the selected Flux objects to a Provider.",
    spec=obj(
        "Which events go where.",
        eventMetadata=string_map("Metadata added to every event sent."),
        eventSeverity=string("Lowest severity sent: `info` sends everything.", enum=["info", "error"],
                             default="info"),
        eventSources=required(array(event_source("An object (or, with name `*`, objects) whose events are sent."),
                                    "Objects whose events are sent.")),
        exclusionList=strings("Regular expressions; matching events are dropped."),
        inclusionList=strings("Regular expressions; only matching events are sent."),
        providerRef=required(local_ref("The Provider to send to.")),
        summary=string("Short summary added to every event.", max_length=255),
        suspend=boolean(_SUSPEND),
    ),
    status=None,
    columns=(AGE,),
)

DEFINITIONS = (RECEIVER, PROVIDER, ALERT)
