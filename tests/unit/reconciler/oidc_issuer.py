"""A local OIDC issuer for tests: its own keys, a discovery document and JWKS (served on loopback when asked), and
tokens signed with them — the way GitHub Actions or Forgejo mint the tokens a generic-oidc Receiver verifies."""

from __future__ import annotations

import base64
import http.server
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sandbox.httpserve import LoopbackServer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int, size: int | None = None) -> str:
    return b64(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


class Issuer:
    def __init__(self, url: str = "", algorithms: tuple[str, ...] = ("RS256", "ES256")) -> None:
        self.url = url
        self.algorithms = algorithms
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.server: LoopbackServer | None = None

    def jwks(self) -> dict[str, Any]:
        rsa_numbers = self.rsa.public_key().public_numbers()
        ec_numbers = self.ec.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": _int(rsa_numbers.n),
             "e": _int(rsa_numbers.e)},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": _int(ec_numbers.x, 32), "y": _int(ec_numbers.y, 32)},
        ]}

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.url, "jwks_uri": self.url + "/keys",
                "id_token_signing_alg_values_supported": list(self.algorithms)}

    def fetch(self, url: str) -> bytes:
        """In-process stand-in for HTTP: the two documents go-oidc reads."""
        documents = {self.url + "/.well-known/openid-configuration": self.discovery(), self.url + "/keys": self.jwks()}
        return json.dumps(documents[url]).encode()

    def token(self, algorithm: str = "RS256", *, audience: str | list[str] = "notification-controller",
              expires_in: float = 300, issuer: str | None = None, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.url if issuer is None else issuer, "aud": audience, "iat": now,
                   "exp": now + int(expires_in), "sub": "repo:team/app:ref:refs/heads/main", **claims}
        header = {"alg": algorithm, "typ": "JWT", "kid": kid or ("ec" if algorithm.startswith("ES") else "rsa")}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}".encode()
        if algorithm == "ES256":
            r, s = decode_dss_signature(self.ec.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            signature = self.rsa.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{b64(signature)}"

    def serve(self) -> Issuer:
        """Serve the discovery document and keys on 127.0.0.1; ``url`` becomes the server's."""
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    data = issuer.fetch(issuer.url + self.path)
                except KeyError:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = LoopbackServer(Handler, name="oidc-issuer").start()
        self.url = self.server.url.rstrip("/")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
