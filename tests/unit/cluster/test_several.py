"""Planning further clusters: names, component prefixes, the record's kubeconfig lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.cluster import several
from sandbox.cluster.base import ClusterPlan
from sandbox.errors import InputError
from sandbox.state import ComponentSpec, StateDir


def test_names_first_is_management() -> None:
    assert several.parse_names("mgmt, staging,production") == ["mgmt", "staging", "production"]


@pytest.mark.parametrize(("value", "message"), [("", "name at least"), ("mgmt,Staging", "invalid cluster name"),
                                                ("mgmt,a,a", "a named more than once")])
def test_bad_names_are_refused(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        several.parse_names(value)


def test_workload_components_are_prefixed_with_their_own_dependencies(tmp_path: Path) -> None:
    def plan(where: StateDir, name: str) -> ClusterPlan:
        return ClusterPlan(components=[
            ComponentSpec(name="etcd", argv=["etcd"]),
            ComponentSpec(name="kube-apiserver", argv=["apiserver"], after_started=["etcd"]),
            ComponentSpec(name="kube-controller-manager", argv=["cm"], after=["kube-apiserver"]),
        ], kubeconfig=where.kubeconfig, server=f"https://127.0.0.1/{name}")

    components, record = several.plan_workloads(StateDir("s", root=tmp_path), ["staging"], plan, version="v1.37.2")
    by_name = {c.name: c for c in components}
    assert set(by_name) == {"staging-etcd", "staging-kube-apiserver", "staging-kube-controller-manager"}
    assert by_name["staging-kube-apiserver"].after_started == ["staging-etcd"]
    assert by_name["staging-kube-controller-manager"].after == ["staging-kube-apiserver"]
    assert any(a.startswith("--controllers=") for a in by_name["staging-kube-controller-manager"].argv)
    assert record["staging"]["kubeconfig"] == str(tmp_path / "s" / "clusters" / "staging" / "kubeconfig")
    assert record["staging"]["secret"] == "flux-system/staging-kubeconfig"


def test_kubeconfig_of_names_the_known_clusters() -> None:
    record = {"name": "s", "kubeconfig": "/k", "clusters": {"mgmt": {"kubeconfig": "/k"},
                                                            "staging": {"kubeconfig": "/s"}}}
    assert several.kubeconfig_of(record, None) == "/k"
    assert several.kubeconfig_of(record, "staging") == "/s"
    with pytest.raises(InputError, match="no cluster 'qa'; its clusters: mgmt, staging"):
        several.kubeconfig_of(record, "qa")


def test_a_cluster_added_later_gets_the_management_node_agents_settings() -> None:
    agent = ComponentSpec(name="node-agent", argv=[
        "python", "-m", "sandbox.cluster.nodeagent", "--kubeconfig", "k", "--nodes", "2", "--health-port", "1",
        "--node-name", "sandbox-node", "--registry=r.example=http://127.0.0.1:5000", "--strict-images", "--x=y"])
    assert several.agent_settings([ComponentSpec(name="etcd", argv=["etcd"]), agent]) == (
        2, ["--registry=r.example=http://127.0.0.1:5000", "--strict-images", "--x=y"])
    assert several.agent_settings([]) == (1, [])


def test_workload_api_servers_trust_the_management_issuer_under_their_own(tmp_path: Path) -> None:
    def plan(where: StateDir, name: str) -> ClusterPlan:
        return ClusterPlan(components=[ComponentSpec(name="kube-apiserver", argv=[
            "apiserver", "--service-account-issuer", "https://kubernetes.default.svc"])],
            kubeconfig=where.kubeconfig, server=f"https://127.0.0.1:7{len(name)}")

    import yaml

    trust = several.Trust(server="https://127.0.0.1:6443", ca_pem="PEM", prefix="mgmt:")
    components, _ = several.plan_workloads(StateDir("s", root=tmp_path), ["qa"], plan, version="v1.37.2",
                                           trust=trust)
    argv = components[0].argv
    assert argv[argv.index("--service-account-issuer") + 1] == "https://kubernetes.default.svc/clusters/qa"
    config_path = Path(argv[argv.index("--authentication-config") + 1])
    assert config_path.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(config_path.read_text())
    assert config["apiVersion"] == "apiserver.config.k8s.io/v1"
    jwt = config["jwt"][0]
    assert jwt["issuer"] == {"url": "https://kubernetes.default.svc",
                             "discoveryURL": "https://127.0.0.1:6443/.well-known/openid-configuration",
                             "certificateAuthority": "PEM", "audiences": ["https://127.0.0.1:72"]}
    assert jwt["claimMappings"] == {"username": {"claim": "sub", "prefix": "mgmt:"}}
    old, _ = several.plan_workloads(StateDir("t", root=tmp_path), ["qa"], plan, version="v1.29.0", trust=trust)
    assert "--authentication-config" not in old[0].argv  # no structured authentication before 1.30
