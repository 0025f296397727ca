"""``sandbox sops keygen|encrypt|decrypt|edit``: the sandbox's age key and the real sops with it."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sandbox import sops_keys
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION, kube_for
from sandbox.errors import InputError
from sandbox.reconciler.kustomize.decrypt import format_for_path
from sandbox.sops_keys import SopsKey
from sandbox.tools import sops as sops_tool

SECRET_OPTION = click.option("--secret", "secret_name", default=sops_keys.SECRET_NAME, show_default=True,
                             help="The decryption Secret in flux-system (spec.decryption.secretRef.name).")


@click.group()
def sops() -> None:
    """Secrets in git with Mozilla SOPS and an age key the sandbox keeps as a decryption Secret.

    \b
    Examples:
      sandbox sops keygen --dir .                 # key Secret flux-system/sops-age, ./.sops.yaml
      sandbox sops encrypt --in-place db.yaml     # data/stringData encrypted for it
      # Kustomization: spec.decryption: {provider: sops, secretRef: {name: sops-age}}
    """


@sops.command()
@NAME_OPTION
@SECRET_OPTION
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The working copy to write .sops.yaml into.")
@click.option("--rotate", is_flag=True, help="Replace an existing key (re-encrypt your files for the new one).")
def keygen(name: str | None, secret_name: str, directory: Path, rotate: bool) -> None:
    """Make an age key, store it as the decryption Secret, and write .sops.yaml encrypting for it.

    An existing key is kept (its .sops.yaml written again) unless --rotate is given. The private key never
    leaves the cluster's Secret; .sops.yaml holds only the public key.
    """
    kube = kube_for(name)
    key: SopsKey | None = None
    if not rotate and kube.get_or_none("v1", "Secret", secret_name, sops_keys.SECRET_NAMESPACE) is not None:
        key = sops_keys.read(kube, secret_name)
        output.info(f"kept the key in Secret {sops_keys.SECRET_NAMESPACE}/{secret_name} (--rotate replaces it)")
    if key is None:
        key = SopsKey.generate()
        sops_keys.install(kube, key, secret_name)
        output.success(f"stored a new age key in Secret {sops_keys.SECRET_NAMESPACE}/{secret_name}")
    written = sops_keys.write_config(directory, key.recipient)
    output.success(f"wrote {written} (encrypted_regex {sops_keys.ENCRYPTED_REGEX})")
    click.echo(key.recipient)


def _type_of(path: Path) -> str:
    return format_for_path(path.name)


@sops.command()
@NAME_OPTION
@SECRET_OPTION
@click.option("--in-place", "-i", is_flag=True, help="Replace FILE instead of printing the result.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def encrypt(name: str | None, secret_name: str, in_place: bool, file: Path) -> None:
    """Encrypt FILE for the sandbox's key (YAML and JSON: only data and stringData)."""
    key = sops_keys.read(kube_for(name), secret_name)
    text = file.read_text()
    if sops_tool.AGE_PREFIX in text.upper() or "\nsops:" in text or "sops_mac=" in text:
        raise InputError(f"{file} is already encrypted (or holds an age key); decrypt it first")
    encrypted = key.encrypt(text, _type_of(file))
    if in_place:
        file.write_text(encrypted)
        output.success(f"encrypted {file} for {key.recipient}")
    else:
        click.echo(encrypted, nl=False)


@sops.command()
@NAME_OPTION
@SECRET_OPTION
@click.option("--in-place", "-i", is_flag=True, help="Replace FILE instead of printing the result.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def decrypt(name: str | None, secret_name: str, in_place: bool, file: Path) -> None:
    """Decrypt FILE with the sandbox's key (the MAC is checked). Prints plaintext: mind your terminal."""
    key = sops_keys.read(kube_for(name), secret_name)
    plain = key.decrypt(file.read_text(), _type_of(file))
    if in_place:
        descriptor = os.open(file, os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(descriptor, "w") as out:
            out.write(plain)
        output.success(f"decrypted {file} (do not commit it)")
    else:
        click.echo(plain, nl=False)


@sops.command()
@NAME_OPTION
@SECRET_OPTION
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def edit(name: str | None, secret_name: str, file: Path) -> None:
    """Open FILE decrypted in $EDITOR (sops edit) and encrypt it again on save; a new FILE is encrypted for the
    sandbox's key."""
    key = sops_keys.read(kube_for(name), secret_name)
    args: list[str | Path] = ["edit", "--input-type", _type_of(file), "--output-type", _type_of(file)]
    if not file.exists():
        args += ["--age", key.recipient]
        if _type_of(file) in ("yaml", "json"):
            args += ["--encrypted-regex", sops_keys.ENCRYPTED_REGEX]
    code = sops_tool.interactive([*args, file.resolve()], key.keys)
    if code not in (0, 200):  # 200: sops' "file has not changed"
        raise InputError(f"sops edit {file} failed (exit code {code})")


COMMANDS = [sops]
