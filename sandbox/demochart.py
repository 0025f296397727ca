"""The demo chart gitops-sandbox ships (``scenarios/charts/webapp/<version>/``), and publishing it: every version
to a sandbox's HTTP chart repository and registry once ``sandbox up`` has them, or one version under another name
or version number for a scenario of its own.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nodesemver  # type: ignore[import-untyped]
import yaml

from sandbox.config import UpOptions
from sandbox.errors import InputError
from sandbox.helmrepo import RECORD_KEY as CHARTS_RECORD_KEY
from sandbox.helmrepo import ChartError, push_chart
from sandbox.services import ServicePlan
from sandbox.state import StateDir

CHARTS_ROOT = Path(__file__).resolve().parents[1] / "scenarios" / "charts"
DEMO_CHART = "webapp"


def versions(root: Path = CHARTS_ROOT) -> list[str]:
    """The demo chart's versions, oldest first (one folder each, holding Chart.yaml)."""
    folder = root / DEMO_CHART
    if not folder.is_dir():
        return []
    found = [child.name for child in folder.iterdir() if (child / "Chart.yaml").is_file()]
    for name in found:
        try:
            nodesemver.make_semver(name, loose=False)
        except ValueError as err:
            raise ChartError(f"{folder / name} is not named after a semantic version (the chart's version)") from err
    return list(nodesemver.sort(found, loose=False))


def chart_dir(version: str, root: Path = CHARTS_ROOT) -> Path:
    """The folder of the demo chart at ``version``; InputError naming the versions there are otherwise."""
    known = versions(root)
    if version not in known:
        raise InputError(f"the demo chart {DEMO_CHART} has no version {version!r} (versions: "
                         f"{', '.join(known) or 'none'}; they are the folders of {root / DEMO_CHART})")
    return root / DEMO_CHART / version


@contextmanager
def renamed(source: Path, *, name: str | None = None, version: str | None = None) -> Iterator[Path]:
    """A temporary copy of the chart folder ``source`` whose Chart.yaml says ``name`` and ``version`` instead
    (the folder is named after the chart, as Helm expects); ``source`` itself when neither is given."""
    if name is None and version is None:
        yield source
        return
    try:
        metadata = yaml.safe_load((source / "Chart.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ChartError(f"{source / 'Chart.yaml'} cannot be read: {err}") from err
    if not isinstance(metadata, dict):
        raise ChartError(f"{source / 'Chart.yaml'} is not a mapping")
    metadata["name"] = name or metadata.get("name")
    metadata["version"] = version or metadata.get("version")
    with tempfile.TemporaryDirectory(prefix="sandbox-chart-") as scratch:
        staged = Path(scratch) / str(metadata["name"])
        shutil.copytree(source, staged)
        (staged / "Chart.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
        yield staged


def publish(sandbox: str, root: Path = CHARTS_ROOT) -> list[dict[str, Any]]:
    """Push every version of the demo chart to sandbox ``sandbox``'s chart repository and registry, oldest first
    (what ``sandbox.helmrepo.push_chart`` returns for each)."""
    return [push_chart(sandbox, root / DEMO_CHART / version) for version in versions(root)]


class DemoChartService:
    """Joins ``sandbox up``: once the chart repository and the registry are ready, the demo chart is published to
    both. A source tree without ``scenarios/charts`` (an installed wheel) has none to publish."""

    name = "demo-charts"

    def enabled(self, options: UpOptions) -> bool:
        return bool(versions())

    def plan(self, state: StateDir, options: UpOptions) -> ServicePlan:
        return ServicePlan()

    def after_ready(self, state: StateDir, options: UpOptions) -> None:
        published = publish(options.name)
        record = state.read_record()
        charts = record.get(CHARTS_RECORD_KEY)
        if isinstance(charts, dict):
            charts["demo"] = {"name": DEMO_CHART, "versions": [item["version"] for item in published]}
            state.write_record(record)
