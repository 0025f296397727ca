"""The sandbox's HTTP Helm chart repository: packaged charts and their ``index.yaml`` in a directory under the
state dir, served on 127.0.0.1 by ``sandbox.helmrepo_server``; charts are packaged and indexed with the Helm SDK.

``push_chart`` adds a chart directory to this repository and to the registry (as an OCI artifact) in one step.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.config import UpOptions
from sandbox.errors import InputError, NotRunning, SandboxError
from sandbox.ports import free_ports
from sandbox.registry import auth as registry_auth
from sandbox.registry import oci
from sandbox.registry.base import CHART_NAMESPACE, endpoint_of
from sandbox.services import ServicePlan
from sandbox.state import ComponentSpec, Probe, StateDir

COMPONENT = "chart-repo"
RECORD_KEY = "charts"
INDEX = "index.yaml"


class ChartError(InputError):
    """A chart directory or archive that Helm cannot use; the message names it and what is wrong."""


@dataclass(frozen=True)
class ChartSource:
    path: Path
    name: str
    version: str


@dataclass(frozen=True)
class ChartEntry:
    name: str
    version: str
    app_version: str
    description: str
    digest: str  # sha256 hex of the archive, as the index holds it
    urls: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "appVersion": self.app_version,
                "description": self.description, "digest": self.digest, "urls": list(self.urls)}


def load_chart_dir(path: Path) -> ChartSource:
    """Check that ``path`` is a chart directory Helm can load; ChartError saying what is wrong otherwise."""
    import helm_python as helm

    if not path.is_dir():
        raise ChartError(f"{path} is not a directory: `sandbox chart push` takes a chart directory (the one holding "
                         "Chart.yaml)")
    if not (path / "Chart.yaml").is_file():
        hint = " (Helm charts name it Chart.yaml, with a capital C)" if (path / "chart.yaml").exists() else ""
        raise ChartError(f"{path} has no Chart.yaml{hint}: a chart directory holds Chart.yaml, values.yaml and "
                         "templates/; scaffold one with `helm create NAME`")
    try:
        with helm.Chart.load(path) as chart:
            return ChartSource(path, str(chart.name), str(chart.version))
    except helm.HelmError as err:
        raise ChartError(f"{path / 'Chart.yaml'} is not a loadable chart: {err}") from err


def package(chart: ChartSource, destination: Path) -> Path:
    """``helm package``: the chart as ``NAME-VERSION.tgz`` in ``destination``."""
    import helm_python as helm

    try:
        return Path(helm.package(chart.path, destination=destination))
    except helm.HelmError as err:
        raise ChartError(f"packaging {chart.path} failed: {err}") from err


class ChartRepository:
    """A directory of ``.tgz`` charts and the ``index.yaml`` describing them (entry URLs relative to the repo)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def index_file(self) -> Path:
        return self.root / INDEX

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def ensure_index(self) -> None:
        """An empty repository still serves a valid index."""
        import helm_python as helm

        with self._locked():
            if not self.index_file.exists():
                with tempfile.TemporaryDirectory(dir=self.root, prefix=".index-") as tmp:
                    helm.repo_index_generate(tmp)
                    os.replace(Path(tmp) / INDEX, self.index_file)

    def add(self, archive: Path) -> ChartEntry:
        """Add a packaged chart (replacing the same name and version); index and archive change together."""
        import helm_python as helm

        with self._locked(), tempfile.TemporaryDirectory(dir=self.root, prefix=".add-") as tmp:
            staged = Path(tmp) / archive.name
            shutil.copyfile(archive, staged)
            merge = self.index_file if self.index_file.exists() else None
            try:
                helm.repo_index_generate(tmp, merge=merge)
            except helm.HelmError as err:
                raise ChartError(f"indexing {archive.name} failed: {err}") from err
            os.replace(staged, self.root / archive.name)
            os.replace(Path(tmp) / INDEX, self.index_file)
        for entry in self.entries():
            if archive.name in entry.urls:
                return entry
        raise SandboxError(f"{archive.name} was indexed but is missing from {self.index_file}")

    def entries(self) -> list[ChartEntry]:
        if not self.index_file.exists():
            return []
        return entries_of(yaml.safe_load(self.index_file.read_text()) or {})


def entries_of(index: dict[str, Any]) -> list[ChartEntry]:
    """The chart versions in a parsed ``index.yaml``, by name then in the index's (newest first) order."""
    found = []
    for name in sorted(index.get("entries") or {}):
        for item in index["entries"][name] or []:
            found.append(ChartEntry(name=str(item.get("name", name)), version=str(item.get("version", "")),
                                    app_version=str(item.get("appVersion", "")),
                                    description=str(item.get("description", "")),
                                    digest=str(item.get("digest", "")), urls=tuple(item.get("urls") or ())))
    return found


def repository_root(state: StateDir) -> Path:
    return state.data / "charts"


def repository_url(name: str) -> str:
    """The chart repository URL of the running sandbox ``name``."""
    state = StateDir(name)
    if not state.exists():
        raise NotRunning(f"sandbox {name!r} is not up; start it with `sandbox up --name {name}`")
    record = state.read_record().get(RECORD_KEY)
    if not isinstance(record, dict) or "url" not in record:
        raise InputError(f"sandbox {name!r} serves no chart repository; start it again with `sandbox up`")
    return str(record["url"])


# --- the sandbox-level operations --------------------------------------------------------------------------------

def push_chart(name: str, chart_dir: Path) -> dict[str, Any]:
    """Package ``chart_dir`` and add it to sandbox ``name``'s HTTP chart repository and registry (OCI).

    The chart is checked and packaged before anything is published. The OCI push comes first, so a registry
    failure leaves the HTTP repository unchanged; if adding to the HTTP repository then fails, a version that
    was new to the registry is removed from it again.
    """
    state = StateDir(name)
    url = repository_url(name)
    registry = endpoint_of(name)
    chart = load_chart_dir(chart_dir.resolve())
    with tempfile.TemporaryDirectory(prefix="sandbox-chart-") as tmp:
        archive = package(chart, Path(tmp))
        credentials = registry_auth.credentials_of(name)  # the registry's htpasswd mode, else None
        try:
            existed = chart.version in oci.chart_versions(registry.host, chart.name, credentials=credentials)
        except oci.ArtifactNotFound:
            existed = False
        pushed = oci.push_chart(registry.host, archive, credentials=credentials)
        try:
            entry = ChartRepository(repository_root(state)).add(archive)
        except BaseException:
            if not existed:
                oci.delete_tag(registry.host, f"{CHART_NAMESPACE}/{chart.name}", chart.version,
                               credentials=credentials)
            raise
    return {"name": chart.name, "version": chart.version, "digest": f"sha256:{entry.digest}",
            "http": {"repository": url, "url": f"{url}/{entry.urls[0]}"},
            "oci": {"reference": pushed.reference, "repository": oci.chart_repository(registry.host),
                    "digest": pushed.digest}}


def list_charts(name: str) -> list[dict[str, Any]]:
    """Every chart version in sandbox ``name``'s HTTP repository (read through its index, as Helm reads it)."""
    import helm_python as helm

    url = repository_url(name)
    registry = endpoint_of(name)
    try:
        index = helm.repo_index(url)
    except helm.HelmError as err:
        raise SandboxError(f"reading {url}/{INDEX} failed: {err}; is the sandbox healthy? (`sandbox status`)") from err
    return [{**entry.to_dict(), "repository": url,
             "oci": f"{oci.chart_repository(registry.host)}/{entry.name}:{entry.version}"}
            for entry in entries_of(index)]


# --- joining `sandbox up` ----------------------------------------------------------------------------------------

class ChartRepoService:
    name = COMPONENT

    def enabled(self, options: UpOptions) -> bool:
        return True

    def plan(self, state: StateDir, options: UpOptions) -> ServicePlan:
        port = free_ports(1)[0]
        root = repository_root(state)
        ChartRepository(root).ensure_index()
        url = f"http://127.0.0.1:{port}"
        component = ComponentSpec(
            name=COMPONENT,
            argv=[sys.executable, "-m", "sandbox.helmrepo_server", "--root", str(root), "--port", str(port)],
            probe=Probe(url=f"{url}/{INDEX}"),
            endpoints={"url": url},
            startup_timeout=30.0,
        )
        return ServicePlan(components=[component], record={RECORD_KEY: {"url": url, "cluster_url": url}})

    def after_ready(self, state: StateDir, options: UpOptions) -> None:
        return None
