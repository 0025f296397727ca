"""The plan of `sandbox up --reconciler flux`: Flux's controllers as supervised processes after the receivers'
process (which installs the CRDs), on loopback, leader election off, and the release recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.config import UpOptions
from sandbox.errors import InputError
from sandbox.fluxdev import release
from sandbox.fluxdev.service import FluxService, component_name
from sandbox.state import StateDir
from tests.unit.fluxdev.test_release import fake_build


def test_plan_runs_the_built_controllers_after_the_receivers_process(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    fake_build(release.cache_dir(), {"flux": release.FLUX_RELEASE, "source-controller": "v1.9.5",
                                     "kustomize-controller": "v1.9.5"})
    state = StateDir("flux", root=tmp_path / "state")
    state.create()
    options = UpOptions(name="flux", reconciler="flux")
    service = FluxService()
    assert service.enabled(options) and not service.enabled(UpOptions(name="x"))
    plan = service.plan(state, options)
    by_name = {c.name: c for c in plan.components}
    receivers = by_name["reconciler"]
    assert "--receivers-only" in receivers.argv
    assert receivers.argv[receivers.argv.index("--upstream-crds") + 1] == str(release.cache_dir() / "crds")
    source = by_name[component_name("source-controller")]
    assert source.after == ["reconciler"], "the CRDs are installed before Flux's controllers start"
    assert "--enable-leader-election=false" in source.argv
    # Each controller authenticates as its own ServiceAccount (Flux's RBAC, applied by the receivers' process,
    # which writes its kubeconfig), never with the admin's kubeconfig.
    own = state.secrets / "flux-source-controller.kubeconfig"
    assert source.env["KUBECONFIG"] == str(own) != str(state.kubeconfig)
    assert f"source-controller={own}" in receivers.argv
    rbac_file = receivers.argv[receivers.argv.index("--upstream-rbac") + 1]
    assert "ServiceAccount" in Path(rbac_file).read_text() and "Deployment" not in Path(rbac_file).read_text()
    assert plan.record["flux"]["identities"]["source-controller"] == {
        "user": "system:serviceaccount:flux-system:source-controller", "kubeconfig": str(own)}
    assert source.env["RUNTIME_NAMESPACE"] == "flux-system"
    addresses = [a.split("=", 1)[1] for a in source.argv if a.startswith(("--metrics-addr", "--health-addr",
                                                                          "--storage-addr", "--storage-adv-addr"))]
    assert len(addresses) == 4 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert (state.data / "flux" / "source-controller").is_dir()
    assert component_name("helm-controller") not in by_name, "not built: not planned"
    flux = plan.record["flux"]
    assert flux["release"] == release.FLUX_RELEASE
    assert "helm-controller" in flux["unavailable"] and "notification-controller" in flux["unavailable"]
    assert flux["artifacts"].startswith("http://127.0.0.1:")
    assert "receiver" in plan.record["reconciler"], "the fleet wiring finds the receivers' endpoint"


def test_plan_without_a_build_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    state = StateDir("flux", root=tmp_path / "state")
    state.create()
    with pytest.raises(InputError, match="sandbox setup --flux"):
        FluxService().plan(state, UpOptions(name="flux", reconciler="flux"))
