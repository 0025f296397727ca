"""Both directions against an independent implementation (PyPI kubesealpy)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from sandbox.reconciler.sealedsecrets import crypto
from sandbox.reconciler.sealedsecrets.seal import seal_secret
from sandbox.reconciler.sealedsecrets.unseal import unseal

kubesealpy = pytest.importorskip("kubesealpy", reason="kubesealpy (a test dependency) is not installed")

SCOPES = {crypto.STRICT: kubesealpy.SealingScope.STRICT, crypto.NAMESPACE_WIDE: kubesealpy.SealingScope.NAMESPACE_WIDE,
          crypto.CLUSTER_WIDE: kubesealpy.SealingScope.CLUSTER_WIDE}


@pytest.mark.parametrize("scope", crypto.SCOPES)
def test_sealed_by_kubesealpy_unsealed_here(rsa_key: RSAPrivateKey, scope: str) -> None:
    theirs = kubesealpy.Sealer(rsa_key.public_key()).seal(
        name="db", namespace="app", data={"password": b"from-kubesealpy"}, scope=SCOPES[scope],
        labels={"app": "db"})
    sealed = theirs.model_dump(by_alias=True, exclude_none=True)
    # kubesealpy puts the scope annotations on the SealedSecret only; upstream reads the template's.
    annotations = sealed["metadata"].get("annotations")
    if annotations:
        sealed["spec"]["template"]["metadata"]["annotations"] = annotations
    sealed["metadata"]["uid"] = "u"
    out = unseal(sealed, [rsa_key])
    assert base64.b64decode(out["data"]["password"]) == b"from-kubesealpy"
    assert out["metadata"]["labels"] == {"app": "db"}


@pytest.mark.parametrize("scope", crypto.SCOPES)
def test_sealed_here_unsealed_by_kubesealpy(rsa_key: RSAPrivateKey, scope: str) -> None:
    ours = seal_secret({"kind": "Secret", "metadata": {"name": "db", "namespace": "app"},
                        "stringData": {"password": "from-sandbox"}}, rsa_key.public_key(), scope=scope)
    out = kubesealpy.Unsealer([rsa_key]).unseal(kubesealpy.SealedSecret.model_validate(ours))
    assert base64.b64decode(out.data["password"]) == b"from-sandbox"


def test_kubesealpy_refuses_a_strict_value_moved_to_another_namespace(rsa_key: RSAPrivateKey) -> None:
    ours = seal_secret({"kind": "Secret", "metadata": {"name": "db", "namespace": "app"},
                        "stringData": {"password": "x"}}, rsa_key.public_key())
    ours["metadata"]["namespace"] = "other"
    with pytest.raises(kubesealpy.KubesealPyError):
        kubesealpy.Unsealer([rsa_key]).unseal(kubesealpy.SealedSecret.model_validate(ours))
