"""What a HelmRelease would install, and what that would change in the cluster: values composed by ``values``,
the chart rendered and post-rendered by ``render`` (the controller's path), the manifest Helm would store, and a
server-side dry-run of each of its objects against the live ones — objects of the current release that the new
manifest drops are reported as deleted."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import helm_python as helm

from sandbox.errors import APIError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.helm import drift, render
from sandbox.reconciler.helm import values as helm_values
from sandbox.reconciler.kustomize.apply import drifted
from sandbox.reconciler.runtime.objectdiff import Action, DiffReport, ObjectDiff, sort_by_subject, subject_of

Obj = dict[str, Any]


def build_manifest(chart: helm.Chart, helmrelease: Obj, lookup: helm_values.Lookup, *,
                   config: helm.Config | None = None, revision: int = 1, upgrade: bool = False) -> tuple[str,
                                                                                                   helm_values.Values]:
    """The manifest the controller would install for ``helmrelease`` with ``chart``, and the composed values."""
    composed = helm_values.compose_values(helmrelease.get("spec") or {}, helmrelease["metadata"]["namespace"], lookup)
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-helm-build-"))
    try:
        prepared = render.prepare_chart(chart, composed.values, helmrelease, scratch, config=config,
                                        revision=revision, upgrade=upgrade)
        return render.release_manifest(prepared, composed.values, helmrelease), composed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def preview(kube: KubeClient, helmrelease: Obj, manifest: str, current_manifest: str = "") -> DiffReport:
    """Compare the objects of ``manifest`` with the cluster (server-side dry-run as ``helm-controller``); the
    objects of ``current_manifest`` (the installed release) that ``manifest`` drops are deleted by an upgrade."""
    target = render.ReleaseTarget.of(helmrelease)
    desired, errors = drift.desired_objects(kube, manifest, target.name, target.namespace)
    items: list[ObjectDiff] = []
    problems = list(errors)
    for obj in desired:
        meta = obj["metadata"]
        try:
            live = kube.get_or_none(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            if live is None:
                items.append(ObjectDiff.of(Action.CREATED, obj))
                continue
            result = kube.apply(obj, field_manager=drift.FIELD_MANAGER, force=True, dry_run=True)
        except APIError as err:
            problems.append(f"{subject_of(obj)} dry-run failed: {err}")
            continue
        items.append(ObjectDiff.of(Action.CONFIGURED, obj, live, result) if drifted(live, result)
                     else ObjectDiff.of(Action.UNCHANGED, obj))
    if current_manifest:
        kept = {subject_of(obj) for obj in desired}
        current, _ = drift.desired_objects(kube, current_manifest, target.name, target.namespace)
        items += [ObjectDiff.of(Action.DELETED, obj) for obj in current if subject_of(obj) not in kept]
    return DiffReport(sort_by_subject(items), tuple(problems))
