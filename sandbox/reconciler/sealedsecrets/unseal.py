"""A SealedSecret unsealed into the Secret it stands for, as upstream's ``SealedSecret.Unseal`` does it.

Errors carry upstream's messages tagged with the keys they concern (``no key could decrypt secret (password)``),
never anything of a value.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from sandbox.reconciler.sealedsecrets.crypto import UnsealError, hybrid_decrypt, label, scope_of

Obj = dict[str, Any]
API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
SKIP_OWNER_REFERENCES = "sealedsecrets.bitnami.com/skip-set-owner-references"
DEPRECATED_DATA = "using deprecated 'data' field, use 'encryptedData' or flip the feature flag"
# spec.template.data renders Go templates (with sprig) over the plaintext: not implemented here.
TEMPLATE_DATA_UNSUPPORTED = ("spec.template.data is set but not supported by the gitops-sandbox reconciler (Go "
                             "templates over the unsealed values are not implemented); nothing was written: "
                             "seal every key instead")


class TemplateNotSupported(Exception):
    """``spec.template.data`` is set; said plainly rather than ignored."""


def _join(errors: list[tuple[str, str]]) -> str:
    """Upstream's ``multierror.Uniq``: one line per message, the keys it concerns in parentheses."""
    grouped: dict[str, list[str]] = {}
    for key, message in errors:
        grouped.setdefault(message, []).append(key)
    return "\n".join(f"{message} ({', '.join(keys)})" for message, keys in grouped.items())


def _b64_error(value: str) -> str:
    """Go's ``base64.CorruptInputError`` message for a value the standard alphabet cannot decode."""
    alphabet = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    raw = value.encode()
    for index, byte in enumerate(raw):
        if byte not in alphabet:
            return f"illegal base64 data at input byte {index}"
    return f"illegal base64 data at input byte {len(raw) // 4 * 4}"


def unseal(sealed: Obj, private_keys: Sequence[RSAPrivateKey]) -> Obj:
    """The Secret ``sealed`` stands for; ``UnsealError`` with upstream's message when any value does not open."""
    meta = sealed["metadata"]
    spec = sealed.get("spec") or {}
    template = spec.get("template") or {}
    if spec.get("data") is not None:
        raise UnsealError(DEPRECATED_DATA)
    if template.get("data"):
        raise TemplateNotSupported(TEMPLATE_DATA_UNSUPPORTED)
    template_meta = copy.deepcopy(template.get("metadata") or {})
    label_bytes = label(meta["namespace"], meta["name"], scope_of(template_meta.get("annotations")))
    data: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for key in sorted(spec.get("encryptedData") or {}):
        value = spec["encryptedData"][key]
        try:
            ciphertext = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            errors.append((key, _b64_error(str(value))))
            continue
        try:
            data[key] = base64.b64encode(hybrid_decrypt(private_keys, ciphertext, label_bytes)).decode()
        except UnsealError as err:
            errors.append((key, str(err)))
    if errors:
        raise UnsealError(_join(errors))
    secret_meta: Obj = {key: template_meta[key] for key in ("labels", "annotations", "finalizers")
                        if template_meta.get(key)}
    secret_meta.update(name=meta["name"], namespace=meta["namespace"])
    if (template_meta.get("annotations") or {}).get(SKIP_OWNER_REFERENCES) != "true":
        secret_meta["ownerReferences"] = [{"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"],
                                           "uid": meta.get("uid", ""), "controller": True}]
    secret: Obj = {"apiVersion": "v1", "kind": "Secret", "metadata": secret_meta, "data": data}
    if template.get("type"):
        secret["type"] = template["type"]
    if template.get("immutable") is not None:
        secret["immutable"] = template["immutable"]
    return secret
