"""An in-memory OCI distribution registry on loopback for tests: tags, manifests and blobs, optional basic auth.

It stands in where the real sandbox registry cannot show a case (HTTP 401) and lets unit tests exercise the
client and the OCIRepository controller over real HTTP without a sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.httpserve import LoopbackHTTPServer, LoopbackServer

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


class FakeRegistry:
    def __init__(self, *, username: str = "", password: str = "", token: bool = False,
                 tls: ssl.SSLContext | None = None) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}  # "repo@digest" -> (raw, media type)
        self.tags: dict[str, dict[str, str]] = {}  # repo -> tag -> digest
        self.username, self.password = username, password
        self.token = token  # answer 401 with a bearer challenge; /token trades the basic credentials for a token
        self.tls = tls  # serve HTTPS with this server context
        self.requests: list[str] = []
        self.uploads: dict[str, bytes] = {}  # upload session -> bytes so far
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    # --- content ------------------------------------------------------------------------------------------------

    def add_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def add_manifest(self, repository: str, tag: str, raw: bytes, media_type: str = MANIFEST_TYPE) -> str:
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        with self._lock:
            self.manifests[f"{repository}@{digest}"] = (raw, media_type)
            if tag:
                self.tags.setdefault(repository, {})[tag] = digest
        return digest

    # --- serving ------------------------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.port}"

    def start(self) -> FakeRegistry:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, code: int, error: str, message: str) -> None:
                body = json.dumps({"errors": [{"code": error, "message": message}]}).encode()
                headers = {"Content-Type": "application/json"}
                if code == 401:
                    headers["WWW-Authenticate"] = (f'Bearer realm="http://{registry.host}/token",service="fake"'
                                                   if registry.token else 'Basic realm="fake"')
                self._send(code, body, headers)

            def _basic_ok(self) -> bool:
                expected = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
                return self.headers.get("Authorization", "") == f"Basic {expected}"

            def _authorized(self) -> bool:
                if not registry.username:
                    return True
                if registry.token:
                    return self.headers.get("Authorization", "") == "Bearer fake-token"
                return self._basic_ok()

            def _route(self) -> None:
                registry.requests.append(f"{self.command} {self.path}")
                path = self.path.split("?", 1)[0]
                if path == "/token":
                    if self._basic_ok():
                        self._send(200, b'{"token": "fake-token"}', {"Content-Type": "application/json"})
                    else:
                        self._send(401, b"{}")
                    return
                if not self._authorized():
                    self._error(401, "UNAUTHORIZED", "authentication required")
                    return
                if path == "/v2/":
                    self._send(200, b"{}")
                    return
                if match := re.fullmatch(r"/v2/(.+)/tags/list", path):
                    repository = match.group(1)
                    if repository not in registry.tags:
                        self._error(404, "NAME_UNKNOWN", "repository name not known to registry")
                        return
                    body = json.dumps({"name": repository, "tags": sorted(registry.tags[repository])}).encode()
                    self._send(200, body, {"Content-Type": "application/json"})
                    return
                if match := re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path):
                    repository, reference = match.groups()
                    digest = reference if reference.startswith("sha256:") \
                        else registry.tags.get(repository, {}).get(reference, "")
                    found = registry.manifests.get(f"{repository}@{digest}")
                    if found is None:
                        self._error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {reference}")
                        return
                    raw, media_type = found
                    self._send(200, raw, {"Content-Type": media_type, "Docker-Content-Digest": digest})
                    return
                if match := re.fullmatch(r"/v2/(.+)/blobs/([^/]+)", path):
                    data = registry.blobs.get(match.group(2))
                    if data is None:
                        self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                        return
                    self._send(200, data, {"Content-Type": "application/octet-stream",
                                           "Docker-Content-Digest": match.group(2)})
                    return
                self._error(404, "NOT_FOUND", path)

            def _upload(self) -> None:
                """Blob uploads (POST, PATCH chunks, PUT ?digest=) and manifest PUTs, as clients push."""
                registry.requests.append(f"{self.command} {self.path}")
                if not self._authorized():
                    self._error(401, "UNAUTHORIZED", "authentication required")
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if match := re.fullmatch(r"/v2/(.+)/blobs/uploads/", path):
                    session = f"s{len(registry.uploads)}"
                    registry.uploads[session] = b""
                    self._send(202, headers={"Location": f"/v2/{match.group(1)}/blobs/uploads/{session}",
                                             "Range": "0-0"})
                    return
                if match := re.fullmatch(r"/v2/(.+)/blobs/uploads/([^/]+)", path):
                    session = match.group(2)
                    registry.uploads[session] = registry.uploads.get(session, b"") + body
                    if self.command == "PATCH":
                        size = len(registry.uploads[session])
                        self._send(202, headers={"Location": path, "Range": f"0-{max(size - 1, 0)}"})
                        return
                    digest = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("digest", "")
                    data = registry.uploads.pop(session)
                    if digest.replace("%3A", ":") != registry.add_blob(data):
                        self._error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
                        return
                    self._send(201, headers={"Docker-Content-Digest": digest.replace("%3A", ":")})
                    return
                if match := re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path):
                    repository, reference = match.groups()
                    media_type = self.headers.get("Content-Type", MANIFEST_TYPE)
                    digest = registry.add_manifest(repository, "" if reference.startswith("sha256:") else reference,
                                                   body, media_type)
                    self._send(201, headers={"Docker-Content-Digest": digest})
                    return
                self._error(404, "NOT_FOUND", path)

            def do_POST(self) -> None:
                self._upload()

            def do_PATCH(self) -> None:
                self._upload()

            def do_PUT(self) -> None:
                self._upload()

            def do_GET(self) -> None:
                self._route()

            def do_HEAD(self) -> None:
                self._route()

        context = self.tls

        class TLSServer(LoopbackHTTPServer):
            def __init__(self, port: int, handler: Any) -> None:
                super().__init__(port, handler, name="fake-registry-tls")
                assert context is not None
                self.socket = context.wrap_socket(self.socket, server_side=True)

        self._server = LoopbackServer(Handler, name="fake-registry",
                                      server_class=TLSServer if context is not None else None).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> FakeRegistry:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
