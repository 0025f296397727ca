"""Sealing against a cluster's Sealed Secrets keys, for tests and tools: the ``sealed_secrets`` pytest fixture."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding

from sandbox.kube.client import KubeClient
from sandbox.reconciler.sealedsecrets.keys import Key, KeyRing
from sandbox.reconciler.sealedsecrets.seal import public_key_of, seal_raw, seal_secret

Obj = dict[str, Any]


class SealedSecretsKit:
    """``seal(secret)`` as kubeseal with the newest key, ``rotate()`` for a new sealing key, ``keys()``."""

    def __init__(self, kube: KubeClient) -> None:
        self.keyring = KeyRing(kube)

    @property
    def key(self) -> Key:
        """The key sealing now (generated when the cluster has none yet)."""
        return self.keyring.ensure()

    @property
    def public_key(self) -> RSAPublicKey:
        """The sealing key's public half (from its certificate)."""
        return public_key_of(self.cert_pem().encode(), source="the cluster's Sealed Secrets certificate")

    def cert_pem(self) -> str:
        return self.keyring.sealing_certificate().public_bytes(Encoding.PEM).decode()

    def seal(self, secret: Obj, *, scope: str | None = None) -> Obj:
        """The SealedSecret for ``secret`` (a Secret manifest, ``data`` base64 or ``stringData``)."""
        return seal_secret(secret, self.public_key, scope=scope)

    def seal_value(self, value: bytes, *, name: str = "", namespace: str = "", scope: str = "strict") -> str:
        return seal_raw(value, self.public_key, name=name, namespace=namespace, scope=scope)

    def rotate(self) -> Key:
        """A new key, which seals from now on; the old ones still unseal."""
        return self.keyring.rotate()

    def keys(self) -> list[Key]:
        return self.keyring.keys()
