"""The hybrid format, byte for byte: layout, labels per scope, several keys, and upstream's own ciphertexts."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sandbox.reconciler.sealedsecrets import crypto

VECTORS = json.loads((Path(__file__).parent / "upstream_vectors.json").read_text())


def test_labels_per_scope_as_upstream_encryption_label() -> None:
    assert crypto.label("ns", "name", crypto.STRICT) == b"ns/name"
    assert crypto.label("ns", "name", crypto.NAMESPACE_WIDE) == b"ns"
    assert crypto.label("ns", "name", crypto.CLUSTER_WIDE) == b""


def test_scope_annotations_cluster_wide_wins() -> None:
    both = {crypto.CLUSTER_WIDE_ANNOTATION: "true", crypto.NAMESPACE_WIDE_ANNOTATION: "true"}
    assert crypto.scope_of(both) == crypto.CLUSTER_WIDE
    assert crypto.scope_of({crypto.NAMESPACE_WIDE_ANNOTATION: "true"}) == crypto.NAMESPACE_WIDE
    assert crypto.scope_of({crypto.NAMESPACE_WIDE_ANNOTATION: "false"}) == crypto.STRICT
    assert crypto.scope_annotations(both, crypto.STRICT) == {}


def test_layout_length_prefix_rsa_oaep_session_key_then_aes_gcm_with_zero_nonce(rsa_key: RSAPrivateKey) -> None:
    session_key = bytes(range(32))
    sealed = crypto.hybrid_encrypt(rsa_key.public_key(), b"hello", b"ns/name", session_key=session_key)
    (rsa_len,) = struct.unpack(">H", sealed[:2])
    assert rsa_len == 256  # a 2048-bit modulus
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"ns/name")
    assert rsa_key.decrypt(sealed[2:2 + rsa_len], oaep) == session_key
    # Known answer: AES-256-GCM under that key, nonce of 12 zero bytes, no additional data.
    assert sealed[2 + rsa_len:] == AESGCM(session_key).encrypt(bytes(12), b"hello", None)
    assert len(sealed) == 2 + 256 + len(b"hello") + 16


@pytest.mark.parametrize("scope", crypto.SCOPES)
def test_round_trip_per_scope_and_wrong_label_fails(rsa_key: RSAPrivateKey, scope: str) -> None:
    label = crypto.label("team-a", "db", scope)
    sealed = crypto.hybrid_encrypt(rsa_key.public_key(), b"value", label)
    assert crypto.hybrid_decrypt([rsa_key], sealed, label) == b"value"
    with pytest.raises(crypto.UnsealError, match=r"^no key could decrypt secret$"):
        crypto.hybrid_decrypt([rsa_key], sealed, crypto.label("team-b", "db", scope) + b"x")


def test_every_key_is_tried(rsa_key: RSAPrivateKey, other_key: RSAPrivateKey) -> None:
    sealed = crypto.hybrid_encrypt(rsa_key.public_key(), b"value", b"")
    assert crypto.hybrid_decrypt([other_key, rsa_key], sealed, b"") == b"value"
    with pytest.raises(crypto.UnsealError, match="no key could decrypt secret"):
        crypto.hybrid_decrypt([other_key], sealed, b"")


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x02\x00abc"])
def test_truncated_data_is_no_key_could_decrypt(rsa_key: RSAPrivateKey, data: bytes) -> None:
    with pytest.raises(crypto.UnsealError, match="no key could decrypt secret"):
        crypto.hybrid_decrypt([rsa_key], data, b"")


def test_a_tampered_value_does_not_open(rsa_key: RSAPrivateKey) -> None:
    sealed = bytearray(crypto.hybrid_encrypt(rsa_key.public_key(), b"value", b""))
    sealed[-1] ^= 1
    with pytest.raises(crypto.UnsealError):
        crypto.hybrid_decrypt([rsa_key], bytes(sealed), b"")


def _upstream_key() -> RSAPrivateKey:
    key = serialization.load_pem_private_key(VECTORS["private_key_pem"].encode(), password=None)
    assert isinstance(key, RSAPrivateKey)
    return key


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["Scope"])
def test_known_answers_sealed_by_upstream_code_open_here(vector: dict[str, str]) -> None:
    """Ciphertexts made by upstream's own HybridEncrypt and EncryptionLabel (see the file's generator)."""
    key = _upstream_key()
    label = crypto.label(vector["Namespace"], vector["Name"], vector["Scope"])
    assert label == vector["Label"].encode()
    assert crypto.hybrid_decrypt([key], base64.b64decode(vector["Ciphertext"]), label) == vector["Plaintext"].encode()


@pytest.mark.parametrize("vector", [v for v in VECTORS["vectors"] if v["Scope"] != crypto.CLUSTER_WIDE],
                         ids=lambda v: v["Scope"])
def test_known_answers_do_not_open_under_another_namespace(vector: dict[str, str]) -> None:
    label = crypto.label("team-b", vector["Name"], vector["Scope"])
    with pytest.raises(crypto.UnsealError):
        crypto.hybrid_decrypt([_upstream_key()], base64.b64decode(vector["Ciphertext"]), label)


def test_fingerprint_as_upstream_ssh_sha256() -> None:
    assert crypto.fingerprint(_upstream_key().public_key()) == VECTORS["fingerprint"]
