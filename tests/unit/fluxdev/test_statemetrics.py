"""kube-state-metrics in `sandbox up --reconciler flux --monitoring`: planned on loopback after the CRDs are
installed, with the custom-resource-state configuration; when it is not built, no component and a record that says
gotk_resource_info is absent and what to run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from sandbox.config import MonitoringSettings, UpOptions
from sandbox.fluxdev import release, statemetrics
from sandbox.fluxdev.service import FluxService
from sandbox.state import StateDir
from tests.unit.fluxdev.test_release import fake_build


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateDir:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    made = StateDir("flux", root=tmp_path / "state")
    made.create()
    return made


def fake_state_metrics() -> Path:
    root = statemetrics.cache_dir()
    root.mkdir(parents=True)
    binary = root / statemetrics.COMPONENT
    binary.write_text("#!/bin/sh\n")
    os.chmod(binary, 0o755)
    (root / statemetrics.INFO).write_text(json.dumps({"recipe": statemetrics.RECIPE, "seconds": 110.2}))
    return binary


def test_not_built_means_no_component_and_a_record_that_says_so(state: StateDir) -> None:
    assert statemetrics.installed() is None
    components, record = statemetrics.plan(state)
    assert components == []
    assert "gotk_resource_info is absent" in record["absent"] and "`sandbox setup --flux`" in record["absent"]


def test_planned_on_loopback_after_the_crds_with_the_flux_configuration(state: StateDir) -> None:
    binary = fake_state_metrics()
    assert statemetrics.installed() == statemetrics.Built(binary, statemetrics.VERSION, 110.2)
    (spec,), record = statemetrics.plan(state)
    assert spec.argv[0] == str(binary) and spec.after == ["reconciler"]
    assert "--custom-resource-state-only" in spec.argv and f"--kubeconfig={state.kubeconfig}" in spec.argv
    assert "--host=127.0.0.1" in spec.argv and "--telemetry-host=127.0.0.1" in spec.argv
    assert "metrics" not in spec.endpoints  # not a gotk target: its own job
    assert record["state_metrics"] == spec.endpoints["state_metrics"]
    config_file = Path(next(a for a in spec.argv if a.startswith("--custom-resource-state-config-file="))
                       .split("=", 1)[1])
    assert config_file.stat().st_mode & 0o077 == 0
    kinds = {r["groupVersionKind"]["kind"] for r in yaml.safe_load(config_file.read_text())["spec"]["resources"]}
    assert {"Kustomization", "GitRepository", "HelmRelease"} <= kinds


def test_flux_service_adds_it_only_with_monitoring(state: StateDir) -> None:
    fake_build(release.cache_dir(), {"flux": release.FLUX_RELEASE, "kustomize-controller": "v1.9.5"})
    fake_state_metrics()
    plain = FluxService().plan(state, UpOptions(name="flux", reconciler="flux"))
    assert statemetrics.COMPONENT not in {c.name for c in plain.components}
    assert "kube_state_metrics" not in plain.record["flux"]
    monitored = FluxService().plan(state, UpOptions(name="flux", reconciler="flux",
                                                    monitoring=MonitoringSettings()))
    assert statemetrics.COMPONENT in {c.name for c in monitored.components}
    assert monitored.record["flux"]["kube_state_metrics"]["version"] == statemetrics.VERSION


def test_a_failed_build_is_reported_not_raised(state: StateDir, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.errors import SandboxError

    def refuse(progress: object, version: str = statemetrics.VERSION) -> statemetrics.Built:
        raise SandboxError("the Go module proxy does not serve k8s.io/kube-state-metrics/v2@v2.20.0")

    monkeypatch.setattr(statemetrics, "build", refuse)
    why = statemetrics.ensure(lambda phase, detail: None)
    assert why.startswith("kube-state-metrics v2.20.0 could not be built") and "does not serve" in why
    fake_state_metrics()
    assert statemetrics.ensure(lambda phase, detail: None) == ""  # in the cache: nothing to build
