"""Wiring of the Helm source kinds: the HelmRepository and HelmChart controllers, both served as source kinds
(``Sources``: HelmReleases consume HelmCharts through it), and the watches that rebuild a HelmChart when its
source publishes a new artifact revision (source-controller's watches with SourceRevisionChangePredicate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.kube.informer import object_key
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.runtime.controller import Context, Controller
from sandbox.reconciler.runtime.manager import Manager
from sandbox.reconciler.source import chartbuild
from sandbox.reconciler.source.artifact import RevisionChanges, Sources, revision_of
from sandbox.reconciler.source.helmchart import HelmChartReconciler
from sandbox.reconciler.source.helmrepository import HelmRepositoryReconciler
from sandbox.reconciler.source.mirrors import MirrorMapFile
from sandbox.reconciler.source.storage import Storage

Obj = dict[str, Any]


def charts_to_rebuild(source: Obj, charts: list[Obj]) -> list[str]:
    """The HelmCharts that ``source`` (any source kind) feeds and that have not seen its artifact revision."""
    revision = revision_of(source)
    if not revision:
        return []
    meta = source.get("metadata") or {}
    keys = []
    for chart in charts:
        ref = (chart.get("spec") or {}).get("sourceRef") or {}
        if (ref.get("kind") == source.get("kind") and ref.get("name") == meta.get("name")
                and chart["metadata"].get("namespace") == meta.get("namespace")
                and (chart.get("status") or {}).get("observedSourceArtifactRevision") != revision):
            keys.append(object_key(chart))
    return keys


def register(manager: Manager, ctx: Context, sources: Sources, storage: Storage, *,
             mirror_map: MirrorMapFile | None = None, workers: int = 2) -> Callable[[], None]:
    """Add both controllers and register their kinds in ``sources``. Returns the function that subscribes the
    HelmCharts to every source kind: call it once all source kinds are registered."""
    repositories = manager.add(Controller(HelmRepositoryReconciler(storage, mirror_map=mirror_map), ctx,
                                          workers=workers))
    sources.register(kinds.HELMREPOSITORY, repositories.informer)
    reconciler = HelmChartReconciler(storage, sources, mirror_map=mirror_map,
                                     dependencies=chartbuild.resolve_dependencies)
    charts = manager.add(Controller(reconciler, ctx, workers=workers))
    sources.register(kinds.HELMCHART, charts.informer)
    changes = RevisionChanges()

    def by_source(source: Obj) -> list[str]:
        if not changes.new_revision(source):
            return []
        return charts_to_rebuild(source, charts.informer.items())

    def subscribe() -> None:
        sources.watch(charts.watch, by_source)

    return subscribe
