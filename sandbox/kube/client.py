"""A small typed Kubernetes client over plain dicts: get/list/watch/create/apply/patch/delete.

Everything else in the project talks to the cluster through this module, so that controllers can be tested
against a fake of this seam and third-party types never leak across layers.
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from sandbox.errors import APIError, Conflict, Forbidden, Gone, InputError, NotFound
from sandbox.kube.kubeconfig import Connection, load

Obj = dict[str, Any]

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class ResourceInfo:
    api_version: str
    kind: str
    plural: str
    namespaced: bool


@dataclass(frozen=True)
class ObjectList:
    items: list[Obj]
    resource_version: str


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: Obj


def ref(obj: Obj) -> str:
    """``Kind/namespace/name`` (or ``Kind/name``) of an object, for messages."""
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{obj.get('kind', '?')}/{namespace}/{name}" if namespace else f"{obj.get('kind', '?')}/{name}"


class Watch:
    """An open watch stream; iterate for events, ``close()`` from any thread to end it."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()
        try:
            shutdown = getattr(self._response, "shutdown", None)
            if shutdown is not None:
                shutdown()
        except Exception:
            pass
        self._response.release_conn()

    def __iter__(self) -> Iterator[WatchEvent]:
        buffer = b""
        try:
            for chunk in self._response.stream(65536, decode_content=True):
                if self._closed.is_set():
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind = event.get("type", "")
                    obj = event.get("object", {})
                    if kind == "ERROR":
                        code = int(obj.get("code", 0))
                        message = obj.get("message", "")
                        if code == 410:
                            raise Gone(f"watch expired: {message}", status=410, reason="Expired")
                        raise APIError(f"watch error {code}: {message}", status=code, reason=obj.get("reason", ""))
                    yield WatchEvent(kind, obj)
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, OSError, ValueError) as err:
            if self._closed.is_set():
                return
            raise APIError(f"watch stream broke: {err}") from err
        finally:
            self._response.release_conn()


class KubeClient:
    """HTTP client for one cluster. Thread-safe; share one per process."""

    def __init__(self, connection: Connection, *, pool_size: int = 32, timeout: float = 30.0,
                 user_agent: str = "gitops-sandbox") -> None:
        if not connection.server:
            raise InputError("kubeconfig names no server URL")
        self.connection = connection
        self.server = connection.server
        self._timeout = timeout
        kwargs: dict[str, Any] = {"maxsize": pool_size, "block": False, "retries": False}
        if self.server.startswith("https://"):
            kwargs["ssl_context"] = connection.ssl_context()
        self._pool = urllib3.PoolManager(**kwargs)
        self._headers = urllib3.HTTPHeaderDict({"User-Agent": user_agent, "Accept": "application/json"})
        if connection.token:
            self._headers["Authorization"] = f"Bearer {connection.token}"
        self.impersonated: str | None = None
        if connection.impersonate:
            self._impersonate(connection.impersonate, connection.impersonate_groups)
        self._resources: dict[tuple[str, str], ResourceInfo] = {}
        self._discovered: set[str] = set()
        self._lock = threading.Lock()

    def _impersonate(self, user: str, groups: tuple[str, ...]) -> None:
        for header in ("Impersonate-User", "Impersonate-Group"):
            self._headers.discard(header)
        self._headers["Impersonate-User"] = user
        for group in groups:
            self._headers.add("Impersonate-Group", group)  # one header per group, as the API server reads them
        self.impersonated = user

    def impersonating(self, user: str, groups: tuple[str, ...] = ()) -> KubeClient:
        """A client sharing this one's connections and discovery that acts as ``user`` (and ``groups``): every
        request carries Impersonate-User/Impersonate-Group headers, so the API server authorizes it as them."""
        other = copy.copy(self)
        other._headers = urllib3.HTTPHeaderDict(self._headers)
        other._impersonate(user, groups)
        return other

    @classmethod
    def from_kubeconfig(cls, path: Path, context: str | None = None, **kwargs: Any) -> KubeClient:
        return cls(load(path, context), **kwargs)

    # --- raw ------------------------------------------------------------------------------------------------
    def _url(self, path: str, query: dict[str, Any] | None) -> str:
        url = self.server + path
        if query:
            clean = {k: v for k, v in query.items() if v is not None and v != ""}
            if clean:
                url += "?" + urllib.parse.urlencode(clean)
        return url

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json", timeout: float | None = None, what: str = "") -> Any:
        headers = urllib3.HTTPHeaderDict(self._headers)
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            response = self._pool.request(method, self._url(path, query), body=data, headers=headers,
                                          timeout=urllib3.Timeout(connect=5.0, read=timeout or self._timeout),
                                          preload_content=True)
        except urllib3.exceptions.HTTPError as err:
            raise APIError(f"cannot reach the Kubernetes API at {self.server} ({method} {path}): {err}; "
                           "is the sandbox up? (`sandbox status`)") from err
        if response.status >= 400:
            raise self._error(response.status, response.data, method, path, what)
        if not response.data:
            return {}
        if "json" not in response.headers.get("Content-Type", "json"):
            return response.data.decode(errors="replace")
        return json.loads(response.data)

    @staticmethod
    def _error(status: int, payload: bytes, method: str, path: str, what: str) -> APIError:
        message, reason = "", ""
        try:
            decoded = json.loads(payload)
            message = decoded.get("message", "")
            reason = decoded.get("reason", "")
        except (ValueError, AttributeError):
            message = payload[:300].decode(errors="replace")
        subject = what or f"{method} {path}"
        text = f"{subject}: {message or reason or 'HTTP ' + str(status)}"
        if status == 404:
            return NotFound(text, status=status, reason=reason)
        if status == 403:
            return Forbidden(text, status=status, reason=reason)
        if status == 409:
            return Conflict(text, status=status, reason=reason)
        if status == 410:
            return Gone(text, status=status, reason=reason)
        return APIError(text, status=status, reason=reason)

    # --- discovery -----------------------------------------------------------------------------------------
    def _discover(self, api_version: str) -> None:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            data = self.request("GET", path)
        except NotFound:
            data = {"resources": []}
        with self._lock:
            for item in data.get("resources", []):
                if "/" in item["name"]:
                    continue
                self._resources[(api_version, item["kind"])] = ResourceInfo(
                    api_version, item["kind"], item["name"], bool(item.get("namespaced")))
            self._discovered.add(api_version)

    def resource(self, api_version: str, kind: str) -> ResourceInfo:
        key = (api_version, kind)
        info = self._resources.get(key)
        if info is None:
            self._discover(api_version)  # refresh: a CRD may have been installed since
            info = self._resources.get(key)
        if info is None:
            raise NotFound(f"the cluster has no resource kind {kind} in {api_version}; is its CRD installed?",
                           status=404, reason="NoKindMatch")
        return info

    def path(self, api_version: str, kind: str, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        info = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if info.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{info.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base

    def _obj_path(self, obj: Obj, subresource: str | None = None, with_name: bool = True) -> str:
        meta = obj.get("metadata", {})
        info = self.resource(obj["apiVersion"], obj["kind"])
        namespace = meta.get("namespace") or ("default" if info.namespaced else None)
        return self.path(obj["apiVersion"], obj["kind"], namespace, meta.get("name") if with_name else None,
                         subresource)

    # --- verbs ----------------------------------------------------------------------------------------------
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        what = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
        result: Obj = self.request("GET", self.path(api_version, kind, namespace, name), what=what)
        return result

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return self.get(api_version, kind, name, namespace)
        except NotFound:
            return None

    def list(self, api_version: str, kind: str, namespace: str | None = None, *, label_selector: str = "",
             field_selector: str = "") -> ObjectList:
        data = self.request("GET", self.path(api_version, kind, namespace),
                            query={"labelSelector": label_selector, "fieldSelector": field_selector})
        items = data.get("items", [])
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return ObjectList(items, data.get("metadata", {}).get("resourceVersion", ""))

    def watch(self, api_version: str, kind: str, namespace: str | None = None, *, resource_version: str = "",
              label_selector: str = "", field_selector: str = "", timeout_seconds: int = 300) -> Watch:
        query = {"watch": "true", "allowWatchBookmarks": "true", "resourceVersion": resource_version,
                 "labelSelector": label_selector, "fieldSelector": field_selector,
                 "timeoutSeconds": str(timeout_seconds)}
        path = self.path(api_version, kind, namespace)
        try:
            response = self._pool.request("GET", self._url(path, query), headers=self._headers,
                                          timeout=urllib3.Timeout(connect=5.0, read=timeout_seconds + 30),
                                          preload_content=False)
        except urllib3.exceptions.HTTPError as err:
            raise APIError(f"cannot reach the Kubernetes API at {self.server} (watch {path}): {err}") from err
        if response.status >= 400:
            payload = response.read()
            response.release_conn()
            raise self._error(response.status, payload, "WATCH", path, "")
        return Watch(response)

    def create(self, obj: Obj) -> Obj:
        result: Obj = self.request("POST", self._obj_path(obj, with_name=False), body=obj, what=ref(obj))
        return result

    def apply(self, obj: Obj, *, field_manager: str, force: bool = True, dry_run: bool = False,
              subresource: str | None = None) -> Obj:
        """Server-side apply ``obj`` (its apiVersion, kind and metadata.name are required)."""
        query = {"fieldManager": field_manager, "force": "true" if force else None,
                 "dryRun": "All" if dry_run else None}
        result: Obj = self.request("PATCH", self._obj_path(obj, subresource), query=query,
                                   body=json.dumps(obj).encode(), content_type=PATCH_TYPES["apply"], what=ref(obj))
        return result

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: Any, *,
              patch_type: str = "merge", subresource: str | None = None, field_manager: str | None = None) -> Obj:
        what = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
        result: Obj = self.request("PATCH", self.path(api_version, kind, namespace, name, subresource),
                                   query={"fieldManager": field_manager}, body=patch,
                                   content_type=PATCH_TYPES[patch_type], what=what)
        return result

    def patch_status(self, obj: Obj, status: Obj, *, field_manager: str | None = None) -> Obj:
        meta = obj["metadata"]
        return self.patch(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), {"status": status},
                          subresource="status", field_manager=field_manager)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
               propagation: str = "Background", grace_period_seconds: int | None = None,
               missing_ok: bool = True, preconditions: Obj | None = None) -> bool:
        """Delete an object; return False if it was already gone (and ``missing_ok``)."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            body["preconditions"] = preconditions
        what = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
        try:
            self.request("DELETE", self.path(api_version, kind, namespace, name), body=body, what=what)
        except NotFound:
            if not missing_ok:
                raise
            return False
        return True

    def healthy(self) -> bool:
        try:
            return bool(self.request("GET", "/readyz", timeout=2) == "ok")
        except APIError:
            return False
