"""Secrets sealed into SealedSecrets as ``kubeseal`` seals them (upstream's ``kubeseal.Seal`` and
``NewSealedSecret``): every value sealed on its own with the scope's label, the Secret's metadata kept as the
template (without ``kubectl``'s last-applied copy, which would hold the values in clear)."""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from sandbox.errors import InputError
from sandbox.reconciler.sealedsecrets.crypto import (
    CLUSTER_WIDE,
    STRICT,
    scope_annotations,
    scope_of,
    seal_value,
)

Obj = dict[str, Any]
LAST_APPLIED = ("kubectl.kubernetes.io/last-applied-configuration", "kubecfg.ksonnet.io/last-applied-configuration")
SERVER_FIELDS = ("selfLink", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds", "managedFields")


def public_key_of(cert_pem: bytes, *, source: str) -> RSAPublicKey:
    """The RSA public key in a PEM certificate (as ``kubeseal --cert``)."""
    try:
        key = x509.load_pem_x509_certificate(cert_pem).public_key()
    except ValueError:
        raise InputError(f"{source}: not a PEM certificate; get the sandbox's with `sandbox seal --fetch-cert`") \
            from None
    if not isinstance(key, RSAPublicKey):
        raise InputError(f"{source}: the certificate's key is not RSA (Sealed Secrets keys are)")
    return key


def _values(secret: Obj, where: str) -> dict[str, bytes]:
    values: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{where}: data.{key} is not base64 (put clear text under stringData)") from None
    for key, value in (secret.get("stringData") or {}).items():
        values[key] = str(value).encode()
    return values


def seal_secret(secret: Obj, public_key: RSAPublicKey, *, scope: str | None = None, name: str = "",
                namespace: str = "", default_namespace: str = "default", allow_empty: bool = False,
                where: str = "the input Secret") -> Obj:
    """The SealedSecret for ``secret``; ``scope`` (when not strict) overrides the scope annotations."""
    if secret.get("kind") != "Secret":
        raise InputError(f"{where}: kind is {secret.get('kind')!r}, not Secret")
    values = _values(secret, where)
    if not values and not allow_empty:
        raise InputError("secret.data is empty in input Secret, assuming this is an error and aborting. To work "
                         "with empty data, --allow-empty-data can be used")
    meta = copy.deepcopy(secret.get("metadata") or {})
    if name:
        meta["name"] = name
    if not meta.get("name"):
        raise InputError("missing metadata.name in input Secret")
    if scope and scope != STRICT:
        meta["annotations"] = scope_annotations(meta.get("annotations"), scope)
    effective = scope_of(meta.get("annotations"))
    if effective != CLUSTER_WIDE:
        if namespace and meta.get("namespace") and meta["namespace"] != namespace:
            raise InputError(f"namespace mismatch: input secret is in namespace {meta['namespace']!r} but "
                             f"{namespace!r} was specified")
        meta["namespace"] = meta.get("namespace") or namespace or default_namespace
    for field in SERVER_FIELDS:
        meta.pop(field, None)
    meta.pop("ownerReferences", None)
    template_meta = copy.deepcopy(meta)
    annotations = {k: v for k, v in (template_meta.get("annotations") or {}).items() if k not in LAST_APPLIED}
    if annotations:
        template_meta["annotations"] = annotations
    else:
        template_meta.pop("annotations", None)
    ns = meta.get("namespace", "")
    sealed_meta: Obj = {"name": meta["name"]}
    if ns:
        sealed_meta["namespace"] = ns
    scope_only = scope_annotations(None, effective)
    if scope_only:
        sealed_meta["annotations"] = scope_only
    template: Obj = {"metadata": template_meta}
    if secret.get("type"):
        template["type"] = secret["type"]
    if secret.get("immutable") is not None:
        template["immutable"] = secret["immutable"]
    encrypted = {key: seal_value(public_key, value, ns, meta["name"], effective)
                 for key, value in sorted(values.items())}
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": sealed_meta,
            "spec": {"encryptedData": encrypted, "template": template}}


def seal_raw(value: bytes, public_key: RSAPublicKey, *, name: str, namespace: str, scope: str) -> str:
    """One sealed value (``kubeseal --raw``): strict needs name and namespace, namespace-wide the namespace."""
    if scope != CLUSTER_WIDE and not namespace:
        raise InputError(f"--raw with scope {scope} needs --namespace")
    if scope == STRICT and not name:
        raise InputError("--raw with scope strict needs --name")
    return seal_value(public_key, value, namespace, name, scope)
