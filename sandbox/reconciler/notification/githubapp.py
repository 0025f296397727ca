"""GitHub App credentials in a Provider's Secret: not implemented here, and said so.

Upstream's github, githubdispatch and githubpullrequestcomment notifiers use the Secret's ``token`` and, only
when it has none, authenticate as the GitHub App its ``githubAppID``, ``githubAppInstallationID`` and
``githubAppPrivateKey`` (optionally ``githubAppBaseURL``, ``githubAppInstallationOwner``) name
(internal/notifier/github_helpers.go). Such a Provider here would send nothing: the Provider controller records a
Warning ``NotSupported`` event naming the keys, the verdict refuses it, and the dispatcher fails its deliveries
with the same message."""

from __future__ import annotations

import base64
import binascii

from sandbox.errors import NotFound
from sandbox.kube.client import KubeClient, Obj

TYPES = ("github", "githubdispatch", "githubpullrequestcomment")
APP_ID = "githubAppID"
_PREFIX = "githubApp"


def message_for(provider: Obj, data: dict[str, str]) -> str:
    """Why the Provider cannot send with its secretRef Secret's ``data`` (decoded), "" when it can."""
    spec = provider.get("spec") or {}
    if str(spec.get("type")) not in TYPES or data.get("token", "").strip() or APP_ID not in data:
        return ""
    meta = provider.get("metadata") or {}
    keys = ", ".join(sorted(key for key in data if key.startswith(_PREFIX)))
    return (f"spec.secretRef of Provider {meta.get('namespace')}/{meta.get('name')} (type {spec.get('type')}) "
            f"holds GitHub App credentials ({keys}) and no token: GitHub App authentication is not supported by "
            "the gitops-sandbox reconciler, no event would be sent; put a token in the Secret (key token), or run "
            "upstream Flux (`sandbox up --reconciler flux`)")


def message(kube: KubeClient, provider: Obj) -> str:
    """:func:`message_for` with the Provider's secretRef Secret read; "" when it has none or it is absent (the
    dispatcher reports an absent Secret when it sends)."""
    spec = provider.get("spec") or {}
    name = (spec.get("secretRef") or {}).get("name")
    if str(spec.get("type")) not in TYPES or not name:
        return ""
    try:
        secret = kube.get("v1", "Secret", str(name), str((provider.get("metadata") or {}).get("namespace")))
    except NotFound:
        return ""
    data = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[str(key)] = base64.b64decode(value).decode()
        except (binascii.Error, UnicodeDecodeError):
            data[str(key)] = "?"
    return message_for(provider, data)
