"""The ``generic-oidc`` Receiver: the bearer token is an OIDC ID token, verified as notification-controller verifies
it with go-oidc (discovery at the issuer, its JWKS, signature, issuer, audience, expiry), then the provider's CEL
variables and validations run over the verified claims."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sandbox.errors import SandboxError
from sandbox.reconciler.runtime import cel

Obj = dict[str, Any]
Fetch = Callable[[str], bytes]
DEFAULT_AUDIENCE = "notification-controller"
NBF_LEEWAY = 300.0  # go-oidc accepts a token whose nbf is up to 5 minutes ahead
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES: dict[str, type[ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


class OIDCError(SandboxError):
    """The request's token was not accepted; the message says why (never the token)."""


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_segment(segment: str, what: str) -> Obj:
    try:
        value = json.loads(_b64(segment))
    except ValueError as err:
        raise OIDCError(f"failed to parse bearer token: malformed {what}") from err
    if not isinstance(value, dict):
        raise OIDCError(f"failed to parse bearer token: malformed {what}")
    return value


def bearer_token(headers: dict[str, str]) -> str:
    value = headers.get("authorization", "")
    if not value.startswith("Bearer "):
        raise OIDCError("the Authorization header is missing or malformed")
    token = value[len("Bearer "):].strip()
    if not token:
        raise OIDCError("the Authorization header is missing a bearer token")
    return token


def unverified_issuer(token: str) -> str:
    """The ``iss`` claim, read only to pick the provider; nothing is trusted before the signature is checked."""
    parts = token.split(".")
    if len(parts) != 3:
        raise OIDCError("failed to parse bearer token: token is not a JWT")
    issuer = _json_segment(parts[1], "payload").get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise OIDCError("failed to parse bearer token: token is missing the 'iss' claim")
    return issuer


def http_fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return bytes(response.read(1 << 20))
    except (urllib.error.URLError, OSError) as err:
        raise OIDCError(f"GET {url}: {getattr(err, 'reason', err)}") from err


def discover(issuer: str, fetch: Fetch) -> tuple[Obj, list[str]]:
    """The issuer's JWKS and the signing algorithms it announces (go-oidc's NewProvider and its remote key set)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        document = json.loads(fetch(url))
        if document.get("issuer") != issuer:
            raise OIDCError(f"issuer did not match the issuer returned by provider, expected {issuer!r} got "
                            f"{document.get('issuer')!r}")
        jwks = json.loads(fetch(str(document["jwks_uri"])))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise OIDCError(f"failed to initialize OIDC provider for issuer {issuer!r}: invalid discovery document "
                        f"or key set") from err
    except OIDCError as err:
        raise OIDCError(f"failed to initialize OIDC provider for issuer {issuer!r}: {err}") from err
    algorithms = [str(a) for a in document.get("id_token_signing_alg_values_supported") or []]
    return jwks, algorithms


def _public_key(jwk: Obj) -> Any:
    if jwk.get("kty") == "RSA":
        n, e = (int.from_bytes(_b64(str(jwk[k])), "big") for k in ("n", "e"))
        return rsa.RSAPublicNumbers(e, n).public_key()
    if jwk.get("kty") == "EC" and jwk.get("crv") in _CURVES:
        x, y = (int.from_bytes(_b64(str(jwk[k])), "big") for k in ("x", "y"))
        return ec.EllipticCurvePublicNumbers(x, y, _CURVES[str(jwk["crv"])]()).public_key()
    return None


def _signature_ok(key: Any, algorithm: str, signature: bytes, signed: bytes) -> bool:
    digest = _HASHES[algorithm[2:]]()
    try:
        if algorithm.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), digest)
        elif algorithm.startswith("PS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
        elif algorithm.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(signature) // 2
            der = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                       int.from_bytes(signature[half:], "big"))
            key.verify(der, signed, ec.ECDSA(digest))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def verify_token(token: str, issuer: str, audience: str, fetch: Fetch, now: float | None = None) -> Obj:
    """The claims of ``token`` once its signature (by a key of the issuer's JWKS, with an algorithm the issuer
    announces, RS256 if none), issuer, audience, expiry and not-before are checked; OIDCError otherwise."""
    jwks, announced = discover(issuer, fetch)
    header_part, payload_part, signature_part = token.split(".")
    header = _json_segment(header_part, "header")
    algorithm = str(header.get("alg", ""))
    allowed = [a for a in (announced or ["RS256"]) if a[:2] in ("RS", "PS", "ES") and a[2:] in _HASHES]
    if algorithm not in allowed:
        raise OIDCError(f"failed to verify OIDC token: id token signed with unsupported algorithm, expected "
                        f"{allowed} got {algorithm!r}")
    keys = [k for k in jwks.get("keys") or [] if isinstance(k, dict)
            and (not header.get("kid") or k.get("kid") == header.get("kid"))]
    signed = f"{header_part}.{payload_part}".encode()
    signature = _b64(signature_part)
    if not any(_signature_ok(key, algorithm, signature, signed)
               for key in (_public_key(k) for k in keys) if key is not None):
        raise OIDCError("failed to verify OIDC token: failed to verify signature")
    claims = _json_segment(payload_part, "payload")
    if claims.get("iss") != issuer:
        raise OIDCError(f"failed to verify OIDC token: id token issued by a different provider, expected {issuer!r}")
    audiences = claims.get("aud")
    if audience not in (audiences if isinstance(audiences, list) else [audiences]):
        raise OIDCError(f"failed to verify OIDC token: expected audience {audience!r}")
    moment = time.time() if now is None else now
    expiry = claims.get("exp")
    if not isinstance(expiry, int | float) or expiry <= moment:
        raise OIDCError("failed to verify OIDC token: token is expired")
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before > moment + NBF_LEEWAY:
        raise OIDCError("failed to verify OIDC token: current time before the nbf (not before) time")
    return claims


def compile_provider(provider: Obj) -> tuple[list[tuple[str, cel.Expression]], list[tuple[cel.Expression, str]]]:
    """The provider's variables (each may read ``claims`` and earlier ``vars``) and validations; CELParseError
    naming the issuer when one does not parse."""
    issuer = provider.get("issuerURL", "")
    try:
        variables = [(str(v["name"]), cel.compile_with(str(v["expression"]), ("claims", "vars")))
                     for v in provider.get("variables") or []]
        validations = [(cel.compile_with(str(v["expression"]), ("claims", "vars")), str(v.get("message", "")))
                       for v in provider.get("validations") or []]
    except cel.CELParseError as err:
        raise cel.CELParseError(f"invalid oidcProvider configuration for issuer {issuer!r}: {err}",
                                err.expression) from err
    return variables, validations


def evaluate_provider(provider: Obj, claims: Obj) -> None:
    """Run the variables, then every validation; OIDCError with the message of each one that is false."""
    variables, validations = compile_provider(provider)
    values: Obj = {}
    try:
        for name, expression in variables:
            values[name] = expression.evaluate({"claims": claims, "vars": dict(values)})
        failed = [message for expression, message in validations
                  if not expression.evaluate_bool({"claims": claims, "vars": values})]
    except cel.CELEvaluationError as err:
        raise OIDCError(str(err)) from err
    if failed:
        raise OIDCError("; ".join(failed))


def validate(spec: Obj, headers: dict[str, str], fetch: Fetch = http_fetch) -> Obj:
    """Authenticate a ``generic-oidc`` call; the verified claims (for the filters' ``claims``)."""
    providers = [p for p in spec.get("oidcProviders") or [] if isinstance(p, dict)]
    if not providers:
        raise OIDCError("generic-oidc receiver has no oidcProviders configured")
    token = bearer_token(headers)
    issuer = unverified_issuer(token)
    provider = next((p for p in providers if p.get("issuerURL") == issuer), None)
    if provider is None:
        raise OIDCError(f"no oidcProvider configured for issuer {issuer!r}")
    claims = verify_token(token, issuer, str(provider.get("audience") or DEFAULT_AUDIENCE), fetch)
    evaluate_provider(provider, claims)
    return claims
