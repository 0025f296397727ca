"""gpg: the one module that runs GnuPG — throwaway keyrings holding the public keys a verification trusts (and,
for tests and lessons, keys to sign with)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sandbox import binaries
from sandbox.errors import SandboxError
from sandbox.tools.run import Completed, run

# A keyring made for one verification trusts exactly the keys imported into it (the Secret is the trust root, as
# in Flux), and never starts a gpg-agent: verifying needs none, and an agent would outlive the keyring.
_VERIFY_CONF = "trust-model always\nno-autostart\n"


def program() -> Path:
    return binaries.require("gpg")


def gpg(home: Path, args: Sequence[str | Path], *, input_text: str | None = None, timeout: float = 30) -> Completed:
    return run([program(), "--homedir", home, "--batch", "--no-tty", *args], input_text=input_text,
               env={"GNUPGHOME": str(home)}, timeout=timeout)


@contextmanager
def throwaway_home(prefix: str = "sandbox-gnupg-", *, agent: bool = False) -> Iterator[Path]:
    """A private (0700) GNUPGHOME for one verification, removed afterwards. Short paths under the system temp
    dir: gpg's sockets must fit a Unix socket path. ``agent``: allow a gpg-agent (signing needs one; stop it with
    ``stop_agent`` before the home goes)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        os.chmod(home, 0o700)
        (home / "gpg.conf").write_text("trust-model always\n" if agent else _VERIFY_CONF)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def import_public_keys(home: Path, armored: Sequence[str]) -> None:
    """Import ASCII-armoured public keys into the keyring at ``home``."""
    for key in armored:
        gpg(home, ["--quiet", "--no-autostart", "--import"], input_text=key)


def generate_signing_key(home: Path, user_id: str) -> str:
    """A new ed25519 signing key without passphrase in the keyring at ``home`` (tests and lessons); returns its
    fingerprint. This one needs gpg-agent: stop it with ``stop_agent`` before removing ``home``."""
    gpg(home, ["--passphrase", "", "--quick-gen-key", user_id, "ed25519", "sign", "never"], timeout=60)
    listing = gpg(home, ["--with-colons", "--list-keys", user_id]).stdout
    for line in listing.splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise SandboxError(f"gpg made no key for {user_id!r}")


def export_public_key(home: Path, fingerprint: str) -> str:
    return gpg(home, ["--armor", "--export", fingerprint]).stdout


def stop_agent(home: Path) -> None:
    """Stop the gpg-agent serving ``home``, if one runs (``gpgconf --kill`` would start one to stop it)."""
    if any(home.glob("S.gpg-agent*")):
        gpgconf = shutil.which("gpgconf", path=str(program().parent)) or "gpgconf"
        run([gpgconf, "--homedir", home, "--kill", "gpg-agent"], env={"GNUPGHOME": str(home)}, ok_codes=(0, 1, 2))


def secret_key_fingerprints(home: Path) -> list[str]:
    """The fingerprints of the primary secret keys in the keyring at ``home``."""
    listing = gpg(home, ["--with-colons", "--list-secret-keys"]).stdout
    fingerprints, primary = [], False
    for line in listing.splitlines():
        if line.startswith("sec:"):
            primary = True
        elif line.startswith("fpr:") and primary:
            fingerprints.append(line.split(":")[9])
            primary = False
    return fingerprints


def import_secret_keys(home: Path, armored: str) -> list[str]:
    """Import an ASCII-armoured (secret) keyring; returns the secret keys' fingerprints. Key material goes
    through stdin only."""
    gpg(home, ["--quiet", "--import"], input_text=armored)
    return secret_key_fingerprints(home)


def detach_sign(home: Path, fingerprint: str, payload: str, *, passphrase_file: Path | None) -> str:
    """An ASCII-armoured detached signature of ``payload`` by key ``fingerprint``; the passphrase (if any) is read
    from a file, never argv. Raises CommandError with gpg's report (e.g. "Bad passphrase") when it cannot sign."""
    args: list[str | Path] = ["--pinentry-mode", "loopback"]
    args += ["--passphrase-file", passphrase_file] if passphrase_file else ["--passphrase", ""]
    args += ["--local-user", fingerprint, "--armor", "--detach-sign"]
    return gpg(home, args, input_text=payload, timeout=60).stdout
