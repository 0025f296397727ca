"""Send the events controllers record to the Providers of the Alerts that select them, without ever blocking
reconciliation: the event recorder's listener only puts the event on a bounded queue (full → the event is dropped
with a log line); a worker rate-limits it (``ratelimit``), matches it against the Alerts (``alerts``), and hands
each request to a sender thread of its own (at most ``max_pending`` in flight, as upstream starts a goroutine per
notification: a Provider that is down never delays another's) that retries a failing Provider with back-off
until its ``timeout`` (15s by default) runs out, then drops the event with a log line. Each outcome is also a line
of the alert log (``alertlog``) when one is given. Secret values never reach a log line."""

from __future__ import annotations

import base64
import logging
import queue
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import yaml

from sandbox.errors import InputError, NotSupported, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.notification import alerts as matching
from sandbox.reconciler.notification import githubapp, providers
from sandbox.reconciler.notification.alertlog import AlertLog, Outcome, involved_of
from sandbox.reconciler.notification.event import cleanup_metadata, flux_event, with_metadata
from sandbox.reconciler.notification.providers.base import Request, Settings
from sandbox.reconciler.notification.ratelimit import RateLimiter, event_key
from sandbox.reconciler.runtime.events import Event
from sandbox.reconciler.runtime.timeutil import parse_duration
from sandbox.reconciler.support import unsupported_fields_set

log = logging.getLogger("sandbox.reconciler.notification")

Obj = dict[str, Any]
DEFAULT_TIMEOUT = 15.0
FIRST_RETRY = 0.25
MAX_RETRY = 4.0


@dataclass(frozen=True)
class Delivery:
    provider: str  # namespace/name, for log lines
    request: Request
    timeout: float
    ca: bytes | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)  # masked in log lines
    alert: str = ""  # namespace/name of the Alert that selected the event
    provider_type: str = ""


def _secret_data(kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
    secret = kube.get("v1", "Secret", name, namespace)
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def settings_of(kube: KubeClient, provider: Obj) -> tuple[Settings, bytes | None]:
    """The Provider's settings with its secretRef (``address``, ``token``, ``username``, ``password``, ``headers``
    as YAML) and certSecretRef (``ca.crt``, or the older ``caFile``) read, as upstream's event handler does."""
    spec, meta = provider.get("spec") or {}, provider["metadata"]
    namespace = str(meta.get("namespace"))
    address, username = str(spec.get("address") or ""), str(spec.get("username") or "")
    token = password = ""
    headers: dict[str, str] = {}
    if (spec.get("secretRef") or {}).get("name"):
        name = str(spec["secretRef"]["name"])
        data = _secret_data(kube, namespace, name)
        refused = githubapp.message_for(provider, data)
        if refused:
            raise NotSupported(refused)
        address = data.get("address", address).strip() or address
        token, password = data.get("token", "").strip(), data.get("password", "")
        username = data.get("username", username)
        if "headers" in data:
            try:
                loaded = yaml.safe_load(data["headers"]) or {}
            except yaml.YAMLError as err:
                raise InputError(f"Secret {namespace}/{name}: `headers` is not a YAML map of strings") from err
            if not isinstance(loaded, dict):
                raise InputError(f"Secret {namespace}/{name}: `headers` is not a YAML map of strings")
            headers = {str(k): str(v) for k, v in loaded.items()}
    ca = None
    if (spec.get("certSecretRef") or {}).get("name"):
        name = str(spec["certSecretRef"]["name"])
        data = _secret_data(kube, namespace, name)
        pem = data.get("ca.crt") or data.get("caFile")
        if not pem:
            raise InputError(f"Secret {namespace}/{name}: no `ca.crt` key for the Provider's certSecretRef")
        ca = pem.encode()
    if not address:
        raise InputError(f"Provider {namespace}/{meta.get('name')} has no address: set spec.address or `address` "
                         f"in its secretRef Secret")
    return Settings(str(spec.get("type")), address, str(spec.get("channel") or ""), username, token, password,
                    headers), ca


def timeout_of(provider: Obj) -> float:
    value = (provider.get("spec") or {}).get("timeout")
    return parse_duration(str(value), field="spec.timeout") if value else DEFAULT_TIMEOUT


def post(delivery: Delivery, *, stop: threading.Event | None = None,
         on_retry: Callable[[int, str], None] | None = None) -> None:
    """POST with retries and back-off until the delivery's timeout; raises SandboxError when it never succeeded.
    ``on_retry(attempt, masked problem)`` is told of each failed attempt that is retried."""
    deadline = time.monotonic() + delivery.timeout
    context = ssl.create_default_context(cadata=delivery.ca.decode()) if delivery.ca else None
    wait, attempt = FIRST_RETRY, 0
    while True:
        attempt += 1
        try:
            left = max(0.1, deadline - time.monotonic())
            _attempt(delivery.request, left, context)
            return
        except urllib.error.HTTPError as err:
            problem = f"request failed with status code {err.code}"
            if err.code < 500 and err.code != 429:
                raise SandboxError(f"{problem}; not retried") from None
        except (urllib.error.URLError, OSError) as err:
            problem = f"request failed: {getattr(err, 'reason', err)}"
        if time.monotonic() + wait >= deadline or (stop is not None and stop.is_set()):
            raise SandboxError(f"{problem} (after {attempt} attempts)")
        log.warning("sending to Provider %s failed (%s): retrying in %.2fs (attempt %d)", delivery.provider,
                    _mask(problem, delivery.secrets), wait, attempt)
        if on_retry is not None:
            on_retry(attempt, _mask(problem, delivery.secrets))
        if stop is not None:
            stop.wait(wait)
        else:
            time.sleep(wait)
        wait = min(wait * 2, MAX_RETRY)


def _attempt(request: Request, timeout: float, context: ssl.SSLContext | None) -> bool:
    """One try: the check (when the request has one), then the POST unless the check found it a duplicate (False);
    or the request's own exchange of calls (pull-request comments)."""
    if request.exchange is not None:
        request.exchange(lambda method, url, body: _call(request, method, url, body, timeout, context))
        return True
    if request.check_url and request.duplicate is not None:
        check = urllib.request.Request(request.check_url, headers=request.headers, method="GET")
        with urllib.request.urlopen(check, timeout=timeout, context=context) as response:
            if request.duplicate(response.read()):
                return False
    post_request = urllib.request.Request(request.url, data=request.body, headers=request.headers, method="POST")
    with urllib.request.urlopen(post_request, timeout=timeout, context=context) as response:
        response.read()
    return True


def _call(request: Request, method: str, url: str, body: bytes | None, timeout: float,
          context: ssl.SSLContext | None) -> bytes:
    call = urllib.request.Request(url, data=body, headers=request.headers, method=method)
    with urllib.request.urlopen(call, timeout=timeout, context=context) as response:
        data: bytes = response.read()
    return data


def _mask(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "*****")
    return text


class Dispatcher:
    """The event recorder's listener (``listen``) and the workers behind it."""

    def __init__(self, kube: KubeClient, alerts: Callable[[], list[Obj]],
                 provider: Callable[[str, str], Obj | None], *, stop: threading.Event,
                 rate_limit: RateLimiter | None = None, queue_size: int = 1024,
                 max_pending: int = 256, alert_log: AlertLog | None = None) -> None:
        self.kube = kube
        self.alert_log = alert_log
        self._alerts = alerts
        self._provider = provider
        self._stop = stop
        self._limiter = rate_limit or RateLimiter()
        self._queue: queue.Queue[Obj] = queue.Queue(maxsize=queue_size)
        # Threads are started on demand, one per delivery in flight: a dead Provider holds only its own.
        self._senders = ThreadPoolExecutor(max_workers=max_pending, thread_name_prefix="notify-send")
        self._pending = threading.BoundedSemaphore(max_pending)
        self._thread: threading.Thread | None = None

    def listen(self, event: Event) -> None:
        """The event recorder's listener: queue the event, never wait."""
        self.submit(flux_event(event))

    def submit(self, body: Obj) -> bool:
        """Queue an eventv1.Event JSON object whose metadata is cleaned already; False when the queue is full (the
        event is dropped with a log line)."""
        try:
            self._queue.put_nowait(body)
            return True
        except queue.Full:
            involved = body.get("involvedObject") or {}
            log.warning("notification queue full: event %s of %s/%s dropped", body.get("reason"),
                        involved.get("kind"), involved.get("name"))
            self._outcome(body, "dropped", detail="the notification queue is full")
            return False

    def submit_upstream(self, body: Obj) -> bool:
        """Queue an event as an upstream controller POSTs it to notification-controller's event server (metadata
        keys prefixed with the object's API group): cleaned as that server does."""
        metadata = cleanup_metadata(body.get("involvedObject") or {},
                                    {str(k): str(v) for k, v in (body.get("metadata") or {}).items()})
        return self.submit(with_metadata({**body, "reportingController": body.get("reportingController") or ""},
                                         metadata))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="notify-dispatch", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._senders.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                body = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.handle(body)
            except Exception:  # one bad event must not end dispatching
                log.exception("dispatching event %s failed", body.get("reason"))

    def _involved(self, body: Obj) -> Obj:
        involved = body["involvedObject"]
        try:
            found = self.kube.get_or_none(str(involved.get("apiVersion")), str(involved.get("kind")),
                                          str(involved.get("name")), involved.get("namespace"))
        except SandboxError:
            found = None
        return (found or {}).get("metadata") or {}

    def deliveries(self, event: Event | Obj) -> list[Delivery]:
        """The requests an event (a recorded one, or an eventv1.Event JSON object with cleaned metadata) makes:
        none when rate-limited or when no Alert selects it."""
        body = flux_event(event) if isinstance(event, Event) else event
        allowed = self._limiter.allow(event_key(body))
        if not allowed:
            log.debug("Discarding event, rate limiting duplicate events: %s", body.get("reason"))
            if self.alert_log is None:
                return []  # else go on, to log which Alerts it was dropped for
        cache: list[Obj] = []

        def meta() -> Obj:
            if not cache:
                cache.append(self._involved(body))
            return cache[0]

        def labels() -> dict[str, str]:
            return dict(meta().get("labels") or {})

        result = []
        for alert in self._alerts():
            if unsupported_fields_set(alert) or not matching.alert_matches(alert, body, labels):
                continue
            alert_meta = alert["metadata"]
            namespace = str(alert_meta.get("namespace"))
            ref = str(((alert.get("spec") or {}).get("providerRef") or {}).get("name", ""))
            provider = self._provider(namespace, ref)
            label = f"{namespace}/{ref}"
            if provider is None:
                log.error("failed to read provider %s of Alert %s/%s: not found", label, namespace,
                          alert_meta.get("name"))
                continue
            spec = provider.get("spec") or {}
            if spec.get("suspend") or unsupported_fields_set(provider):
                continue
            alert_label = f"{namespace}/{alert_meta.get('name')}"
            secrets: tuple[str, ...] = (str(spec.get("address") or ""),)  # an address may hold a token
            try:
                if not providers.sends(str(spec.get("type")), body, dict(meta().get("annotations") or {})):
                    continue
                if not allowed:
                    self._outcome(body, "dropped", label, str(spec.get("type")), alert_label,
                                  detail="a duplicate of an event sent less than the rate-limit interval ago")
                    continue
                settings, ca = settings_of(self.kube, provider)
                secrets = (settings.token, settings.password, *settings.headers.values(), settings.address)
                metadata = matching.metadata_for(alert, body, dict(meta().get("annotations") or {}))
                request = providers.build(settings, with_metadata(body, metadata),
                                          str(provider["metadata"].get("uid", "")))
                if request is not None:
                    result.append(Delivery(label, request, timeout_of(provider), ca, secrets, alert_label,
                                           str(spec.get("type"))))
            except SandboxError as err:
                log.error("failed to initialize provider %s: %s", label, _mask(str(err), secrets))
                self._outcome(body, "failed", label, str(spec.get("type")), alert_label,
                              detail=f"failed to initialize provider: {err}", secrets=secrets)
        return result

    def handle(self, body: Obj) -> None:
        for delivery in self.deliveries(body):
            if not self._pending.acquire(blocking=False):
                log.warning("too many notifications in flight: event %s to Provider %s dropped", body.get("reason"),
                            delivery.provider)
                self._delivery_outcome(delivery, body, "dropped", detail="too many notifications in flight")
                continue
            self._senders.submit(self._send, delivery, body)

    def _send(self, delivery: Delivery, body: Obj) -> None:
        involved = body.get("involvedObject") or {}
        what = f"{involved.get('kind')}/{involved.get('namespace')}/{involved.get('name')}"
        try:
            post(delivery, stop=self._stop, on_retry=lambda attempt, problem: self._delivery_outcome(
                delivery, body, "retrying", attempt=attempt, detail=problem))
            log.info("Dispatched event %s of %s to Provider %s", body.get("reason"), what, delivery.provider)
            self._delivery_outcome(delivery, body, "sent")
        except SandboxError as err:
            log.error("failed to send notification of %s to Provider %s, dropped: %s", what, delivery.provider,
                      _mask(str(err), delivery.secrets))
            self._delivery_outcome(delivery, body, "failed", detail=_mask(str(err), delivery.secrets))
        finally:
            self._pending.release()

    def _delivery_outcome(self, delivery: Delivery, body: Obj, outcome: str, *, attempt: int = 0,
                          detail: str = "") -> None:
        self._outcome(body, outcome, delivery.provider, delivery.provider_type, delivery.alert, attempt=attempt,
                      detail=detail, secrets=delivery.secrets)

    def _outcome(self, body: Obj, outcome: str, provider: str = "", provider_type: str = "", alert: str = "", *,
                 attempt: int = 0, detail: str = "", secrets: tuple[str, ...] = ()) -> None:
        """One line of the alert log (when there is one), its texts masked with the Provider's secrets."""
        if self.alert_log is None:
            return
        self.alert_log.write(Outcome(
            outcome, involved_of(body), str(body.get("severity") or ""), str(body.get("reason") or ""),
            _mask(str(body.get("message") or ""), secrets), provider, provider_type, (alert,) if alert else (),
            attempt, _mask(detail, secrets)))
