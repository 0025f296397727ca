"""kube-state-metrics for ``sandbox up --reconciler flux --monitoring``: upstream Flux's controllers export
``gotk_reconcile_duration_seconds`` but not ``gotk_resource_info``; Flux's monitoring example gets that from
kube-state-metrics with a custom-resource-state configuration, and so does the sandbox.

Built from its Go module (``k8s.io/kube-state-metrics/v2``) into the cache by ``sandbox setup --flux`` or on first
use of ``--reconciler flux --monitoring``; run as a supervised process against the sandbox's apiserver (admin
kubeconfig), listening on 127.0.0.1, with the configuration of ``sandbox.monitoring.statemetrics``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox import config, gobuild
from sandbox.errors import SandboxError
from sandbox.monitoring import statemetrics
from sandbox.monitoring.config import dump
from sandbox.ports import free_ports
from sandbox.reconciler_service import COMPONENT as RECONCILER
from sandbox.state import ComponentSpec, Probe, StateDir, write_private

MODULE = "k8s.io/kube-state-metrics/v2"
VERSION = "v2.20.0"  # the newest the module proxy serves
COMPONENT = "kube-state-metrics"
INFO = "BUILD.json"
RECIPE = 1  # bump when what is built changes, so caches made before are rebuilt


def cache_dir(version: str = VERSION) -> Path:
    return config.cache_root() / "kube-state-metrics" / version


def recipe(version: str = VERSION) -> gobuild.Recipe:
    return gobuild.Recipe(MODULE, version, (gobuild.Program(COMPONENT, MODULE),),
                          ldflags=f"-s -w -X github.com/prometheus/common/version.Version={version}")


@dataclass(frozen=True)
class Built:
    binary: Path
    version: str
    seconds: float | None  # how long the build took, as recorded when it ran


def installed(version: str = VERSION) -> Built | None:
    """The cached binary when complete and made by the current recipe, else None."""
    root = cache_dir(version)
    try:
        info = json.loads((root / INFO).read_text())
    except (OSError, ValueError):
        return None
    binary = root / COMPONENT
    if info.get("recipe") != RECIPE or not os.access(binary, os.X_OK):
        return None
    seconds = info.get("seconds")
    return Built(binary, version, float(seconds) if seconds is not None else None)


def build(progress: gobuild.Progress, version: str = VERSION) -> Built:
    """Build kube-state-metrics ``version`` into the cache (replacing what is there)."""
    started = time.monotonic()
    root = cache_dir(version)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        result = gobuild.build(recipe(version), Path(tmp), progress)
        os.replace(result.binaries[0], root / COMPONENT)
    seconds = round(time.monotonic() - started, 1)
    substitutions = {module: {"required": required, "built": instead}
                     for module, (required, instead) in result.substitutions.items()}
    (root / INFO).write_text(json.dumps({"recipe": RECIPE, "module": MODULE, "version": version,
                                         "seconds": seconds, "substitutions": substitutions},
                                        indent=2, sort_keys=True) + "\n")
    found = installed(version)
    assert found is not None
    return found


def ensure(progress: gobuild.Progress, *, force: bool = False) -> str:
    """Build kube-state-metrics unless it is in the cache (or ``force``); "" when it is there now, else why it could
    not be built (``sandbox up`` then runs without it and says so)."""
    if installed() is not None and not force:
        return ""
    try:
        build(progress)
    except SandboxError as err:
        return f"kube-state-metrics {VERSION} could not be built from its Go module: {err}"
    return ""


ABSENT = (f"gotk_resource_info is absent: kube-state-metrics {VERSION} is not built (`sandbox setup --flux` builds "
          "it); Flux's controllers do not export it, so the alert rules on it (ReconciliationFailure, "
          "ResourceSuspended) stay silent")


def plan(state: StateDir) -> tuple[list[ComponentSpec], dict[str, str]]:
    """kube-state-metrics' component (none when it is not built) and what the sandbox record says of it."""
    built = installed()
    if built is None:  # `sandbox up` prints the record's warning
        return [], {"version": VERSION, "absent": ABSENT}
    config_file = state.data / "monitoring" / "kube-state-metrics.yaml"
    write_private(config_file, dump(statemetrics.custom_resource_state()))
    port, telemetry = free_ports(2)
    url = f"http://127.0.0.1:{port}"
    spec = ComponentSpec(
        name=COMPONENT,
        argv=[str(built.binary), f"--kubeconfig={state.kubeconfig}", "--host=127.0.0.1", f"--port={port}",
              "--telemetry-host=127.0.0.1", f"--telemetry-port={telemetry}", "--custom-resource-state-only",
              f"--custom-resource-state-config-file={config_file}"],
        # The sandbox reconciler's process installs the CRDs before it is ready; the resources are watched from then.
        after=[RECONCILER], probe=Probe(url=f"{url}/healthz"),
        endpoints={statemetrics.ENDPOINT: f"{url}/metrics", "telemetry": f"http://127.0.0.1:{telemetry}/metrics"},
        startup_timeout=60)
    return [spec], {"version": VERSION, statemetrics.ENDPOINT: f"{url}/metrics"}
