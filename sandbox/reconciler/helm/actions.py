"""Helm's actions through the Helm SDK (helm-python-sdk): one ``Config`` per storage namespace, and the actions
on one release serialized (the SDK allows concurrent actions on different releases only).

Everything that fails raises ``ActionError`` carrying Helm's own message."""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from sandbox.errors import NotFound, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.helm import render
from sandbox.reconciler.helm.history import TEST_FAILED, TEST_SUCCEEDED, Release

Obj = dict[str, Any]
WATCHER = "watcher"
LEGACY = "legacy"
STORAGE_DRIVER = "secret"
TEST_HOOK = "test"


class ActionError(SandboxError):
    """A Helm action failed; the message is Helm's."""


def _timeout(seconds: float) -> int:
    return max(1, round(seconds))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _hook_runs(hooks: list[Obj] | None) -> dict[str, Obj | None]:
    """Test hooks of a stored release: name -> last run (lastStarted, lastCompleted, phase), None if never run."""
    found: dict[str, Obj | None] = {}
    for hook in hooks or []:
        events = [str(e).lower() for e in hook.get("events") or []]
        if TEST_HOOK not in events and "test-success" not in events:
            continue
        run = hook.get("last_run") or hook.get("lastRun") or {}
        phase = _text(run.get("phase"))
        if not phase or phase.lower() == "unknown":
            found[str(hook.get("name", ""))] = None
            continue
        phase = {"succeeded": TEST_SUCCEEDED, "failed": TEST_FAILED, "running": "Running"}.get(phase.lower(), phase)
        found[str(hook.get("name", ""))] = {"lastStarted": _text(run.get("started_at") or run.get("startedAt")),
                                            "lastCompleted": _text(run.get("completed_at") or
                                                                   run.get("completedAt")),
                                            "phase": phase}
    return found


def release_of(stored: Obj) -> Release:
    """A ``Release`` from the SDK's ``get_all`` answer."""
    summary = stored.get("summary") or {}
    info = stored.get("info") or {}
    return Release(name=_text(summary.get("name")), namespace=_text(summary.get("namespace")),
                   version=int(summary.get("revision") or summary.get("version") or 0),
                   status=_text(info.get("status") or summary.get("status")),
                   chart_name=_text(summary.get("chart_name")), chart_version=_text(summary.get("chart_version")),
                   app_version=_text(summary.get("app_version")), config=dict(stored.get("config") or {}),
                   manifest=_text(summary.get("manifest")),
                   first_deployed=_text(info.get("first_deployed") or info.get("firstDeployed")),
                   last_deployed=_text(info.get("last_deployed") or info.get("lastDeployed")
                                       or summary.get("deployed_at")),
                   deleted=_text(info.get("deleted")), description=_text(info.get("description")),
                   test_hooks=_hook_runs(stored.get("hooks")))


class Helm:
    """The Helm SDK for the reconciler process: configs by storage namespace, a lock per release."""

    def __init__(self, kube: KubeClient, kubeconfig: Path) -> None:
        self.kube = kube
        self.kubeconfig = kubeconfig
        self._configs: dict[str, helm.Config] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._running: set[helm.HelmContext] = set()
        self._stopping = False

    @contextmanager
    def _cancellable(self) -> Iterator[helm.HelmContext]:
        """A cancellation token for one action, cancelled by ``cancel_all`` (the process stopping)."""
        token = helm.HelmContext()
        with self._guard:
            if self._stopping:
                token.cancel()
            self._running.add(token)
        try:
            yield token
        finally:
            with self._guard:
                self._running.discard(token)
            token.close()

    def cancel_all(self) -> None:
        """Cancel the install and upgrade actions under way and any to come (the process is stopping): Helm
        leaves such a release pending, and the next reconcile unlocks it, as after helm-controller's shutdown."""
        with self._guard:
            self._stopping = True
            for token in self._running:
                token.cancel()

    def config(self, storage_namespace: str) -> helm.Config:
        with self._guard:
            if storage_namespace not in self._configs:
                self._configs[storage_namespace] = helm.Config(kubeconfig_path=self.kubeconfig,
                                                               namespace=storage_namespace,
                                                               storage_driver=STORAGE_DRIVER)
            return self._configs[storage_namespace]

    @contextmanager
    def release_chart(self, storage_namespace: str, chart: helm.Chart, values: Obj, helmrelease: Obj, *,
                      revision: int, upgrade: bool) -> Iterator[helm.Chart]:
        """The chart install/upgrade take: ``chart`` rendered against the cluster and post-rendered
        (``render.release_chart``, the helm-render branch)."""
        with render.release_chart(chart, values, helmrelease, config=self.config(storage_namespace),
                                  revision=revision, upgrade=upgrade) as prepared:
            yield prepared

    @contextmanager
    def locked(self, storage_namespace: str, name: str) -> Iterator[None]:
        """Hold the release's lock: one action at a time on a release."""
        with self._guard:
            lock = self._locks.setdefault((storage_namespace, name), threading.Lock())
        with lock:
            yield

    def close(self) -> None:
        with self._guard:
            for config in self._configs.values():
                config.close()
            self._configs.clear()

    # --- reading storage ------------------------------------------------------------------------------------
    def versions(self, storage_namespace: str, name: str) -> list[Obj]:
        """The release's versions in storage (summaries, oldest first); [] when there is none."""
        try:
            return list(self.config(storage_namespace).history(name))
        except helm.HelmNotFoundError:
            return []
        except helm.HelmError as err:
            raise ActionError(f"failed to retrieve last release from storage: {err}") from err

    def get(self, storage_namespace: str, name: str, version: int) -> Release | None:
        try:
            return release_of(self.config(storage_namespace).get_all(name, revision=version))
        except helm.HelmNotFoundError:
            return None
        except helm.HelmError as err:
            raise ActionError(str(err)) from err

    def last(self, storage_namespace: str, name: str) -> Release | None:
        versions = self.versions(storage_namespace, name)
        if not versions:
            return None
        newest = max(int(v.get("revision") or v.get("version") or 0) for v in versions)
        return self.get(storage_namespace, name, newest)

    # --- actions --------------------------------------------------------------------------------------------
    def install(self, storage_namespace: str, chart: helm.Chart, name: str, values: Obj, *, namespace: str,
                timeout: float, wait: str | None, create_namespace: bool, description: str = "") -> None:
        try:
            with self._cancellable() as token:
                self.config(storage_namespace).install(chart, name, values, context=token, namespace=namespace,
                                                       timeout=_timeout(timeout), wait=wait,
                                                       create_namespace=create_namespace,
                                                       description=description or None)
        except helm.HelmError as err:
            raise ActionError(str(err)) from err

    def upgrade(self, storage_namespace: str, chart: helm.Chart, name: str, values: Obj, *, namespace: str,
                timeout: float, wait: str | None, max_history: int, reuse_values: bool, cleanup_on_fail: bool,
                description: str = "") -> None:
        try:
            with self._cancellable() as token:
                self.config(storage_namespace).upgrade(chart, name, values, context=token, namespace=namespace,
                                                       timeout=_timeout(timeout), wait=wait,
                                                       max_history=max_history, reset_values=not reuse_values,
                                                       reuse_values=reuse_values, cleanup_on_fail=cleanup_on_fail,
                                                       description=description or None)
        except helm.HelmError as err:
            raise ActionError(str(err)) from err

    def render(self, storage_namespace: str, chart: helm.Chart, name: str, values: Obj, *, namespace: str,
               install: bool) -> list[Obj]:
        """The objects the chart renders for the release (cluster-aware: ``lookup`` sees live objects)."""
        try:
            rendered = self.config(storage_namespace).render(chart, values, name=name, namespace=namespace,
                                                             is_install=install, is_upgrade=not install)
        except helm.HelmError as err:
            raise ActionError(str(err)) from err
        objects: list[Obj] = []
        for path in sorted(rendered):
            if "/tests/" in path or path.endswith("NOTES.txt"):
                continue
            for document in yaml.safe_load_all(rendered[path] or ""):
                if isinstance(document, dict) and document.get("kind"):
                    objects.append(document)
        return objects

    def rollback(self, storage_namespace: str, name: str, version: int, *, timeout: float,
                 wait: str | None) -> None:
        try:
            self.config(storage_namespace).rollback(name, version=version, timeout=_timeout(timeout), wait=wait)
        except helm.HelmError as err:
            raise ActionError(str(err)) from err

    def uninstall(self, storage_namespace: str, name: str, *, timeout: float, wait: str | None,
                  keep_history: bool) -> Obj:
        try:
            return dict(self.config(storage_namespace).uninstall(name, keep_history=keep_history,
                                                                 timeout=_timeout(timeout), wait=wait))
        except helm.HelmNotFoundError as err:
            raise ReleaseNotFound(str(err)) from err
        except helm.HelmError as err:
            raise ActionError(str(err)) from err

    def test(self, storage_namespace: str, name: str, *, timeout: float, include: list[str],
             exclude: list[str]) -> None:
        try:
            self.config(storage_namespace).test(name, timeout=_timeout(timeout), include_names=include or None,
                                                exclude_names=exclude or None)
        except helm.HelmError as err:
            raise ActionError(str(err)) from err

    def mark_failed(self, storage_namespace: str, name: str, version: int, description: str) -> None:
        """Set a stored release's status to failed (helm-controller's unlock of a release left pending)."""
        self.set_status(storage_namespace, name, version, "failed", description)

    def set_status(self, storage_namespace: str, name: str, version: int, status: str,
                   description: str | None = None) -> None:
        """Rewrite a stored release's status: the SDK has no storage update, so the storage Secret is rewritten
        as Helm's secret driver encodes it (gzipped JSON, base64), with its ``status`` label."""
        secret_name = f"sh.helm.release.v1.{name}.v{version}"
        try:
            secret = self.kube.get("v1", "Secret", secret_name, storage_namespace)
        except NotFound as err:
            raise ReleaseNotFound(f"release: not found: {name}.v{version}") from err
        try:
            encoded = base64.b64decode(secret["data"]["release"])
            document = json.loads(gzip.decompress(base64.b64decode(encoded)))
        except (KeyError, ValueError, OSError) as err:
            raise ActionError(f"cannot decode release {name}.v{version}: {err}") from err
        document.setdefault("info", {})["status"] = status
        if description is not None:
            document["info"]["description"] = description
        payload = base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()
        self.kube.patch("v1", "Secret", secret_name, storage_namespace,
                        {"metadata": {"labels": {"status": status},
                                      "resourceVersion": secret["metadata"]["resourceVersion"]},
                         "data": {"release": base64.b64encode(payload.encode()).decode()}})


class ReleaseNotFound(ActionError):
    """No such release in storage."""
