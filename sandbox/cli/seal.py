"""``sandbox seal``: what ``kubeseal`` does, against the sandbox's Sealed Secrets key."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import yaml
from cryptography.hazmat.primitives.serialization import Encoding

from sandbox.cli.common import kube_for
from sandbox.errors import InputError, UsageError
from sandbox.reconciler.sealedsecrets.crypto import SCOPES, STRICT
from sandbox.reconciler.sealedsecrets.keys import KeyRing
from sandbox.reconciler.sealedsecrets.seal import public_key_of, seal_raw, seal_secret


def _cert_pem(sandbox_name: str | None, cert: Path | None) -> bytes:
    if cert is not None:
        try:
            return cert.read_bytes()
        except OSError as err:
            raise InputError(f"{cert}: cannot read the certificate: {err.strerror}") from None
    return KeyRing(kube_for(sandbox_name)).sealing_certificate().public_bytes(Encoding.PEM)


def _read(path: str) -> tuple[str, str]:
    if path == "-":
        return sys.stdin.read(), "stdin"
    try:
        return Path(path).read_text(), path
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None


def _secrets(text: str, where: str) -> list[dict[str, object]]:
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as err:
        raise InputError(f"{where}: not valid YAML or JSON: {err}") from None
    if not documents:
        raise InputError("no secrets found. Ensure the input is valid and UTF-8 encoded")
    if not all(isinstance(doc, dict) for doc in documents):
        raise InputError(f"{where}: expected Secret objects")
    return documents


@click.command()
@click.option("-f", "--file", "source", default="-", show_default=True, metavar="FILE",
              help="The Secret(s) to seal, YAML or JSON ('-': stdin).")
@click.option("--scope", type=click.Choice(SCOPES), default=STRICT, show_default=True,
              help="Where the sealed value may be unsealed: only under this name and namespace (strict), under any "
                   "name in the namespace (namespace-wide), anywhere (cluster-wide).")
@click.option("--raw", is_flag=True, help="Seal one value (from --from-file) and print it, for encryptedData.")
@click.option("--name", default="", help="The Secret's name (with --raw; otherwise overrides metadata.name).")
@click.option("-n", "--namespace", default="", help="The Secret's namespace (default: its own, else 'default').")
@click.option("--from-file", "from_file", type=click.Path(dir_okay=False, path_type=Path),
              help="With --raw: the file whose content to seal.")
@click.option("--fetch-cert", is_flag=True, help="Print the sandbox's sealing certificate (PEM) and exit.")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path),
              help="Seal offline with this certificate (from --fetch-cert) instead of asking the sandbox.")
@click.option("-o", "--format", "output_format", type=click.Choice(["json", "yaml"]), default="json",
              show_default=True, help="Output format (kubeseal's default is json).")
@click.option("--allow-empty-data", is_flag=True, help="Seal a Secret that has no data.")
@click.option("--sandbox", "sandbox_name", default=None, metavar="NAME",
              help="Sandbox name (default: $SANDBOX_NAME, else 'default').")
def seal(source: str, scope: str, raw: bool, name: str, namespace: str, from_file: Path | None, fetch_cert: bool,
         cert: Path | None, output_format: str, allow_empty_data: bool, sandbox_name: str | None) -> None:
    """Seal Secrets into SealedSecrets (bitnami.com/v1alpha1), as `kubeseal` does, with the sandbox's key.

    The sandbox's reconciler unseals them into Secrets; only it holds the private key. Sealing needs only the
    certificate, so `--fetch-cert` once and `--cert` seal offline (as in CI).

    \b
    Examples:
      kubectl create secret generic db --from-literal=password=s3cr3t -n app --dry-run=client -o yaml \\
        | sandbox seal -o yaml > db-sealed.yaml
      sandbox seal -f secret.yaml --scope namespace-wide -o yaml
      sandbox seal --fetch-cert > sealing.pem
      sandbox seal --cert sealing.pem --raw --name db -n app --from-file password.txt
    """
    if fetch_cert:
        click.echo(_cert_pem(sandbox_name, cert).decode(), nl=False)
        return
    if raw:
        if from_file is None:
            raise UsageError("--raw needs --from-file FILE (the value to seal)")
        try:
            value = from_file.read_bytes()
        except OSError as err:
            raise InputError(f"{from_file}: cannot read: {err.strerror}") from None
        key = public_key_of(_cert_pem(sandbox_name, cert), source=str(cert or "the sandbox's certificate"))
        click.echo(seal_raw(value, key, name=name, namespace=namespace, scope=scope), nl=False)
        return
    text, where = _read(source)
    documents = _secrets(text, where)
    key = public_key_of(_cert_pem(sandbox_name, cert), source=str(cert or "the sandbox's certificate"))
    sealed = [seal_secret(doc, key, scope=scope, name=name, namespace=namespace,
                          allow_empty=allow_empty_data, where=where) for doc in documents]
    for each in sealed:
        if output_format == "yaml":
            click.echo("---\n" + yaml.safe_dump(each, sort_keys=False, width=1 << 16), nl=False)
        else:
            click.echo(json.dumps(each, indent=2))


COMMANDS = [seal]
