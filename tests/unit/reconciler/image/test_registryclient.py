"""The reflector's registry access against a small in-process registry double speaking the distribution API's
auth and pagination: a Bearer challenge answered at its token realm with Basic credentials, ``?n=`` pages linked by
the ``Link`` header, a manifest HEAD for digests; and the scheme rules of go-containerregistry."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from sandbox.oci.distribution import Credentials, OCIError, Unauthorized
from sandbox.reconciler.image.auth import Access
from sandbox.reconciler.image.reference import ImageURLInvalid, parse_image, plain_http_allowed
from sandbox.reconciler.image.registryclient import list_tags, tag_digest

TAGS = [f"1.0.{n}" for n in range(7)]
DIGEST = "sha256:" + "ab" * 32
BASIC = "Basic " + base64.b64encode(b"robot:s3cret").decode()


class Registry(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def log_message(self, *_: Any) -> None:
        return None

    def _send(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _challenge(self) -> bool:
        if self.headers.get("Authorization") == "Bearer good-token":
            return False
        host = self.headers["Host"]
        self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                   {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="double",'
                                        'scope="repository:team/app:pull"'})
        return True

    def do_GET(self) -> None:
        url = urlparse(self.path)
        Registry.seen.append(self.path)
        if url.path == "/v2/":
            self._send(401, headers={"WWW-Authenticate": f'Bearer realm="http://{self.headers["Host"]}/token"'})
        elif url.path == "/token":
            query = parse_qs(url.query)
            ok = self.headers.get("Authorization") == BASIC and query.get("scope") == ["repository:team/app:pull"]
            self._send(200, {"token": "good-token"}) if ok else self._send(401)
        elif url.path == "/v2/team/app/tags/list":
            if self._challenge():
                return
            query = parse_qs(url.query)
            size = int(query.get("n", ["100"])[0])
            after = query.get("last", [""])[0]
            rest = [tag for tag in TAGS if tag > after]
            page = rest[:size]
            headers = {}
            if len(rest) > size:
                headers["Link"] = f'</v2/team/app/tags/list?n={size}&last={page[-1]}>; rel="next"'
            self._send(200, {"name": "team/app", "tags": page}, headers)
        else:
            self._send(404)

    def do_HEAD(self) -> None:
        if self._challenge():
            return
        if self.path == "/v2/team/app/manifests/1.0.3":
            self._send(200, headers={"Docker-Content-Digest": DIGEST})
        else:
            self._send(404)


@pytest.fixture
def registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Registry.seen = []
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_bearer_challenge_and_pagination(registry: str) -> None:
    image = parse_image(f"{registry}/team/app")
    assert list_tags(image, Access(Credentials("robot", "s3cret")), page_size=3) == TAGS
    pages = [p for p in Registry.seen if p.startswith("/v2/team/app/tags/list")]
    assert pages[0] == "/v2/team/app/tags/list?n=3"
    assert any("last=1.0.5" in p for p in pages), "followed the Link header to the last page"


def test_wrong_credentials_fail_at_the_token_service(registry: str) -> None:
    with pytest.raises(Unauthorized, match="token service"):
        list_tags(parse_image(f"{registry}/team/app"), Access(Credentials("robot", "wrong")))


def test_digest_from_a_manifest_head(registry: str) -> None:
    image = parse_image(f"{registry}/team/app")
    assert tag_digest(image, "1.0.3", Access(Credentials("robot", "s3cret"))) == DIGEST


def test_nothing_listening_names_every_scheme_tried() -> None:
    image = parse_image("127.0.0.1:1/team/app")
    with pytest.raises(OCIError) as caught:
        list_tags(image, Access(timeout=2))
    assert "https" in str(caught.value) and "http" in str(caught.value)


@pytest.mark.parametrize(("image", "canonical"), [
    ("alpine", "index.docker.io/library/alpine"),
    ("docker.io/library/alpine", "index.docker.io/library/alpine"),
    ("stefanprodan/podinfo", "index.docker.io/stefanprodan/podinfo"),
    ("ghcr.io/stefanprodan/podinfo", "ghcr.io/stefanprodan/podinfo"),
    ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app"),
    ("localhost:5000/app", "localhost:5000/app"),
    ("localhost/app", "localhost/app"),
])
def test_canonical_names_as_go_containerregistry(image: str, canonical: str) -> None:
    assert parse_image(image).canonical == canonical


@pytest.mark.parametrize(("image", "message"), [
    ("https://ghcr.io/app", "should not start with URL scheme; remove 'https://'"),
    ("ghcr.io/app:1.0", "should not contain a tag; remove ':1.0'"),
    ("127.0.0.1:5000/app:v1", "should not contain a tag; remove ':v1'"),
    ("ghcr.io/App", "could not parse reference"),
])
def test_invalid_images(image: str, message: str) -> None:
    with pytest.raises(ImageURLInvalid, match=message):
        parse_image(image)


@pytest.mark.parametrize(("registry", "plain"), [
    ("localhost:5000", True), ("127.0.0.1:5000", True), ("[::1]:5000", True), ("10.1.2.3:5000", True),
    ("192.168.1.10", True), ("172.20.0.1:80", True), ("172.32.0.1", False), ("ghcr.io", False),
    ("localhost", False),  # go-containerregistry allows plain HTTP for localhost with a port only
])
def test_plain_http_fallback_as_go_containerregistry(registry: str, plain: bool) -> None:
    assert plain_http_allowed(registry) is plain
    assert parse_image(f"{registry}/app").schemes() == (("https", "http") if plain else ("https",))
    assert parse_image(f"{registry}/app", insecure=True).schemes() == ("https", "http")
