"""List+watch one kind into a local cache and report changes: resume from resourceVersion, relist on 410 Gone,
reconnect with back-off when the apiserver goes away."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sandbox.errors import APIError, Gone
from sandbox.kube.client import KubeClient, Watch

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]  # (event type ADDED|MODIFIED|DELETED, object)


def object_key(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


class Informer:
    def __init__(self, client: KubeClient, api_version: str, kind: str, handler: Handler, *,
                 namespace: str | None = None, label_selector: str = "", field_selector: str = "",
                 stop: threading.Event | None = None, watch_timeout: int = 240) -> None:
        self.client = client
        self.api_version = api_version
        self.kind = kind
        self.handler = handler
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.stop_event = stop or threading.Event()
        self.watch_timeout = watch_timeout
        self.cache: dict[str, Obj] = {}
        self.synced = threading.Event()
        self.lock = threading.Lock()
        self.relists = 0
        self._watch: Watch | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name=f"informer-{self.kind}", daemon=True)
        self._thread.start()
        return self._thread

    @property
    def started(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        self.stop_event.set()
        watch = self._watch
        if watch is not None:
            watch.close()

    def get(self, key: str) -> Obj | None:
        with self.lock:
            return self.cache.get(key)

    def items(self) -> list[Obj]:
        with self.lock:
            return list(self.cache.values())

    def _emit(self, kind: str, obj: Obj) -> None:
        try:
            self.handler(kind, obj)
        except Exception:  # a bad handler must not kill the informer
            log.exception("handler for %s %s failed", self.kind, object_key(obj))

    def _relist(self) -> str:
        listed = self.client.list(self.api_version, self.kind, self.namespace, label_selector=self.label_selector,
                                  field_selector=self.field_selector)
        fresh = {object_key(o): o for o in listed.items}
        with self.lock:
            old = self.cache
            self.cache = fresh
        self.relists += 1
        for key, obj in old.items():
            if key not in fresh:
                self._emit("DELETED", obj)
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None:
                self._emit("ADDED", obj)
            elif before["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit("MODIFIED", obj)
        self.synced.set()
        return listed.resource_version

    def run(self) -> None:
        resource_version = ""
        backoff = 0.1
        while not self.stop_event.is_set():
            try:
                if not resource_version:
                    resource_version = self._relist()
                self._watch = self.client.watch(self.api_version, self.kind, self.namespace,
                                                resource_version=resource_version,
                                                label_selector=self.label_selector,
                                                field_selector=self.field_selector,
                                                timeout_seconds=self.watch_timeout)
                for event in self._watch:
                    if self.stop_event.is_set():
                        return
                    obj = event.object
                    version = obj.get("metadata", {}).get("resourceVersion")
                    if version:
                        resource_version = version
                    if event.type == "BOOKMARK":
                        continue
                    obj.setdefault("apiVersion", self.api_version)
                    obj.setdefault("kind", self.kind)
                    key = object_key(obj)
                    with self.lock:
                        if event.type == "DELETED":
                            self.cache.pop(key, None)
                        else:
                            self.cache[key] = obj
                    self._emit(event.type, obj)
                backoff = 0.1
            except Gone:
                log.info("%s watch expired; relisting", self.kind)
                resource_version = ""
            except APIError as err:
                if self.stop_event.is_set():
                    return
                log.warning("%s watch failed (%s); retrying in %.1fs", self.kind, err, backoff)
                if self.stop_event.wait(backoff):
                    return
                backoff = min(backoff * 2, 5.0)
                # after an outage, resume from the last version; a 410 then triggers a relist
            finally:
                self._watch = None
