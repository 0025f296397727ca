from pathlib import Path

import pytest

from sandbox.cluster import pki
from sandbox.errors import InputError
from sandbox.kube import kubeconfig


def test_written_kubeconfig_is_private_and_loads_back(tmp_path: Path) -> None:
    creds = pki.generate(tmp_path / "secrets", "t")
    target = tmp_path / "kubeconfig"
    kubeconfig.write(target, name="t", server="https://127.0.0.1:6443", ca_cert=creds.ca_cert, token=creds.token)
    assert target.stat().st_mode & 0o777 == 0o600
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (tmp_path / "secrets").iterdir())
    conn = kubeconfig.load(target)
    assert conn.server == "https://127.0.0.1:6443"
    assert conn.token == creds.token
    assert conn.ca_pem == creds.ca_cert.read_bytes()
    assert not conn.insecure
    conn.ssl_context()  # the CA parses


def test_missing_kubeconfig_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="sandbox status"):
        kubeconfig.load(tmp_path / "nope")


def test_unknown_context_is_named(tmp_path: Path) -> None:
    target = tmp_path / "kc"
    target.write_text("apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts: []\n")
    with pytest.raises(InputError, match="'x'"):
        kubeconfig.load(target)
