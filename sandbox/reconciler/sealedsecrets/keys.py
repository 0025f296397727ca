"""The controller's key pairs, kept as upstream keeps them: ``kubernetes.io/tls`` Secrets named
``sealed-secrets-key<random>`` in ``kube-system``, labelled ``sealedsecrets.bitnami.com/sealed-secrets-key=active``.

The newest key (by its certificate's notBefore, upstream's default ordering) seals; every key unseals, so that
values sealed before a rotation still open. A new key is an RSA 4096 key with a self-signed certificate valid for
ten years, as upstream's controller generates at start and at each renewal.
"""

from __future__ import annotations

import base64
import datetime
import secrets
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.x509.oid import NameOID

from sandbox.errors import InputError
from sandbox.kube.client import KubeClient, Obj
from sandbox.reconciler.sealedsecrets.crypto import fingerprint

NAMESPACE = "kube-system"
KEY_PREFIX = "sealed-secrets-key"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
KEY_SELECTOR = f"{KEY_LABEL}=active"
KEY_SIZE = 4096
VALID_FOR = datetime.timedelta(days=10 * 365)
TLS_KEY = "tls.key"
TLS_CERT = "tls.crt"


@dataclass(frozen=True)
class Key:
    secret_name: str
    private: RSAPrivateKey
    cert: x509.Certificate

    @property
    def public(self) -> RSAPublicKey:
        return self.private.public_key()

    @property
    def not_before(self) -> datetime.datetime:
        return self.cert.not_valid_before_utc

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: str) -> bytes:
    return base64.b64decode(value)


def generate(cn: str = "", not_before: datetime.datetime | None = None) -> tuple[RSAPrivateKey, x509.Certificate]:
    """A new key pair and its self-signed certificate, as upstream's ``GeneratePrivateKeyAndCert``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    start = (not_before or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(secrets.randbits(128) or 1)
            .not_valid_before(start).not_valid_after(start + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=True, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def key_secret(private: RSAPrivateKey, cert: x509.Certificate) -> Obj:
    """The key Secret as upstream's ``writeKey`` creates it (``generateName`` picks the suffix)."""
    key_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"generateName": KEY_PREFIX, "namespace": NAMESPACE, "labels": {KEY_LABEL: "active"}},
            "data": {TLS_KEY: _b64(key_pem), TLS_CERT: _b64(cert.public_bytes(serialization.Encoding.PEM))}}


def read_key(secret: Obj) -> Key:
    """The key pair in a key Secret; an error naming the Secret (never its content) when it holds none."""
    name = secret["metadata"]["name"]
    data = secret.get("data") or {}
    try:
        private = serialization.load_pem_private_key(_unb64(data[TLS_KEY]), password=None)
        cert = x509.load_pem_x509_certificates(_unb64(data[TLS_CERT]))[0]
    except (KeyError, ValueError, IndexError, TypeError):
        raise InputError(f"Secret {NAMESPACE}/{name}: not a Sealed Secrets key (it needs PEM entries "
                         f"{TLS_KEY} and {TLS_CERT}); remove its label {KEY_LABEL}") from None
    if not isinstance(private, RSAPrivateKey):
        raise InputError(f"Secret {NAMESPACE}/{name}: {TLS_KEY} is not an RSA key")
    return Key(name, private, cert)


class KeyRing:
    """The labelled key Secrets, read from the cluster (parsed keys cached by resourceVersion)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._cache: dict[tuple[str, str], Key] = {}
        self._lock = threading.Lock()
        self._ensure_lock = threading.Lock()

    def keys(self) -> list[Key]:
        """Every valid key, newest first (by certificate notBefore, then by the Secret's creation)."""
        items = sorted(self.kube.list("v1", "Secret", NAMESPACE, label_selector=KEY_SELECTOR).items,
                       key=lambda s: (s["metadata"].get("creationTimestamp", ""), s["metadata"]["name"]))
        found: list[tuple[int, Key]] = []
        with self._lock:
            for index, secret in enumerate(items):
                meta = secret["metadata"]
                cache_key = (meta["name"], meta.get("resourceVersion", ""))
                key = self._cache.get(cache_key)
                if key is None:
                    try:
                        key = read_key(secret)
                    except InputError:
                        continue  # upstream logs and skips an unreadable key
                    self._cache[cache_key] = key
                found.append((index, key))
        found.sort(key=lambda pair: (pair[1].not_before, pair[0]), reverse=True)
        return [key for _, key in found]

    def sealing_certificate(self) -> x509.Certificate:
        """The newest key's certificate, read without loading any private key (generating the first key when
        there is none): what sealing needs."""
        items = self.kube.list("v1", "Secret", NAMESPACE, label_selector=KEY_SELECTOR).items
        found: list[tuple[datetime.datetime, str, x509.Certificate]] = []
        for secret in items:
            try:
                cert = x509.load_pem_x509_certificates(_unb64((secret.get("data") or {})[TLS_CERT]))[0]
            except (KeyError, ValueError, IndexError, TypeError):
                continue
            found.append((cert.not_valid_before_utc, secret["metadata"].get("creationTimestamp", ""), cert))
        if not found:
            return self.ensure().cert
        return max(found, key=lambda entry: (entry[0], entry[1]))[2]

    def newest(self) -> Key | None:
        keys = self.keys()
        return keys[0] if keys else None

    def ensure(self) -> Key:
        """The newest key, generating the first one when there is none."""
        with self._ensure_lock:
            return self.newest() or self.rotate()

    def rotate(self) -> Key:
        """Generate a new key and make it the sealing key (its notBefore is after every other key's)."""
        newest = self.newest()
        start = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        if newest is not None and start <= newest.not_before:
            start = newest.not_before + datetime.timedelta(seconds=1)
        private, cert = generate(not_before=start)
        created = self.kube.create(key_secret(private, cert))
        return Key(created["metadata"]["name"], private, cert)
