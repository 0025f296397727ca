"""Per-sandbox credentials: a CA, a loopback serving certificate, etcd's serving and client certificates,
service-account keys and an admin token."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.state import write_private

SERVING_DNS_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                     "kubernetes.default.svc.cluster.local")
SERVING_IPS = ("127.0.0.1", "10.96.0.1")


@dataclass(frozen=True)
class Credentials:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path
    token_file: Path
    token_auth_file: Path
    etcd_cert: Path  # etcd's serving (and peer) certificate: server and client auth, for 127.0.0.1
    etcd_key: Path
    etcd_client_cert: Path  # the kube-apiserver's (and probes') client certificate for etcd
    etcd_client_key: Path

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _leaf(ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, common_name: str,
          usages: list[x509.ObjectIdentifier], *, alt_names: list[x509.GeneralName] | None = None,
          validity: tuple[datetime.datetime, datetime.datetime]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0]).not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _paths(directory: Path) -> Credentials:
    return Credentials(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "serving.crt",
        serving_key=directory / "serving.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
        token_file=directory / "admin.token",
        token_auth_file=directory / "tokens.csv",
        etcd_cert=directory / "etcd.crt",
        etcd_key=directory / "etcd.key",
        etcd_client_cert=directory / "etcd-client.crt",
        etcd_client_key=directory / "etcd-client.key",
    )


def generate(directory: Path, sandbox_name: str) -> Credentials:
    """Create fresh credentials in ``directory`` (files 0600); nothing is shared between sandboxes."""
    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(minutes=5)
    not_after = now + datetime.timedelta(days=365)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"gitops-sandbox {sandbox_name} CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    serving_key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVING_DNS_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVING_IPS]
    serving_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    usage = x509.oid.ExtendedKeyUsageOID
    loopback: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    etcd_cert, etcd_key = _leaf(ca_key, ca_name, "etcd", [usage.SERVER_AUTH, usage.CLIENT_AUTH],
                                alt_names=loopback, validity=(not_before, not_after))
    client_cert, client_key = _leaf(ca_key, ca_name, "kube-apiserver-etcd-client", [usage.CLIENT_AUTH],
                                    validity=(not_before, not_after))

    sa_key = ec.generate_private_key(ec.SECP256R1())
    token = secrets.token_urlsafe(32)

    creds = _paths(directory)
    write_private(creds.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    write_private(creds.serving_cert, serving_cert.public_bytes(serialization.Encoding.PEM))
    write_private(creds.serving_key, _pem_key(serving_key))
    write_private(creds.sa_key, _pem_key(sa_key))
    write_private(creds.sa_pub, sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    write_private(creds.token_file, token + "\n")
    write_private(creds.token_auth_file, f'{token},admin,admin,"system:masters"\n')
    write_private(creds.etcd_cert, etcd_cert.public_bytes(serialization.Encoding.PEM))
    write_private(creds.etcd_key, _pem_key(etcd_key))
    write_private(creds.etcd_client_cert, client_cert.public_bytes(serialization.Encoding.PEM))
    write_private(creds.etcd_client_key, _pem_key(client_key))
    return creds


def load(directory: Path) -> Credentials:
    return _paths(directory)
