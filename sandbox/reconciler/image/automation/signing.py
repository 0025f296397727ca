"""OpenPGP commit signing with ``spec.git.commit.signingKey``: the Secret's ``git.asc`` (one key, optionally
protected by ``passphrase``), imported into a throwaway GNUPGHOME for one signature."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.errors import CommandError, InputError
from sandbox.tools import gpg

SIGNING_SECRET_KEY = "git.asc"
PASSPHRASE_KEY = "passphrase"


class SigningError(InputError):
    """The signing key cannot be used; the message never holds key material or the passphrase."""


@dataclass(frozen=True)
class SigningKey:
    secret_name: str
    armored: str
    passphrase: str | None

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(secret={self.secret_name!r})"


def signing_key_from_secret(secret_name: str, data: Mapping[str, str] | None) -> SigningKey:
    """The key in a Secret's ``data`` (base64 values); upstream's messages when something is missing."""
    if data is None:
        raise SigningError(f"could not find signing key secret '{secret_name}': secret not found")
    decoded = {k: base64.b64decode(v).decode("utf-8", errors="replace") for k, v in data.items()}
    if SIGNING_SECRET_KEY not in decoded:
        raise SigningError(f"signing key secret '{secret_name}' does not contain a 'git.asc' key")
    return SigningKey(secret_name, decoded[SIGNING_SECRET_KEY], decoded.get(PASSPHRASE_KEY))


def sign(key: SigningKey, payload: str) -> str:
    """An armoured detached signature of ``payload`` (a commit object without its gpgsig header)."""
    with gpg.throwaway_home("sandbox-sign-", agent=True) as home:
        try:
            try:
                fingerprints = gpg.import_secret_keys(home, key.armored)
            except CommandError as err:
                raise SigningError(f"could not read signing key from secret '{key.secret_name}': "
                                   f"{_tail(err)}") from None
            if not fingerprints:
                raise SigningError(f"could not read signing key from secret '{key.secret_name}': no private key "
                                   "in 'git.asc'")
            if len(fingerprints) > 1:
                raise SigningError(f"multiple entities read from secret '{key.secret_name}', could not determine "
                                   "which signing key to use")
            passphrase_file = None
            if key.passphrase is not None:
                passphrase_file = home / "passphrase"
                fd = os.open(passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(key.passphrase)
            try:
                return gpg.detach_sign(home, fingerprints[0], payload, passphrase_file=passphrase_file)
            except CommandError as err:
                if key.passphrase is None:
                    raise SigningError(f"can not use passphrase protected signing key without 'passphrase' field "
                                       f"present in secret {key.secret_name}") from None
                raise SigningError(f"could not decrypt private key of the signing key present in secret "
                                   f"{key.secret_name}: {_tail(err)}") from None
        finally:
            gpg.stop_agent(home)


def _tail(err: CommandError) -> str:
    lines = [line for line in err.stderr_tail.splitlines() if line.strip().startswith("gpg:")]
    return lines[-1].strip() if lines else "gpg could not use it"


def signed_commit_object(payload: str, signature: str) -> str:
    """``payload`` (a commit object) with the signature as its ``gpgsig`` header, after ``committer``."""
    header, _, message = payload.partition("\n\n")
    lines = signature.rstrip("\n").split("\n")
    gpgsig = "gpgsig " + "\n ".join(lines)
    return f"{header}\n{gpgsig}\n\n{message}"
