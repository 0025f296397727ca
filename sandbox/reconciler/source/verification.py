"""``spec.verify`` of a GitRepository: check the OpenPGP or SSH signature of the HEAD commit and/or the tag
against the public keys of a Secret (``*.asc`` OpenPGP keys, ``*.sshpub`` SSH keys), with real git, gpg and
ssh-keygen, as source-controller does. Keys live in a throwaway keyring for one verification; no key material
ever reaches a message."""

from __future__ import annotations

import base64
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import CommandError, InputError, NotFound
from sandbox.tools import git, gpg

# Condition and reasons (source-controller api/v1 and internal/controller/gitrepository_controller.go)
SOURCE_VERIFIED = "SourceVerified"
VERIFICATION_ERROR = "VerificationError"
INVALID_VERIFICATION_MODE = "InvalidVerificationMode"
INVALID_GIT_OBJECT = "InvalidGitObject"
INVALID_TAG_SIGNATURE = "InvalidTagSignature"
INVALID_COMMIT_SIGNATURE = "InvalidCommitSignature"

MODE_HEAD, MODE_TAG, MODE_TAG_AND_HEAD = "HEAD", "Tag", "TagAndHEAD"
PGP_SUFFIX, SSH_SUFFIX = ".asc", ".sshpub"
_PGP_PREFIXES = ("-----BEGIN PGP SIGNATURE-----", "-----BEGIN PGP MESSAGE-----")
_SSH_PREFIX = "-----BEGIN SSH SIGNATURE-----"


class VerificationFailed(InputError):
    """The revision must not be stored: ``reason`` is the SourceVerified reason; ``stalled`` when only a spec
    change can help."""

    def __init__(self, reason: str, message: str, *, stalled: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.stalled = stalled


@dataclass(frozen=True)
class TrustedKeys:
    pgp: tuple[str, ...]  # ASCII-armoured public keys
    ssh: tuple[str, ...]  # "ssh-ed25519 AAAA… comment" lines


def mode_of(verify: dict[str, Any] | None) -> str | None:
    """The verification mode set (``head`` is an old spelling of ``HEAD``), None when there is none."""
    if not verify:
        return None
    mode = str(verify.get("mode") or MODE_HEAD)
    return MODE_HEAD if mode.lower() == "head" else mode


def verifies_tag(mode: str) -> bool:
    return mode in (MODE_TAG, MODE_TAG_AND_HEAD)


def verifies_head(mode: str) -> bool:
    return mode in (MODE_HEAD, MODE_TAG_AND_HEAD)


def needs_verification(mode: str | None, observed: str | None) -> bool:
    """Whether an artifact already stored for the same revision must be verified again: not yet verified, or
    verified for fewer objects than the mode asks (source-controller's requiresVerification)."""
    if mode is None:
        return False
    if observed is None:
        return True
    return (observed == MODE_TAG and verifies_head(mode)) or (observed == MODE_HEAD and verifies_tag(mode))


def keys_from_secret(data: dict[str, str]) -> TrustedKeys:
    """The trusted keys in a Secret's (base64) data: OpenPGP keys under ``*.asc``, SSH keys under ``*.sshpub``
    (one or more per value, authorized_keys style)."""
    pgp, ssh = [], []
    for name in sorted(data):
        value = base64.b64decode(data[name]).decode(errors="replace")
        if name.endswith(PGP_SUFFIX):
            pgp.append(value)
        elif name.endswith(SSH_SUFFIX):
            ssh += [line.strip() for line in value.splitlines() if line.strip() and not line.startswith("#")]
    return TrustedKeys(tuple(pgp), tuple(ssh))


def allowed_signers(ssh_keys: tuple[str, ...]) -> str:
    """An allowed-signers file trusting each key for git signatures, whoever it names as the signer (the Secret
    is the trust root, as in Flux: the committer's email plays no part)."""
    lines = []
    for key in ssh_keys:
        fields = key.split()
        if len(fields) >= 2:
            lines.append(f'* namespaces="git" {fields[0]} {fields[1]}')
    return "\n".join(lines) + ("\n" if lines else "")


def signature_kind(raw_object: str, kind: str) -> str | None:
    """``pgp``, ``ssh``, ``other`` (x509…) or None (unsigned) for a raw commit (signature in the ``gpgsig``
    header) or tag object (signature after the message)."""
    if kind == "commit":
        headers = raw_object.split("\n\n", 1)[0]
        found = re.search(r"^gpgsig(?:-sha256)? (.*)$", headers, re.MULTILINE)
        signature = found.group(1) if found else ""
    else:
        starts = [raw_object.find(p) for p in (*_PGP_PREFIXES, _SSH_PREFIX, "-----BEGIN SIGNED MESSAGE-----")]
        signature = raw_object[min(s for s in starts if s >= 0):] if any(s >= 0 for s in starts) else ""
    if not signature.strip():
        return None
    if signature.startswith(_PGP_PREFIXES):
        return "pgp"
    if signature.startswith(_SSH_PREFIX):
        return "ssh"
    return "other"


_VALIDSIG = re.compile(r"^\[GNUPG:\] VALIDSIG (\S+)", re.MULTILINE)
_SSH_GOOD = re.compile(r'Good "git" signature (?:for \S+ )?with (\S+ key \S+)')


def signer_of(output: str) -> str:
    """The key a good signature was made with: the OpenPGP fingerprint or the SSH key's type and fingerprint."""
    found = _VALIDSIG.search(output)
    if found:
        return found.group(1)
    found = _SSH_GOOD.search(output)
    return found.group(1) if found else "unknown"


def load_keys(kube: Any, namespace: str, verify: dict[str, Any]) -> TrustedKeys:
    name = str((verify.get("secretRef") or {}).get("name", ""))
    try:
        secret = kube.get("v1", "Secret", name, namespace)
    except NotFound as err:
        raise VerificationFailed(VERIFICATION_ERROR, f"PGP public keys secret error: secrets \"{name}\" not found") \
            from err
    return keys_from_secret(secret.get("data") or {})


def _check(mirror: Path, kind: str, sha: str, keys: TrustedKeys, what: str) -> str:
    """Verify one object; returns the signer, raises the reason's failure."""
    reason = INVALID_TAG_SIGNATURE if kind == "tag" else INVALID_COMMIT_SIGNATURE
    prefix = f"signature verification of {what} failed: unable to verify Git {kind}"
    signed = signature_kind(git.raw_object(mirror, kind, sha), kind)
    if signed is None:
        raise VerificationFailed(reason, f"{prefix}: unable to verify payload as the provided signature is empty")
    if signed == "other" or (signed == "pgp" and not keys.pgp) or (signed == "ssh" and not keys.ssh):
        raise VerificationFailed(reason, f"{prefix}: unable to verify payload with any of the given key rings")
    with gpg.throwaway_home() as home, tempfile.TemporaryDirectory(prefix="sandbox-signers-") as scratch:
        signers = Path(scratch) / "allowed_signers"
        signers.write_text(allowed_signers(keys.ssh))
        try:
            if signed == "pgp":
                gpg.import_public_keys(home, keys.pgp)
        except CommandError as err:
            raise VerificationFailed(reason, f"{prefix}: unable to read the public keys of the secret "
                                     f"(gpg exited with code {err.returncode})") from err
        check = git.verify_signature(mirror, kind, sha, gnupg_home=home, allowed_signers=signers)
    if not check.good:
        raise VerificationFailed(reason, f"{prefix}: unable to verify payload with any of the given key rings")
    return signer_of(check.output)


def verify(mirror: Path, *, sha: str, tag: str | None, tag_object: str | None, mode: str,
           keys: TrustedKeys) -> str:
    """Verify what ``mode`` asks for; returns the SourceVerified message, raises VerificationFailed."""
    lines = []
    if verifies_tag(mode):
        if tag is None:
            raise VerificationFailed(INVALID_VERIFICATION_MODE, "cannot verify tag object's signature if a tag "
                                     "reference is not specified", stalled=True)
        if tag_object is None or signature_kind(git.raw_object(mirror, "tag", tag_object), "tag") is None:
            raise VerificationFailed(INVALID_GIT_OBJECT,
                                     f"cannot verify signature of tag '{tag}@{tag_object or sha}' since it is not "
                                     "signed")
        signer = _check(mirror, "tag", tag_object, keys, f"tag '{tag}@{tag_object}'")
        lines.append(f"tag '{tag}@{tag_object}' with key '{signer}'")
    if verifies_head(mode):
        signer = _check(mirror, "commit", sha, keys, f"commit '{sha}'")
        lines.append(f"commit '{sha}' with key '{signer}'")
    return "verified signature of\n" + "\n".join(f"\t- {line}" for line in lines)
