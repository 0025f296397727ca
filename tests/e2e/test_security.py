"""The sandbox's listeners, attacked as another local user would: etcd refuses a client without the sandbox CA's
client certificate, the artifact server refuses a fetch without the secret path, every listening socket of the
sandbox's processes is on loopback, and the files holding secrets are 0600."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from sandbox.cluster import pki
from sandbox.handle import SandboxHandle
from sandbox.probe import http_ok
from sandbox.state import Probe
from sandbox.waiting import wait_until

LOOPBACK = {"127.0.0.1", "::1"}


def components(sandbox: SandboxHandle) -> dict[str, dict[str, object]]:
    status = json.loads(sandbox.state.status_file.read_text())
    return {c["name"]: c for c in status["components"]}


def etcd_url(sandbox: SandboxHandle) -> str:
    return str(components(sandbox)["etcd"]["endpoints"]["client"])  # type: ignore[index]


def test_etcd_refuses_clients_without_the_sandbox_client_certificate(sandbox: SandboxHandle) -> None:
    url = etcd_url(sandbox)
    assert url.startswith("https://127.0.0.1:")
    port = int(url.rsplit(":", 1)[1])
    creds = pki.load(sandbox.state.secrets)

    # Plain HTTP (what a `curl http://…/v3/kv/range` of the issue did): no answer with data.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        plain.sendall(b'POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{"key":"AA=="}')
        answer = plain.recv(4096)
    assert b'"kvs"' not in answer and b'"header"' not in answer
    assert not answer or b"400" in answer.split(b"\r\n", 1)[0], answer[:200]

    # TLS with the right CA but no client certificate: the handshake (or the first read) is refused.
    context = ssl.create_default_context(cafile=str(creds.ca_cert))
    request = urllib.request.Request(f"{url}/v3/kv/range", data=b'{"key":"AA==","range_end":"AA=="}',
                                     method="POST")
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(request, timeout=10, context=context).read()
    assert http_ok(Probe(url=f"{url}/health", ca_file=str(creds.ca_cert)), timeout=10)[0] is False

    # The sandbox's own client certificate works.
    ok, body = http_ok(Probe(url=f"{url}/health", ca_file=str(creds.ca_cert), cert_file=str(creds.etcd_client_cert),
                             key_file=str(creds.etcd_client_key)), timeout=10)
    assert ok, body


def test_etcd_refuses_a_certificate_of_another_ca(sandbox: SandboxHandle, tmp_path: Path) -> None:
    url = etcd_url(sandbox)
    creds = pki.load(sandbox.state.secrets)
    stranger = pki.generate(tmp_path / "other", "stranger")
    ok, why = http_ok(Probe(url=f"{url}/health", ca_file=str(creds.ca_cert), cert_file=str(stranger.etcd_client_cert),
                            key_file=str(stranger.etcd_client_key)), timeout=10)
    assert not ok, why


def fetch_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_the_artifact_server_refuses_a_fetch_without_the_secret_path(sandbox: SandboxHandle) -> None:
    repo = sandbox.new_repo("private", files={"deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                              "metadata: {name: private, namespace: default}\n"})
    try:
        artifact = repo.source["status"]["artifact"]
        url, path = artifact["url"], artifact["path"]
        base = str(components(sandbox)["reconciler"]["endpoints"]["artifacts"])  # type: ignore[index]
        assert url.startswith(base + "/") and url.endswith("/" + path)
        secret = url[len(base) + 1:-len(path) - 1]
        assert len(secret) >= 40 and "/" not in secret
        assert fetch_status(url) == 200  # the URL status publishes: what the CLI and Flux's controllers fetch
        assert fetch_status(f"{base}/{path}") == 404  # the port and the layout alone (a guess)
        assert fetch_status(f"{base}/{secret[:-2]}/{path}") == 404
        # The secret is in status (as Flux publishes its URL there) and nowhere else: not in events or the logs.
        events = sandbox.kube.list("v1", "Event", namespace=repo.namespace).items
        assert not [e for e in events if secret in json.dumps(e)]
        for log in sandbox.state.logs.glob("*.log"):
            assert secret not in log.read_text(errors="replace"), log.name
    finally:
        repo.delete()


def sandbox_processes(sandbox: SandboxHandle) -> list[psutil.Process]:
    status = json.loads(sandbox.state.status_file.read_text())
    roots = [psutil.Process(int(status["supervisor_pid"]))]
    found: dict[int, psutil.Process] = {}
    for root in roots:
        for proc in (root, *root.children(recursive=True)):
            found[proc.pid] = proc
    return list(found.values())


def test_every_listening_socket_of_the_sandbox_is_on_loopback(sandbox: SandboxHandle) -> None:
    names = set(components(sandbox))
    assert {"etcd", "kube-apiserver", "reconciler"} <= names
    listening: list[tuple[str, str, int]] = []
    for proc in sandbox_processes(sandbox):
        try:
            connections = proc.net_connections(kind="inet")
            name = proc.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        listening += [(name, c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 8, listening  # etcd (2), apiserver, controller-manager, scheduler, agent, reconciler…
    exposed = [entry for entry in listening if entry[1] not in LOOPBACK]
    assert not exposed, f"listening beyond loopback: {exposed}"


SECRET_NAMES = ("*.key", "*.token", "*token*", "tokens.csv", "kubeconfig", "*secret*", "*password*", "*.htpasswd",
                "credentials*")


def test_files_holding_secrets_are_0600_and_the_state_dir_is_private(sandbox: SandboxHandle) -> None:
    root = sandbox.state.path
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(sandbox.state.secrets.stat().st_mode) == 0o700
    checked = []
    for path in [*sandbox.state.secrets.rglob("*"), *(p for pattern in SECRET_NAMES for p in root.rglob(pattern))]:
        if path.is_file() and not path.is_symlink() and "/data/etcd/" not in str(path):
            checked.append(path)
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is readable by others"
    logs = list(sandbox.state.logs.glob("*.log"))  # a component's log may quote what it was given
    assert logs
    for log in logs:
        assert stat.S_IMODE(log.stat().st_mode) == 0o600, f"{log} is readable by others"
    names = {p.name for p in checked}
    assert {"etcd.key", "etcd-client.key", "serving.key", "sa.key", "admin.token", "tokens.csv", "kubeconfig",
            "artifact-url-secret"} <= names, sorted(names)


def test_the_apiserver_reaches_etcd_over_tls(sandbox: SandboxHandle) -> None:
    # The sandbox works: a write goes through the apiserver to etcd and back.
    sandbox.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "security-roundtrip", "namespace": "default"}, "data": {"k": "v"}})
    try:
        wait_until(lambda: sandbox.kube.get("v1", "ConfigMap", "security-roundtrip", "default")["data"] == {"k": "v"},
                   timeout=30, what="the ConfigMap to be read back")
    finally:
        sandbox.kube.delete("v1", "ConfigMap", "security-roundtrip", "default")
