"""The Sealed Secrets hybrid encryption, byte for byte as upstream's ``pkg/crypto``.

A sealed value is ``len(rsa) as 2 bytes big-endian || RSA-OAEP-SHA256(session key, label) || AES-256-GCM(value)``
with a random 32-byte session key used once, hence a zero 12-byte nonce and no additional data. The OAEP label
binds the value to its scope: ``namespace/name`` (strict), ``namespace`` (namespace-wide), empty (cluster-wide).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SESSION_KEY_BYTES = 32
NONCE = bytes(12)

STRICT = "strict"
NAMESPACE_WIDE = "namespace-wide"
CLUSTER_WIDE = "cluster-wide"
SCOPES = (STRICT, NAMESPACE_WIDE, CLUSTER_WIDE)

NAMESPACE_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/cluster-wide"

# Upstream's messages (pkg/crypto): the controller reports these, never anything of the value.
TOO_SHORT = "SealedSecret data is too short"
NO_KEY = "no key could decrypt secret"


class UnsealError(Exception):
    """A value that no key could open; the message is upstream's and carries nothing of the value."""


def label(namespace: str, name: str, scope: str) -> bytes:
    """The OAEP label of ``scope`` (upstream's ``EncryptionLabel``)."""
    if scope == CLUSTER_WIDE:
        return b""
    if scope == NAMESPACE_WIDE:
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def scope_of(annotations: dict[str, str] | None) -> str:
    """The scope annotated on an object (upstream's ``SecretScope``): cluster-wide wins over namespace-wide."""
    annotations = annotations or {}
    if annotations.get(CLUSTER_WIDE_ANNOTATION) == "true":
        return CLUSTER_WIDE
    if annotations.get(NAMESPACE_WIDE_ANNOTATION) == "true":
        return NAMESPACE_WIDE
    return STRICT


def scope_annotations(annotations: dict[str, str] | None, scope: str) -> dict[str, str]:
    """``annotations`` with the scope annotations set for ``scope`` (upstream's ``UpdateScopeAnnotations``)."""
    result = {k: v for k, v in (annotations or {}).items()
              if k not in (NAMESPACE_WIDE_ANNOTATION, CLUSTER_WIDE_ANNOTATION)}
    if scope == NAMESPACE_WIDE:
        result[NAMESPACE_WIDE_ANNOTATION] = "true"
    elif scope == CLUSTER_WIDE:
        result[CLUSTER_WIDE_ANNOTATION] = "true"
    return result


def _oaep(label_bytes: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label_bytes or None)


def hybrid_encrypt(public_key: RSAPublicKey, plaintext: bytes, label_bytes: bytes,
                   session_key: bytes | None = None) -> bytes:
    """Seal ``plaintext`` (``session_key`` only for known-answer tests: it must never be reused)."""
    key = session_key if session_key is not None else os.urandom(SESSION_KEY_BYTES)
    rsa_ciphertext = public_key.encrypt(key, _oaep(label_bytes))
    return struct.pack(">H", len(rsa_ciphertext)) + rsa_ciphertext + AESGCM(key).encrypt(NONCE, plaintext, None)


def _single_decrypt(private_key: RSAPrivateKey, ciphertext: bytes, label_bytes: bytes) -> bytes:
    if len(ciphertext) < 2:
        raise UnsealError(TOO_SHORT)
    (rsa_len,) = struct.unpack(">H", ciphertext[:2])
    if len(ciphertext) < rsa_len + 2:
        raise UnsealError(TOO_SHORT)
    try:
        session_key = private_key.decrypt(ciphertext[2:rsa_len + 2], _oaep(label_bytes))
        return AESGCM(session_key).decrypt(NONCE, ciphertext[rsa_len + 2:], None)
    except (ValueError, InvalidTag):
        raise UnsealError(NO_KEY) from None


def hybrid_decrypt(private_keys: Iterable[RSAPrivateKey], ciphertext: bytes, label_bytes: bytes) -> bytes:
    """Open a sealed value with the first key that can; otherwise ``UnsealError`` with upstream's message, which
    (as upstream's ``HybridDecrypt``) is the same whatever each key's failure was."""
    for key in private_keys:
        try:
            return _single_decrypt(key, ciphertext, label_bytes)
        except UnsealError:
            continue
    raise UnsealError(NO_KEY)


def seal_value(public_key: RSAPublicKey, value: bytes, namespace: str, name: str, scope: str) -> str:
    """One ``encryptedData`` entry: the sealed value, base64 (standard alphabet, padded) as kubeseal writes it."""
    return base64.b64encode(hybrid_encrypt(public_key, value, label(namespace, name, scope))).decode()


def fingerprint(public_key: RSAPublicKey) -> str:
    """The key's fingerprint as upstream logs it: SHA256 of the SSH wire form, base64 without padding."""
    wire = public_key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).split()[1]
    digest = hashlib.sha256(base64.b64decode(wire)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
