"""`sandbox seal` offline (--cert): no sandbox needed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from sandbox.cli.main import cli
from sandbox.reconciler.sealedsecrets import crypto
from sandbox.reconciler.sealedsecrets.keys import generate
from sandbox.reconciler.sealedsecrets.unseal import unseal

SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: app}\nstringData: {password: s3cr3t-value}\n"


@pytest.fixture(scope="module")
def key_and_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[RSAPrivateKey, Path]:
    private, cert = generate()
    from cryptography.hazmat.primitives.serialization import Encoding

    path = tmp_path_factory.mktemp("cert") / "sealing.pem"
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return private, path


def test_help_shows_an_example() -> None:
    result = CliRunner().invoke(cli, ["seal", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "--fetch-cert" in result.output


def test_seal_from_stdin_with_a_cert_offline(key_and_cert: tuple[RSAPrivateKey, Path]) -> None:
    private, cert = key_and_cert
    result = CliRunner().invoke(cli, ["seal", "--cert", str(cert), "-o", "yaml", "--scope", "namespace-wide"],
                                input=SECRET)
    assert result.exit_code == 0, result.output
    assert "s3cr3t-value" not in result.output
    sealed = yaml.safe_load(result.output)
    assert sealed["metadata"]["annotations"] == {crypto.NAMESPACE_WIDE_ANNOTATION: "true"}
    sealed["metadata"]["uid"] = "u"
    assert base64.b64decode(unseal(sealed, [private])["data"]["password"]) == b"s3cr3t-value"


def test_json_by_default_and_raw(key_and_cert: tuple[RSAPrivateKey, Path], tmp_path: Path) -> None:
    private, cert = key_and_cert
    result = CliRunner().invoke(cli, ["seal", "--cert", str(cert)], input=SECRET)
    assert json.loads(result.output)["kind"] == "SealedSecret"
    (tmp_path / "v").write_bytes(b"raw-value")
    raw = CliRunner().invoke(cli, ["seal", "--cert", str(cert), "--raw", "--name", "db", "-n", "app",
                                   "--from-file", str(tmp_path / "v")])
    assert raw.exit_code == 0, raw.output
    assert crypto.hybrid_decrypt([private], base64.b64decode(raw.output), b"app/db") == b"raw-value"


def test_bad_input_is_one_clear_line(key_and_cert: tuple[RSAPrivateKey, Path], tmp_path: Path) -> None:
    _, cert = key_and_cert
    empty = CliRunner().invoke(cli, ["seal", "--cert", str(cert)], input="kind: Secret\nmetadata: {name: x}\n")
    assert empty.exit_code != 0 and "secret.data is empty" in empty.output
    (tmp_path / "bad.pem").write_text("not a cert")
    bad = CliRunner().invoke(cli, ["seal", "--cert", str(tmp_path / "bad.pem")], input=SECRET)
    assert bad.exit_code != 0 and "not a PEM certificate" in bad.output
    raw = CliRunner().invoke(cli, ["seal", "--cert", str(cert), "--raw"])
    assert raw.exit_code != 0 and "--raw needs --from-file" in raw.output
