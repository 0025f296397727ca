"""Receiver: compute and publish the webhook path, and serve ``/hook/<digest>``: a verified call annotates the
listed resources with ``reconcile.fluxcd.io/requestedAt`` so they reconcile at once."""

from __future__ import annotations

import base64
import http.server
import logging
import threading
from typing import Any

from sandbox.errors import APIError, InputError, NotFound, SandboxError
from sandbox.httpserve import LoopbackServer
from sandbox.kube.client import KubeClient
from sandbox.reconciler.notification import oidc, resourcefilter
from sandbox.reconciler.notification.webhook import Verdict, verify, webhook_path
from sandbox.reconciler.runtime import cel
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import REQUESTED_AT, Context, Result
from sandbox.reconciler.runtime.events import WARNING
from sandbox.reconciler.runtime.timeutil import parse_duration, rfc3339_nano
from sandbox.reconciler.unsupported import refuse_unsupported_fields

log = logging.getLogger(__name__)

Obj = dict[str, Any]
API_VERSION = "notification.toolkit.fluxcd.io/v1"
KIND = "Receiver"
MAX_BODY = 1 << 20
DEFAULT_INTERVAL = "10m"
OIDC_TYPE = "generic-oidc"
TERMINAL_ERROR_MESSAGE = "Reconciliation failed terminally due to configuration error"


class AnnotateError(SandboxError):
    """A listed resource could not be found, filtered or annotated: the request fails with 500 as upstream's."""


def read_token(kube: KubeClient, namespace: str, secret_name: str) -> str:
    try:
        secret = kube.get("v1", "Secret", secret_name, namespace)
    except NotFound as err:
        raise InputError(f"unable to read token from secret '{namespace}/{secret_name}': secret not found") from err
    raw = (secret.get("data") or {}).get("token")
    if not raw:
        raise InputError(f"unable to read token from secret '{namespace}/{secret_name}': no 'token' key")
    return base64.b64decode(raw).decode()  # as is, as notification-controller: a trailing newline is part of it


class ReceiverIndex:
    """webhook path -> (namespace, name), kept current by the Receiver reconciler."""

    def __init__(self) -> None:
        self._paths: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def set(self, path: str, namespace: str, name: str) -> None:
        with self._lock:
            for existing, owner in list(self._paths.items()):
                if owner == (namespace, name) and existing != path:
                    del self._paths[existing]
            self._paths[path] = (namespace, name)

    def drop(self, namespace: str, name: str) -> None:
        with self._lock:
            for path, owner in list(self._paths.items()):
                if owner == (namespace, name):
                    del self._paths[path]

    def lookup(self, path: str) -> tuple[str, str] | None:
        with self._lock:
            return self._paths.get(path)


class ReceiverReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = "notification-controller"
    status_manager = "gotk-notification-controller"

    def __init__(self, index: ReceiverIndex) -> None:
        self.index = index

    def resource_info(self, obj: Obj) -> dict[str, str]:
        return {"url": obj.get("status", {}).get("webhookPath", "")}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        self.index.drop(obj["metadata"]["namespace"], obj["metadata"]["name"])

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            self.index.drop(obj["metadata"]["namespace"], obj["metadata"]["name"])
            return refused
        meta, spec = obj["metadata"], obj.get("spec", {})
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        interval = parse_duration(spec.get("interval") or DEFAULT_INTERVAL, field="spec.interval")
        shape = spec_problem(spec)
        if shape:
            return self._stall(obj, ctx, status, cond.FAILED, f"{TERMINAL_ERROR_MESSAGE}: {shape}")
        try:
            resourcefilter.compile_filters(spec)
            for provider in spec.get("oidcProviders") or []:
                oidc.compile_provider(provider)
        except cel.CELParseError as err:
            return self._stall(obj, ctx, status, cond.INVALID_CEL_EXPRESSION, f"{TERMINAL_ERROR_MESSAGE}: {err}")
        token = ""  # generic-oidc has no secret: its path is salted with an empty token, as upstream's
        if spec.get("type") != OIDC_TYPE:
            try:
                token = read_token(ctx.kube, meta["namespace"], spec.get("secretRef", {}).get("name", ""))
            except InputError as err:
                status["conditions"] = cond.mark_failed(status.get("conditions"), cond.TOKEN_NOT_FOUND, str(err),
                                                        generation)
                status.pop("webhookPath", None)  # as notification-controller clears it: the old path stops working
                ctx.events.record(obj, WARNING, cond.TOKEN_NOT_FOUND, str(err), controller=self.controller_name)
                self.index.drop(meta["namespace"], meta["name"])
                return Result(status, 30.0)
        path = webhook_path(token, meta["name"], meta["namespace"])
        self.index.set(path, meta["namespace"], meta["name"])
        status["webhookPath"] = path
        status["observedGeneration"] = generation
        status["conditions"] = cond.mark_ready(status.get("conditions"), cond.SUCCEEDED,
                                               f"Receiver initialized for path: {path}", generation)
        # Requeued at spec.interval as upstream: a rotated token changes the path at the next reconcile.
        return Result(status, interval)

    def _stall(self, obj: Obj, ctx: Context, status: Obj, reason: str, message: str) -> Result:
        """A configuration error: Stalled, no webhook path, until the spec changes."""
        generation = int(obj["metadata"].get("generation", 1))
        status["conditions"] = cond.mark_failed(status.get("conditions"), reason, message, generation, stalled=True)
        status["observedGeneration"] = generation
        status.pop("webhookPath", None)
        ctx.events.record(obj, WARNING, reason, message, controller=self.controller_name)
        self.index.drop(obj["metadata"]["namespace"], obj["metadata"]["name"])
        return Result(status, None)


def spec_problem(spec: Obj) -> str:
    """The CRD's cross-field rules, which an apiserver without CEL validation (v1.20) cannot enforce."""
    oidc_type = spec.get("type") == OIDC_TYPE
    if oidc_type and not spec.get("oidcProviders"):
        return "generic-oidc receivers must define at least one oidcProvider"
    if not oidc_type and spec.get("oidcProviders"):
        return "oidcProviders can only be set when type is generic-oidc"
    if oidc_type and spec.get("secretRef") is not None:
        return "secretRef cannot be set when type is generic-oidc"
    if not oidc_type and spec.get("secretRef") is None:
        return "secretRef is required when type is not generic-oidc"
    return ""


def annotate_resources(kube: KubeClient, receiver: Obj, req: Obj | None = None,
                       claims: Obj | None = None) -> list[str]:
    """Set requestedAt on every resource the Receiver lists that its filters accept; return their
    ``Kind/ns/name``. As notification-controller: a listed name that does not exist, ``*`` without matchLabels, or
    a filter that fails raise AnnotateError after the other entries are done; ``*`` matching nothing is no error."""
    namespace = receiver["metadata"]["namespace"]
    spec = receiver.get("spec", {})
    filters = resourcefilter.compile_filters(spec)
    stamp = rfc3339_nano()
    touched: list[str] = []
    errors: list[str] = []
    for index, resource in enumerate(spec.get("resources") or []):
        try:
            _annotate_entry(kube, resource, namespace, filters.for_resource(index), req or {}, claims, stamp,
                            touched)
        except (AnnotateError, cel.CELEvaluationError, APIError) as err:
            errors.append(str(err))
    if errors:
        raise AnnotateError("; ".join(errors))
    return touched


def _annotate_entry(kube: KubeClient, resource: Obj, namespace: str, filters: tuple[cel.Expression, ...], req: Obj,
                    claims: Obj | None, stamp: str, touched: list[str]) -> None:
    api_version, kind = resource.get("apiVersion") or _default_api_version(resource["kind"]), resource["kind"]
    target_ns = resource.get("namespace") or namespace
    objects: list[Obj]
    if resource.get("name", "*") == "*":
        labels = resource.get("matchLabels")
        if labels is None:
            raise AnnotateError("matchLabels field not set when using wildcard '*' as name")
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        objects = list(kube.list(api_version, kind, target_ns, label_selector=selector).items)
        if not objects:
            log.info("no '%s' resources found with matching labels %s in '%s' namespace", kind, labels, target_ns)
    else:
        try:
            objects = [kube.get(api_version, kind, resource["name"], target_ns)]
        except NotFound as err:
            raise AnnotateError(f"unable to read {kind} '{target_ns}/{resource['name']}': not found") from err
    for found in objects:
        name = found["metadata"]["name"]
        if filters and not resourcefilter.accepts(filters, found, req, claims):
            log.info("resource '%s/%s.%s' NOT annotated because CEL expression returned false", kind, name,
                     target_ns)
            continue
        kube.patch(api_version, kind, name, target_ns, {"metadata": {"annotations": {REQUESTED_AT: stamp}}})
        touched.append(f"{kind}/{target_ns}/{name}")


_DEFAULT_VERSIONS = {
    "GitRepository": "source.toolkit.fluxcd.io/v1", "OCIRepository": "source.toolkit.fluxcd.io/v1",
    "HelmRepository": "source.toolkit.fluxcd.io/v1", "HelmChart": "source.toolkit.fluxcd.io/v1",
    "Bucket": "source.toolkit.fluxcd.io/v1", "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
    "HelmRelease": "helm.toolkit.fluxcd.io/v2", "ImageRepository": "image.toolkit.fluxcd.io/v1",
}


def _default_api_version(kind: str) -> str:
    return _DEFAULT_VERSIONS.get(kind, "source.toolkit.fluxcd.io/v1")


class ReceiverServer:
    """HTTP server for ``/hook/<digest>`` on loopback."""

    def __init__(self, kube: KubeClient, index: ReceiverIndex, fetch: oidc.Fetch = oidc.http_fetch) -> None:
        self.kube = kube
        self.index = index
        self.fetch = fetch  # how generic-oidc reaches an issuer's discovery document and keys
        self.handled = 0

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        owner = self.index.lookup(path)
        if owner is None:
            return 404, "receiver not found"
        namespace, name = owner
        try:
            receiver = self.kube.get(API_VERSION, KIND, name, namespace)
        except NotFound:
            return 404, "receiver not found"
        spec = receiver.get("spec", {})
        if spec.get("suspend"):
            return 503, "receiver is suspended"
        claims: Obj | None = None
        if spec.get("type") == OIDC_TYPE:
            try:
                claims = oidc.validate(spec, headers, self.fetch)
            except (oidc.OIDCError, cel.CELParseError) as err:
                log.warning("receiver %s/%s: unable to validate payload: %s", namespace, name, err)
                return 400, str(err)
            verdict = Verdict(True, 200, "accepted", trigger=True)
        else:
            try:
                token = read_token(self.kube, namespace, spec.get("secretRef", {}).get("name", ""))
            except InputError as err:
                return 400, f"unable to read token: {err}"
            verdict = verify(spec.get("type", "generic"), list(spec.get("events") or []), headers, body, token)
        if verdict.trigger:
            try:
                req = resourcefilter.request_variable(headers, body)
                touched = annotate_resources(self.kube, receiver, req, claims)
            except (resourcefilter.RequestBodyError, cel.CELParseError) as err:
                log.warning("receiver %s/%s: unable to create CEL evaluator: %s", namespace, name, err)
                return 500, "unable to create CEL evaluator"
            except (AnnotateError, APIError) as err:
                log.warning("receiver %s/%s: unable to request reconciliation: %s", namespace, name, err)
                return 500, "unable to request reconciliation"
            self.handled += 1
            log.info("receiver %s/%s: requested reconciliation of %s", namespace, name, ", ".join(touched) or "none")
        return verdict.status, verdict.message

    def serve(self, port: int) -> LoopbackServer:
        server_self = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._reply(413, "payload too large")
                    return
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, message = server_self.handle(self.path.split("?", 1)[0], headers, body)
                self._reply(status, message)

            def do_GET(self) -> None:
                self._reply(405 if self.path.startswith("/hook/") else 404, "use POST")

            def _reply(self, status: int, message: str) -> None:
                data = (message + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return LoopbackServer(Handler, name="receiver-server", port=port).start()
