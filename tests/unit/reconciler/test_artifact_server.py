"""The artifact server answers only under the sandbox's secret path segment, and never logs the secret."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.ports import free_ports
from sandbox.reconciler.process import artifact_base_url
from sandbox.reconciler.source.storage import SECRET_FILE, Storage, redact_url, url_secret


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Storage, str]]:
    (port,) = free_ports(1)
    storage = Storage(tmp_path / "artifacts", artifact_base_url(port, tmp_path))
    stored = storage.store_bytes(b"private tarball", "gitrepository/apps/private/abc.tar.gz")
    server = storage.serve(port)
    try:
        yield storage, storage.url_for(stored.path)
    finally:
        server.stop()


def test_the_published_url_works_and_a_guessed_one_is_404(served: tuple[Storage, str]) -> None:
    _, url = served
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"private tarball"
    secret = url.split("/")[3]
    origin = url.split(secret)[0].rstrip("/")
    assert status_of(f"{origin}/gitrepository/apps/private/abc.tar.gz") == 404  # the port alone
    assert status_of(f"{origin}/{secret[:-1]}/gitrepository/apps/private/abc.tar.gz") == 404  # a near miss
    assert status_of(f"{origin}/{secret}x/gitrepository/apps/private/abc.tar.gz") == 404
    assert status_of(f"{origin}/{secret}/gitrepository/apps/private/") == 404  # no listing, even with the secret
    assert status_of(f"{origin}/{secret}/../{secret}/gitrepository/apps/private/abc.tar.gz") in (400, 404)


def test_the_secret_is_redacted_from_request_logs(served: tuple[Storage, str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    _, url = served
    secret = url.split("/")[3]
    with caplog.at_level(logging.DEBUG, logger="sandbox.http"):
        status_of(url)
        status_of(url.replace(secret, "guess"))
    lines = [r.getMessage() for r in caplog.records]
    assert any("<secret>/gitrepository/apps/private/abc.tar.gz" in line for line in lines), lines
    assert not any(secret in line for line in lines)


def test_the_secret_is_kept_0600_and_reused(tmp_path: Path) -> None:
    first = url_secret(tmp_path / "data")
    assert len(first) >= 40
    assert (tmp_path / "data" / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert url_secret(tmp_path / "data") == first, "a restarted reconciler must keep the URLs in status valid"
    assert url_secret(tmp_path / "other") != first


def test_redact_url_hides_only_the_secret_segment(tmp_path: Path) -> None:
    secret = url_secret(tmp_path)
    url = f"http://127.0.0.1:4000/{secret}/gitrepository/apps/private/abc.tar.gz"
    assert redact_url(url) == "http://127.0.0.1:4000/<secret>/gitrepository/apps/private/abc.tar.gz"
    upstream = "http://127.0.0.1:4000/gitrepository/flux-system/podinfo/abc.tar.gz"  # source-controller's layout
    assert redact_url(upstream) == upstream
