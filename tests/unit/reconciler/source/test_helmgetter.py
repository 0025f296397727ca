"""How a HelmRepository is reached: credentials and TLS from its Secrets (malformed ones named, never their values),
credentials sent to the repository's host only unless passCredentials, and Helm's wording of a failed GET."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.reconciler.source import helmgetter

Obj = dict[str, Any]


class SecretKube:
    def __init__(self, **secrets: dict[str, str]) -> None:
        self.secrets = {name: {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
                        for name, data in secrets.items()}

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        if name in self.secrets:
            return self.secrets[name]
        raise NotFound(name)


def repository(**spec: Any) -> Obj:
    return {"metadata": {"name": "charts", "namespace": "ns"}, "spec": {"url": "http://127.0.0.1:1", **spec}}


class Recorder:
    """A loopback HTTP server answering 200 with the path, recording each request's Authorization header."""

    def __init__(self) -> None:
        seen: list[str | None] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                seen.append(self.headers.get("Authorization"))
                body = b"missing" if self.path == "/missing" else self.path.encode()
                self.send_response(404 if self.path == "/missing" else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.seen = seen
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_credentials_go_to_the_repository_host_only_unless_pass_credentials(recorder: Recorder) -> None:
    kube = SecretKube(auth={"username": "u", "password": "p"})
    here, there = f"http://127.0.0.1:{recorder.port}", f"http://localhost:{recorder.port}"
    with helmgetter.http_options(kube, repository(secretRef={"name": "auth"}), here + "/", 5) as options:
        assert helmgetter.get(f"{here}/index.yaml", options) == b"/index.yaml"
        helmgetter.get(f"{there}/chart.tgz", options)
    with helmgetter.http_options(kube, repository(secretRef={"name": "auth"}, passCredentials=True), here + "/",
                                 5) as options:
        helmgetter.get(f"{there}/chart.tgz", options)
    basic = "Basic " + base64.b64encode(b"u:p").decode()
    assert recorder.seen == [basic, None, basic]


def test_a_failed_get_reads_as_helm_words_it(recorder: Recorder) -> None:
    options = helmgetter.HTTPOptions(f"http://127.0.0.1:{recorder.port}/")
    with pytest.raises(helmgetter.FetchError) as failed:
        helmgetter.get(f"http://127.0.0.1:{recorder.port}/missing", options)
    assert str(failed.value) == f"failed to fetch http://127.0.0.1:{recorder.port}/missing : 404 Not Found"
    assert failed.value.status == 404
    with pytest.raises(helmgetter.FetchError, match="exceeds the maximum size of 3 bytes"):
        helmgetter.get(f"http://127.0.0.1:{recorder.port}/index.yaml", options, limit=3)


@pytest.mark.parametrize(("secrets", "spec", "message"), [
    ({}, {"secretRef": {"name": "auth"}},
     "failed to get authentication secret 'ns/auth': secrets \"auth\" not found"),
    ({"auth": {"username": "u"}}, {"secretRef": {"name": "auth"}},
     "failed to detect authentication methods: secret 'ns/auth': malformed basic auth - has 'username' but missing "
     "'password'"),
    ({}, {"certSecretRef": {"name": "tls"}},
     "failed to get TLS authentication secret 'ns/tls': secrets \"tls\" not found"),
    ({"tls": {"tls.crt": "cert"}}, {"certSecretRef": {"name": "tls"}},
     "failed to construct Helm client's TLS config: secret 'ns/tls' must contain both 'tls.crt' and 'tls.key', or "
     "neither"),
])
def test_bad_secrets_are_named(secrets: dict[str, dict[str, str]], spec: Obj, message: str) -> None:
    with pytest.raises(helmgetter.SecretError) as failed, \
            helmgetter.http_options(SecretKube(**secrets), repository(**spec), "http://h/", 5):
        pass
    assert str(failed.value) == message


def test_tls_files_exist_for_the_block_only() -> None:
    kube = SecretKube(tls={"ca.crt": "CA", "tls.crt": "CERT", "tls.key": "KEY"})
    with helmgetter.http_options(kube, repository(certSecretRef={"name": "tls"}), "https://h/", 5) as options:
        assert options.ca_file and Path(options.ca_file).read_text() == "CA"
        assert options.client_cert and Path(options.client_cert[1]).stat().st_mode & 0o077 == 0
        folder = Path(options.ca_file).parent
    assert not folder.exists()
