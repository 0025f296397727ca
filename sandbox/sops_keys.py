"""The sandbox's SOPS key: an age identity kept as the decryption Secret Kustomizations reference, the
``.sops.yaml`` that encrypts for it, and encrypting with it (``sandbox sops``, the ``sops_key`` fixture)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import InputError
from sandbox.kube.client import KubeClient
from sandbox.tools import sops

SECRET_NAME = "sops-age"
SECRET_NAMESPACE = "flux-system"
KEY_ENTRY = "age.agekey"
ENCRYPTED_REGEX = "^(data|stringData)$"
CONFIG_FILE = ".sops.yaml"


@dataclass(frozen=True)
class SopsKey:
    """An age key pair: ``identity`` is private (never printed), ``recipient`` public."""

    identity: str = field(repr=False)
    recipient: str

    @classmethod
    def generate(cls) -> SopsKey:
        identity, recipient = sops.age_keygen()
        return cls(identity, recipient)

    @property
    def keys(self) -> sops.Keys:
        return sops.Keys(age=(self.identity,))

    def secret(self, name: str = SECRET_NAME, namespace: str = SECRET_NAMESPACE) -> dict[str, Any]:
        """The decryption Secret (``spec.decryption.secretRef``) holding this key as ``age.agekey``."""
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace,
                             "labels": {"app.kubernetes.io/managed-by": "gitops-sandbox"}},
                "data": {KEY_ENTRY: base64.b64encode(f"{self.identity}\n".encode()).decode()}}

    def encrypt(self, text: str, input_type: str = "yaml", *, encrypted_regex: str | None = ENCRYPTED_REGEX) -> str:
        """``text`` encrypted for this key (``data``/``stringData`` only, for YAML, unless told otherwise)."""
        regex = encrypted_regex if input_type in ("yaml", "json") else None
        return sops.encrypt(text, input_type=input_type, output_type=input_type, age_recipients=[self.recipient],
                            encrypted_regex=regex)

    def decrypt(self, text: str, input_type: str = "yaml") -> str:
        return sops.decrypt(text, input_type=input_type, output_type=input_type, keys=self.keys)


def decryption_spec(name: str = SECRET_NAME) -> dict[str, Any]:
    """A Kustomization's ``spec.decryption`` that uses the key Secret ``name``."""
    return {"provider": "sops", "secretRef": {"name": name}}


def install(kube: KubeClient, key: SopsKey, name: str = SECRET_NAME, namespace: str = SECRET_NAMESPACE) -> None:
    kube.apply(key.secret(name, namespace), field_manager="gitops-sandbox")


def read(kube: KubeClient, name: str = SECRET_NAME, namespace: str = SECRET_NAMESPACE) -> SopsKey:
    """The key stored in the decryption Secret (its first age identity)."""
    secret = kube.get_or_none("v1", "Secret", name, namespace)
    if secret is None:
        raise InputError(f"the SOPS key Secret {namespace}/{name} does not exist; create it with `sandbox sops keygen`")
    encoded = (secret.get("data") or {}).get(KEY_ENTRY)
    identities = sops.age_identities(base64.b64decode(encoded).decode()) if encoded else []
    if not identities:
        raise InputError(f"the Secret {namespace}/{name} holds no age key in {KEY_ENTRY!r}; recreate it with "
                         "`sandbox sops keygen --force`")
    return SopsKey(identities[0], sops.age_public_key(identities[0]))


def sops_config(recipient: str) -> str:
    """``.sops.yaml`` encrypting the ``data`` and ``stringData`` of YAML files for ``recipient``."""
    return ("creation_rules:\n"
            "  - path_regex: .*\\.ya?ml$\n"
            f"    encrypted_regex: {ENCRYPTED_REGEX}\n"
            f"    age: {recipient}\n")


def write_config(directory: Path, recipient: str) -> Path:
    path = directory / CONFIG_FILE
    path.write_text(sops_config(recipient))
    return path


@dataclass(frozen=True)
class InstalledKey:
    """A key stored in the cluster as the decryption Secret ``namespace/name`` (the ``sops_key`` fixture)."""

    key: SopsKey
    name: str
    namespace: str = SECRET_NAMESPACE

    @property
    def recipient(self) -> str:
        return self.key.recipient

    @property
    def decryption(self) -> dict[str, Any]:
        """``spec.decryption`` for a Kustomization in ``namespace``."""
        return decryption_spec(self.name)

    def encrypt(self, text: str, input_type: str = "yaml") -> str:
        return self.key.encrypt(text, input_type)

    def rotate(self, kube: KubeClient) -> SopsKey:
        """Store a new key in the Secret (files must be re-encrypted for it); the old key."""
        old = self.key
        fresh = SopsKey.generate()
        install(kube, fresh, self.name, self.namespace)
        object.__setattr__(self, "key", fresh)
        return old
