"""Parity runs give each scenario the sandbox it declares it needs: workload clusters, the tenancy lockdown."""

from __future__ import annotations

from sandbox.parity.run import SandboxNeeds, grouped
from sandbox.scenario.catalog import BUILTIN
from sandbox.scenario.loader import load


def test_fleet_and_multi_tenancy_get_their_own_sandboxes() -> None:
    scenarios = [load(BUILTIN / name) for name in ("fleet", "multi-tenancy", "getting-started")]
    groups = grouped(scenarios)
    plain, fleet, tenancy = SandboxNeeds(), SandboxNeeds(("production", "staging")), SandboxNeeds(lockdown=True)
    assert list(groups) == [plain, fleet, tenancy]
    assert [s.name for s in groups[fleet]] == ["fleet"]
    assert fleet.options()["clusters"] == ("mgmt", "production", "staging")
    assert fleet.options()["default_service_account"] == ""
    locked = tenancy.options()
    assert (locked["default_service_account"], locked["no_cross_namespace_refs"], locked["no_remote_bases"]) == (
        "default", True, True)
    assert plain.suffix == "" and fleet.suffix == "-production-staging" and tenancy.suffix == "-lockdown"
