"""The embedded cluster: etcd, kube-apiserver, kube-controller-manager and kube-scheduler as local processes,
plus the simulated node agent, all on free 127.0.0.1 ports with per-sandbox credentials."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import binaries
from sandbox.cluster import pki
from sandbox.cluster.base import ClusterPlan
from sandbox.cluster.etcd import Etcd
from sandbox.kube import kubeconfig
from sandbox.ports import free_ports
from sandbox.state import ComponentSpec, Probe, StateDir
from sandbox.tools.version import version_of

# Memory: Go's collector runs when the heap has grown by half (GOGC=50, against 100 by default) — the control plane
# of a sandbox is small and mostly idle, the CPU it costs is little (docs/several-clusters.md).
_GO_ENV = {"GOGC": "50"}


def _minor(version: str | None) -> int:
    try:
        return int((version or "1.20.0").split(".")[1])
    except (IndexError, ValueError):
        return 20


@dataclass
class EmbeddedCluster:
    name: str
    nodes: int = 1
    strict_images: bool = False
    registries: dict[str, str] = field(default_factory=dict)  # image host -> URL, for the node agent
    bin_dir: Path | None = None
    version: str | None = None  # the Kubernetes version whose cached binaries to run (None: binaries decides)
    agent_args: list[str] = field(default_factory=list)  # extra node agent arguments from the services' plans

    def plan(self, state: StateDir) -> ClusterPlan:
        etcd, apiserver, controller_manager, scheduler = (
            binaries.require(name, bin_dir=self.bin_dir, version=self.version)
            for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"))
        minor = _minor(version_of(apiserver))

        creds = pki.generate(state.secrets, self.name)
        etcd_port, peer_port, api_port, cm_port, sched_port, agent_port = free_ports(6)
        server = f"https://127.0.0.1:{api_port}"
        kubeconfig.write(state.kubeconfig, name=self.name, server=server, ca_cert=creds.ca_cert, token=creds.token)
        store = Etcd(etcd, state.data / "etcd", etcd_port, peer_port, creds)
        tls = ["--tls-cert-file", str(creds.serving_cert), "--tls-private-key-file", str(creds.serving_key)]
        kube = str(state.kubeconfig)
        client_kubeconfig = ["--kubeconfig", kube, "--authentication-kubeconfig", kube,
                             "--authorization-kubeconfig", kube]

        components = [
            ComponentSpec(
                name="etcd",
                argv=store.argv(),
                probe=store.probe(),
                env=dict(_GO_ENV),
                endpoints={"client": store.client_url},
                startup_timeout=30,
            ),
            ComponentSpec(
                name="kube-apiserver",
                argv=[str(apiserver), *store.apiserver_args(), "--bind-address", "127.0.0.1",
                      "--secure-port", str(api_port), "--cert-dir", str(state.data / "apiserver-certs"), *tls,
                      "--token-auth-file", str(creds.token_auth_file), "--authorization-mode", "RBAC",
                      "--service-account-key-file", str(creds.sa_pub),
                      "--service-account-signing-key-file", str(creds.sa_key),
                      "--service-account-issuer", "https://kubernetes.default.svc",
                      # the issuer's keys where a workload cluster trusting it finds them (docs/several-clusters.md)
                      *(["--service-account-jwks-uri", f"{server}/openid/v1/jwks"] if minor >= 21 else []),
                      "--service-cluster-ip-range", "10.96.0.0/16", "--allow-privileged",
                      "--enable-admission-plugins", "NamespaceLifecycle,ServiceAccount,DefaultStorageClass",
                      "--enable-priority-and-fairness=false", "--profiling=false", "--event-ttl", "1h",
                      "--max-requests-inflight", "1000", "--max-mutating-requests-inflight", "500",
                      *(["--insecure-port", "0"] if minor < 24 else [])],
                # The apiserver retries etcd until it answers: starting both at once saves etcd's start-up time.
                after_started=["etcd"],
                env=dict(_GO_ENV),
                probe=Probe(url=f"{server}/readyz", ca_file=str(creds.ca_cert), token_file=str(creds.token_file)),
                endpoints={"server": server},
                startup_timeout=60,
                # Its graceful shutdown (current versions) waits on etcd, which dies with the supervisor too.
                parent_death_signal="SIGKILL",
            ),
            ComponentSpec(
                name="kube-controller-manager",
                argv=[str(controller_manager), *client_kubeconfig, "--leader-elect=false",
                      "--bind-address", "127.0.0.1", "--secure-port", str(cm_port), *tls,
                      "--service-account-private-key-file", str(creds.sa_key),
                      "--root-ca-file", str(creds.ca_cert), "--kube-api-qps", "200", "--kube-api-burst", "400",
                      "--concurrent-deployment-syncs", "10", "--concurrent-replicaset-syncs", "10",
                      "--concurrent-namespace-syncs", "10", "--concurrent-gc-syncs", "40",
                      *(["--port", "0"] if minor < 24 else [])],
                after=["kube-apiserver"],
                env=dict(_GO_ENV),
                probe=Probe(url=f"https://127.0.0.1:{cm_port}/healthz", ca_file=str(creds.ca_cert)),
                endpoints={"healthz": f"https://127.0.0.1:{cm_port}/healthz"},
            ),
            ComponentSpec(
                name="kube-scheduler",
                argv=[str(scheduler), *client_kubeconfig, "--leader-elect=false",
                      "--bind-address", "127.0.0.1", "--secure-port", str(sched_port), *tls,
                      *(["--port", "0"] if minor < 23 else [])],
                after=["kube-apiserver"],
                env=dict(_GO_ENV),
                probe=Probe(url=f"https://127.0.0.1:{sched_port}/healthz", ca_file=str(creds.ca_cert)),
                endpoints={"healthz": f"https://127.0.0.1:{sched_port}/healthz"},
            ),
            ComponentSpec(
                name="node-agent",
                argv=[sys.executable, "-m", "sandbox.cluster.nodeagent", "--kubeconfig", kube,
                      "--nodes", str(self.nodes), "--health-port", str(agent_port), "--node-name", "sandbox-node",
                      *[f"--registry={host}={url}" for host, url in self.registries.items()],
                      *(["--strict-images"] if self.strict_images else []), *self.agent_args],
                after=["kube-apiserver"],
                probe=Probe(url=f"http://127.0.0.1:{agent_port}/readyz"),
                endpoints={"health": f"http://127.0.0.1:{agent_port}/readyz"},
            ),
        ]
        return ClusterPlan(components=components, kubeconfig=state.kubeconfig, server=server)
