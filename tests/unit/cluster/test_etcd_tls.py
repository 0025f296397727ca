"""etcd's command line and the apiserver's flags: TLS with client certificates from the sandbox CA, loopback only."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sandbox.cluster import pki
from sandbox.cluster.etcd import Etcd


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_etcd_serves_tls_only_and_demands_client_certificates(tmp_path: Path) -> None:
    creds = pki.generate(tmp_path / "secrets", "t")
    etcd = Etcd(Path("/bin/etcd"), tmp_path / "data", 2379, 2380, creds)
    argv = etcd.argv()
    for name in ("--listen-client-urls", "--advertise-client-urls"):
        assert flag(argv, name) == "https://127.0.0.1:2379"
    for name in ("--listen-peer-urls", "--initial-advertise-peer-urls"):
        assert flag(argv, name) == "https://127.0.0.1:2380"
    assert "--client-cert-auth" in argv and "--peer-client-cert-auth" in argv
    assert flag(argv, "--trusted-ca-file") == flag(argv, "--peer-trusted-ca-file") == str(creds.ca_cert)
    assert flag(argv, "--cert-file") == str(creds.etcd_cert) and flag(argv, "--key-file") == str(creds.etcd_key)
    assert not any(part.startswith("http://") for part in argv)

    api = etcd.apiserver_args()
    assert flag(api, "--etcd-servers") == "https://127.0.0.1:2379"
    assert flag(api, "--etcd-certfile") == str(creds.etcd_client_cert)
    assert flag(api, "--etcd-keyfile") == str(creds.etcd_client_key)
    assert flag(api, "--etcd-cafile") == str(creds.ca_cert)
    probe = etcd.probe()
    assert probe.url == "https://127.0.0.1:2379/health" and probe.cert_file == str(creds.etcd_client_cert)


def test_etcd_certificates_are_signed_by_the_sandbox_ca_and_private(tmp_path: Path) -> None:
    creds = pki.generate(tmp_path / "secrets", "t")
    ca = x509.load_pem_x509_certificate(creds.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(creds.etcd_cert.read_bytes())
    client = x509.load_pem_x509_certificate(creds.etcd_client_cert.read_bytes())
    for cert in (server, client):
        cert.verify_directly_issued_by(ca)
    usages = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)  # peer TLS too
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    for path in (creds.etcd_key, creds.etcd_client_key, creds.etcd_cert, creds.etcd_client_cert):
        assert path.stat().st_mode & 0o777 == 0o600
    assert pki.load(tmp_path / "secrets") == creds
