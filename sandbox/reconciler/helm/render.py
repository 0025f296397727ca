"""From a chart and composed values to what a HelmRelease installs: the chart rendered by Helm's SDK (cluster-aware
when a ``helm.Config`` is given, so ``lookup`` and capabilities are the cluster's), post-rendered
(``postrender``), and written as the chart the controller hands to install/upgrade. ``sandbox build helmrelease``
and the controller both go through ``prepare_chart``; ``release_manifest`` is Helm's own dry-run install of it —
the manifest a release would store."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm

from sandbox.errors import InputError
from sandbox.reconciler.helm import postrender, state

Obj = dict[str, Any]


class RenderError(InputError):
    """Helm refused the values or a template: its own message."""


@dataclass(frozen=True)
class ReleaseTarget:
    """Where and as what a HelmRelease is released (helm-controller's GetReleaseName, GetReleaseNamespace)."""

    name: str
    namespace: str

    @classmethod
    def of(cls, helmrelease: Obj) -> ReleaseTarget:
        """Release name (shortened as helm-controller's ShortenName) and namespace, as the controller uses them."""
        return cls(state.short_release_name(helmrelease), state.release_namespace(helmrelease))

    @property
    def storage_namespace(self) -> str:
        return self.namespace  # the Helm SDK stores a release in its own namespace (see state.storage_namespace)


def prepare_chart(chart: helm.Chart, values: Obj, helmrelease: Obj, workdir: Path, *,
                  config: helm.Config | None = None, revision: int = 1, upgrade: bool = False) -> Path:
    """The chart to install or upgrade for ``helmrelease``: ``chart`` rendered with ``values`` as release
    ``ReleaseTarget.of(helmrelease)`` (revision ``revision``), post-rendered, written under ``workdir`` (which must
    exist; a ``<chart name>`` folder is created in it). Raises RenderError with Helm's message."""
    target = ReleaseTarget.of(helmrelease)
    try:  # rendering checks the values against the chart's schema, with Helm's own message
        if config is not None:
            rendered = config.render(chart, values, name=target.name, namespace=target.namespace, revision=revision,
                                     is_install=not upgrade, is_upgrade=upgrade)
        else:
            rendered = chart.render(values, name=target.name, namespace=target.namespace, revision=revision,
                                    is_install=not upgrade, is_upgrade=upgrade)
        metadata, defaults, crds, schema = chart.metadata, chart.values, chart.crds, chart.schema
    except helm.HelmError as err:
        raise RenderError(str(err)) from err
    templates = postrender.post_render_templates(rendered, helmrelease)
    return postrender.rendered_chart(metadata, defaults, crds, templates, workdir / chart.name, schema=schema)


def release_manifest(chart_dir: Path, values: Obj, helmrelease: Obj) -> str:
    """The manifest Helm would store for a release of the prepared chart (a client-side dry-run install: no
    cluster needed)."""
    target = ReleaseTarget.of(helmrelease)
    try:
        with helm.Chart.load(chart_dir) as prepared:
            config = helm.Config(namespace=target.namespace)
            try:
                release = config.install(prepared, target.name, values, namespace=target.namespace, dry_run="client")
            finally:
                config.close()
    except helm.HelmError as err:
        raise RenderError(str(err)) from err
    return str(release.get("manifest") or "")


@contextmanager
def release_chart(chart: helm.Chart, values: Obj, helmrelease: Obj, *, config: helm.Config | None, revision: int,
                  upgrade: bool) -> Iterator[helm.Chart]:
    """The loaded chart to install (``upgrade`` False) or upgrade to for ``helmrelease`` — the post-rendered chart
    of ``prepare_chart`` — removed again afterwards. The controller's install and upgrade take this."""
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-helm-release-"))
    try:
        prepared = prepare_chart(chart, values, helmrelease, scratch, config=config, revision=revision,
                                 upgrade=upgrade)
        with helm.Chart.load(prepared) as loaded:
            yield loaded
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
