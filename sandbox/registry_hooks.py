"""Registry notifications to a Receiver: every image pushed to the sandbox registry calls a Receiver's webhook, so the
ImageRepositories it lists are scanned at once instead of at their next interval.

The sandbox registry is distribution: it POSTs its own event envelope with fixed headers and cannot sign a body.
A Receiver type is connected only when notification-controller would accept that request as it is:

- ``generic``: the secret path is the whole check;
- ``harbor``: ``Authorization`` must equal the token — sent as a header;
- ``dockerhub``, ``quay``, ``acr``: the payload must decode into Flux's declared shape, and any JSON object whose
  fields it names are absent does (Flux reads nothing from it);
- ``gitlab`` without ``spec.events``: ``X-Gitlab-Token`` equal to the token — sent as a header.

Types that need a signature of the body (``generic-hmac``, ``github``, ``nexus``, ``bitbucket``) or a request
distribution cannot make are refused with an error that says what to use instead: never a silent no-op.

Only pushes of manifests are sent (blob uploads, pulls, mounts and deletes are ignored), one request per tag.
The registry must run as a local process (``--registry local``): from a container it cannot reach the receiver
server, which listens on 127.0.0.1 only — refused with an error saying so.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from sandbox.errors import InputError, NotFound
from sandbox.kube.client import KubeClient
from sandbox.registry import notifications
from sandbox.registry.base import COMPONENT
from sandbox.registry.config import NotificationEndpoint
from sandbox.state import StateDir

RECEIVER_API = "notification.toolkit.fluxcd.io/v1"
PREFIX = "receiver-"
# Blob uploads and mounts are application/octet-stream targets; a manifest push is one event per tag.
IGNORED_MEDIA_TYPES = ("application/octet-stream",)
IGNORED_ACTIONS = ("pull", "mount", "delete")
_HEADER_TYPES = {"harbor": "Authorization", "gitlab": "X-Gitlab-Token"}
_PLAIN_TYPES = ("generic", "dockerhub", "quay", "acr")
_SIGNED = {"generic-hmac": "X-Signature", "github": "X-Hub-Signature-256", "nexus": "X-Nexus-Webhook-Signature",
           "bitbucket": "X-Hub-Signature"}


@dataclass(frozen=True)
class ReceiverHook:
    """A registry notification endpoint that calls a Receiver (headers never shown)."""

    namespace: str
    name: str
    receiver_type: str
    url: str

    @property
    def endpoint_name(self) -> str:
        return endpoint_name(self.namespace, self.name)

    def to_dict(self) -> dict[str, str]:
        return {"receiver": f"{self.namespace}/{self.name}", "type": self.receiver_type, "url": self.url}


def endpoint_name(namespace: str, name: str) -> str:
    return f"{PREFIX}{namespace}.{name}"


def parse_receiver(ref: str, default_namespace: str = "flux-system") -> tuple[str, str]:
    """``NS/NAME`` or ``NAME`` (in ``default_namespace``)."""
    namespace, _, name = ref.rpartition("/")
    if not name or "/" in namespace:
        raise InputError(f"invalid Receiver reference {ref!r}: use NAMESPACE/NAME or NAME")
    return namespace or default_namespace, name


def headers_for(receiver_type: str, events: list[str], token: str, ref: str) -> dict[str, str]:
    """The headers a registry request needs for a Receiver of ``receiver_type``; InputError for types the
    registry cannot satisfy, saying what would work."""
    if receiver_type in _PLAIN_TYPES:
        return {}
    if receiver_type == "gitlab" and events:
        raise InputError(f"Receiver {ref} (type gitlab) lists spec.events {events}: the registry sends no "
                         "X-Gitlab-Event header, so every call would be refused; remove spec.events or use a "
                         "Receiver of type harbor or generic")
    if receiver_type in _HEADER_TYPES:
        return {_HEADER_TYPES[receiver_type]: token}
    if receiver_type in _SIGNED:
        raise InputError(f"Receiver {ref} has type {receiver_type}, which needs an HMAC signature of each body "
                         f"({_SIGNED[receiver_type]}); the registry cannot sign its notifications. Use a Receiver "
                         "of type harbor (a token header) or generic for registry pushes")
    raise InputError(f"Receiver {ref} has type {receiver_type!r}, which registry notifications cannot satisfy; "
                     "use a Receiver of type harbor or generic")


def _token(kube: KubeClient, namespace: str, secret_name: str, ref: str) -> str:
    try:
        secret = kube.get("v1", "Secret", secret_name, namespace)
    except NotFound as err:
        raise InputError(f"Receiver {ref}: its secretRef {namespace}/{secret_name} does not exist") from err
    raw = (secret.get("data") or {}).get("token")
    if not raw:
        raise InputError(f"Receiver {ref}: Secret {namespace}/{secret_name} has no 'token' key")
    # The value as notification-controller reads it (no trimming): the header must equal it byte for byte.
    return base64.b64decode(raw).decode()


def registry_can_reach_receivers(state: StateDir) -> tuple[bool, str]:
    """Whether the sandbox's registry can call the receiver server (which listens on 127.0.0.1 only); else why."""
    backend = str((state.read_record().get(COMPONENT) or {}).get("backend", "local"))
    if backend == "container":
        return False, ("the sandbox registry runs in a container (--registry container): it cannot reach the "
                       "reconciler's webhook receiver, which listens on this machine's 127.0.0.1 only; start the "
                       "sandbox with `--registry local` for registry webhooks")
    return True, ""


def receiver_base_url(state: StateDir) -> str:
    url = (state.read_record().get("reconciler") or {}).get("receiver")
    if not url:
        raise InputError(f"sandbox {state.name!r} runs no webhook receiver (started with --no-reconciler?); "
                         "registry notifications have nowhere to go")
    return str(url).rstrip("/")


def connect(state: StateDir, kube: KubeClient, namespace: str, name: str, *,
            timeout: float = 30.0) -> ReceiverHook:
    """Send the registry's image pushes to Receiver ``namespace/name`` (replacing an earlier hook to it)."""
    ref = f"{namespace}/{name}"
    reachable, why = registry_can_reach_receivers(state)
    if not reachable:
        raise InputError(f"cannot send registry pushes to Receiver {ref}: {why}")
    try:
        receiver = kube.get(RECEIVER_API, "Receiver", name, namespace)
    except NotFound as err:
        raise InputError(f"Receiver {ref} does not exist; create it first (kind Receiver, "
                         f"{RECEIVER_API}) with the ImageRepositories to scan in spec.resources") from err
    spec, status = receiver.get("spec") or {}, receiver.get("status") or {}
    path = status.get("webhookPath")
    if not path:
        raise InputError(f"Receiver {ref} has no status.webhookPath yet: is it Ready? "
                         f"(`kubectl -n {namespace} get receiver {name}`)")
    receiver_type = str(spec.get("type") or "generic")
    if receiver_type == "generic-oidc":
        raise InputError(f"Receiver {ref} has type generic-oidc, which needs an OIDC ID token from its issuer on "
                         "each call; the registry cannot obtain one. Use a Receiver of type harbor (a token header) "
                         "or generic for registry pushes")
    token = _token(kube, namespace, str((spec.get("secretRef") or {}).get("name", "")), ref)
    headers = headers_for(receiver_type, list(spec.get("events") or []), token, ref)
    url = receiver_base_url(state) + str(path)
    endpoint = NotificationEndpoint(url=url, name=endpoint_name(namespace, name), headers=headers,
                                    ignored_actions=IGNORED_ACTIONS, ignored_media_types=IGNORED_MEDIA_TYPES)
    others = [e for e in notifications.endpoints(state) if e.name != endpoint.name]
    notifications.configure(state, [*others, endpoint], timeout=timeout)
    return ReceiverHook(namespace, name, receiver_type, url)


def disconnect(state: StateDir, namespace: str, name: str, *, timeout: float = 30.0) -> None:
    """Stop sending the registry's pushes to Receiver ``namespace/name``; NotFound when no hook goes there."""
    current = notifications.endpoints(state)
    kept = [e for e in current if e.name != endpoint_name(namespace, name)]
    if len(kept) == len(current):
        raise NotFound(f"no registry hook sends pushes to Receiver {namespace}/{name}; list them with "
                       "`sandbox registry hook list`", status=404)
    notifications.configure(state, kept, timeout=timeout)


def hooks(state: StateDir, kube: KubeClient | None = None) -> list[ReceiverHook]:
    """The registry hooks that call Receivers (their type read from the cluster when ``kube`` is given)."""
    found = []
    for endpoint in notifications.endpoints(state):
        if not endpoint.name.startswith(PREFIX):
            continue
        namespace, _, name = endpoint.name[len(PREFIX):].partition(".")
        receiver_type = "?"
        if kube is not None:
            try:
                receiver_type = str((kube.get(RECEIVER_API, "Receiver", name, namespace).get("spec") or {})
                                    .get("type") or "generic")
            except NotFound:
                receiver_type = "(Receiver gone)"
        found.append(ReceiverHook(namespace, name, receiver_type, endpoint.url))
    return found
