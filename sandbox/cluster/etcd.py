"""etcd of an embedded control plane over TLS with client certificates from the sandbox CA: its command line,
the kube-apiserver's flags to reach it, and its health probe — one place for every control plane a sandbox starts.

etcd answers only on 127.0.0.1 and only a client presenting a certificate signed by the sandbox's CA
(``--client-cert-auth``): a local user who finds the port gets neither plain HTTP nor a TLS session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sandbox.cluster.pki import Credentials
from sandbox.state import Probe


@dataclass(frozen=True)
class Etcd:
    """One etcd member on loopback: ``client_url`` and ``peer_url`` are https."""

    binary: Path
    data_dir: Path
    client_port: int
    peer_port: int
    creds: Credentials
    member: str = "sandbox"

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://127.0.0.1:{self.peer_port}"

    def argv(self) -> list[str]:
        """etcd's command line: TLS and client-certificate authentication on both the client and the peer URLs."""
        c = self.creds
        return [str(self.binary), "--name", self.member, "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", f"{self.member}={self.peer_url}",
                "--cert-file", str(c.etcd_cert), "--key-file", str(c.etcd_key),
                "--client-cert-auth", "--trusted-ca-file", str(c.ca_cert),
                "--peer-cert-file", str(c.etcd_cert), "--peer-key-file", str(c.etcd_key),
                "--peer-client-cert-auth", "--peer-trusted-ca-file", str(c.ca_cert),
                "--unsafe-no-fsync", "--log-level", "warn"]

    def apiserver_args(self) -> list[str]:
        """The kube-apiserver's flags to reach this etcd with its client certificate."""
        c = self.creds
        return ["--etcd-servers", self.client_url, "--etcd-cafile", str(c.ca_cert),
                "--etcd-certfile", str(c.etcd_client_cert), "--etcd-keyfile", str(c.etcd_client_key)]

    def probe(self) -> Probe:
        """``/health`` over TLS with the client certificate (etcd refuses a probe without one)."""
        c = self.creds
        return Probe(url=f"{self.client_url}/health", ca_file=str(c.ca_cert), cert_file=str(c.etcd_client_cert),
                     key_file=str(c.etcd_client_key), expect_body='"health":"true"')
