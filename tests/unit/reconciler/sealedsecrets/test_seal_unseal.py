"""Sealing as kubeseal does and unsealing as the controller does; errors name keys, never values."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from sandbox.errors import InputError
from sandbox.reconciler.sealedsecrets import crypto
from sandbox.reconciler.sealedsecrets.seal import seal_raw, seal_secret
from sandbox.reconciler.sealedsecrets.unseal import DEPRECATED_DATA, TemplateNotSupported, unseal

PLAIN = "pl41ntext-never-shown"


def secret(**meta: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "namespace": "app", **meta},
            "data": {"password": base64.b64encode(PLAIN.encode()).decode()}, "stringData": {"user": "admin"}}


def as_applied(sealed: dict[str, object], uid: str = "uid-1") -> dict[str, object]:
    meta = dict(sealed["metadata"])  # type: ignore[arg-type]
    meta["uid"] = uid
    return {**sealed, "metadata": meta}


def test_sealed_secret_shape_as_kubeseal(rsa_key: RSAPrivateKey) -> None:
    last_applied = "kubectl.kubernetes.io/last-applied-configuration"
    sealed = seal_secret(secret(labels={"app": "db"}, annotations={last_applied: PLAIN, "note": "x"},
                                uid="u", resourceVersion="1", creationTimestamp="2020-01-01T00:00:00Z"),
                         rsa_key.public_key())
    assert sealed["apiVersion"] == "bitnami.com/v1alpha1" and sealed["kind"] == "SealedSecret"
    assert sealed["metadata"] == {"name": "db", "namespace": "app"}
    assert sorted(sealed["spec"]["encryptedData"]) == ["password", "user"]
    assert sealed["spec"]["template"] == {"metadata": {"name": "db", "namespace": "app", "labels": {"app": "db"},
                                                       "annotations": {"note": "x"}}, "type": "Opaque"}
    assert PLAIN not in str(sealed)


def test_round_trip_restores_data_type_labels_and_owner(rsa_key: RSAPrivateKey) -> None:
    sealed = as_applied(seal_secret(secret(labels={"app": "db"}), rsa_key.public_key()))
    out = unseal(sealed, [rsa_key])
    assert base64.b64decode(out["data"]["password"]).decode() == PLAIN
    assert base64.b64decode(out["data"]["user"]) == b"admin"
    assert out["type"] == "Opaque"
    assert out["metadata"]["labels"] == {"app": "db"}
    assert out["metadata"]["ownerReferences"] == [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                                                   "name": "db", "uid": "uid-1", "controller": True}]


@pytest.mark.parametrize(("scope", "moved", "opens"), [
    (crypto.STRICT, {"name": "other"}, False),
    (crypto.STRICT, {"namespace": "other"}, False),
    (crypto.NAMESPACE_WIDE, {"name": "other"}, True),
    (crypto.NAMESPACE_WIDE, {"namespace": "other"}, False),
    (crypto.CLUSTER_WIDE, {"name": "other", "namespace": "other"}, True),
])
def test_scopes_decide_where_it_opens(rsa_key: RSAPrivateKey, scope: str, moved: dict[str, str],
                                      opens: bool) -> None:
    sealed = as_applied(seal_secret(secret(), rsa_key.public_key(), scope=scope))
    if scope != crypto.STRICT:
        assert sealed["metadata"]["annotations"] == {f"sealedsecrets.bitnami.com/{scope}": "true"}
    sealed["metadata"].update(moved)  # type: ignore[union-attr]
    if opens:
        assert base64.b64decode(unseal(sealed, [rsa_key])["data"]["password"]).decode() == PLAIN
    else:
        with pytest.raises(crypto.UnsealError) as caught:
            unseal(sealed, [rsa_key])
        assert str(caught.value) == "no key could decrypt secret (password, user)"
        assert PLAIN not in str(caught.value) and "admin" not in str(caught.value)


def test_wrong_key_message_is_upstreams(rsa_key: RSAPrivateKey, other_key: RSAPrivateKey) -> None:
    sealed = as_applied(seal_secret(secret(), rsa_key.public_key()))
    sealed["spec"]["encryptedData"]["broken"] = "not base64!"  # type: ignore[index]
    with pytest.raises(crypto.UnsealError) as caught:
        unseal(sealed, [other_key])
    assert str(caught.value) == ("illegal base64 data at input byte 3 (broken)\n"
                                 "no key could decrypt secret (password, user)")


def test_deprecated_data_and_template_data_are_refused(rsa_key: RSAPrivateKey) -> None:
    sealed = as_applied(seal_secret(secret(), rsa_key.public_key()))
    with pytest.raises(crypto.UnsealError, match=DEPRECATED_DATA):
        unseal({**sealed, "spec": {**sealed["spec"], "data": "AAAA"}}, [rsa_key])  # type: ignore[dict-item]
    template = {**sealed["spec"]["template"], "data": {"url": "postgres://{{ .password }}@db"}}  # type: ignore[index]
    with pytest.raises(TemplateNotSupported, match=r"spec\.template\.data is set but not supported"):
        unseal({**sealed, "spec": {**sealed["spec"], "template": template}}, [rsa_key])  # type: ignore[dict-item]


def test_skip_owner_references_annotation(rsa_key: RSAPrivateKey) -> None:
    skip = {"sealedsecrets.bitnami.com/skip-set-owner-references": "true"}
    sealed = as_applied(seal_secret(secret(annotations=skip), rsa_key.public_key()))
    assert "ownerReferences" not in unseal(sealed, [rsa_key])["metadata"]


def test_input_errors(rsa_key: RSAPrivateKey) -> None:
    with pytest.raises(InputError, match=r"secret\.data is empty"):
        seal_secret({"kind": "Secret", "metadata": {"name": "x"}}, rsa_key.public_key())
    with pytest.raises(InputError, match=r"missing metadata\.name"):
        seal_secret({"kind": "Secret", "metadata": {}, "stringData": {"a": "b"}}, rsa_key.public_key())
    with pytest.raises(InputError, match="namespace mismatch"):
        seal_secret(secret(), rsa_key.public_key(), namespace="other")
    with pytest.raises(InputError, match=r"data\.password is not base64"):
        seal_secret({**secret(), "data": {"password": PLAIN}}, rsa_key.public_key())
    with pytest.raises(InputError, match="needs --name"):
        seal_raw(b"v", rsa_key.public_key(), name="", namespace="app", scope=crypto.STRICT)


def test_namespace_defaults_to_default(rsa_key: RSAPrivateKey) -> None:
    sealed = seal_secret({"kind": "Secret", "metadata": {"name": "x"}, "stringData": {"a": "b"}},
                         rsa_key.public_key())
    assert sealed["metadata"]["namespace"] == "default"


def test_raw_value_opens_with_the_scope_label(rsa_key: RSAPrivateKey) -> None:
    value = seal_raw(b"v", rsa_key.public_key(), name="", namespace="app", scope=crypto.NAMESPACE_WIDE)
    assert crypto.hybrid_decrypt([rsa_key], base64.b64decode(value), b"app") == b"v"
