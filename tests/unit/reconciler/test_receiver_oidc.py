"""generic-oidc: the bearer token verified against the issuer's keys as go-oidc does, then the provider's CEL
variables and validations over the claims."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.reconciler.notification import oidc
from sandbox.reconciler.notification.receiver import spec_problem
from sandbox.reconciler.runtime import cel
from tests.unit.reconciler.oidc_issuer import Issuer, b64

ISSUER = "https://token.actions.example"


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer(ISSUER)


def spec(**provider: Any) -> dict[str, Any]:
    return {"type": "generic-oidc", "oidcProviders": [{
        "issuerURL": ISSUER,
        "variables": [{"name": "owner", "expression": "claims.repository_owner"}],
        "validations": [{"expression": "vars.owner == 'team'", "message": "only team's repositories"}],
        **provider}]}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_token_signed_by_the_issuer_passes_and_yields_its_claims(issuer: Issuer, algorithm: str) -> None:
    claims = oidc.validate(spec(), bearer(issuer.token(algorithm, repository_owner="team")), issuer.fetch)
    assert claims["repository_owner"] == "team" and claims["iss"] == ISSUER


def test_the_audience_is_the_providers_or_notification_controller(issuer: Issuer) -> None:
    token = issuer.token(audience=["other", "flux"], repository_owner="team")
    assert oidc.validate(spec(audience="flux"), bearer(token), issuer.fetch)
    with pytest.raises(oidc.OIDCError, match="expected audience 'notification-controller'"):
        oidc.validate(spec(), bearer(token), issuer.fetch)


def forged(issuer: Issuer) -> str:
    other = Issuer(ISSUER)  # same issuer URL, keys the real issuer never published
    return other.token(repository_owner="team")


def tampered(issuer: Issuer) -> str:
    header, _, signature = issuer.token(repository_owner="team").split(".")
    payload = b64(f'{{"iss": "{ISSUER}", "aud": "notification-controller", "exp": 9999999999, '
                  f'"repository_owner": "team"}}'.encode())
    return f"{header}.{payload}.{signature}"


def unsigned(issuer: Issuer) -> str:
    _, payload, _ = issuer.token(repository_owner="team").split(".")
    header = b64(b'{"alg": "none"}')
    return f"{header}.{payload}."


@pytest.mark.parametrize("make, problem", [
    (forged, "failed to verify signature"),
    (tampered, "failed to verify signature"),
    (unsigned, "unsupported algorithm"),
    (lambda i: i.token("RS384", repository_owner="team"), "unsupported algorithm"),  # not announced
    (lambda i: i.token(expires_in=-10, repository_owner="team"), "token is expired"),
    (lambda i: i.token(repository_owner="team", nbf=9999999999), "before the nbf"),
    (lambda i: i.token(repository_owner="someone-else"), "only team's repositories"),
    (lambda i: i.token(), "no such key"),  # the variable reads a claim the token lacks
    (lambda i: i.token(issuer="https://elsewhere.example", repository_owner="team"), "no oidcProvider configured"),
    (lambda i: "not-a-jwt", "token is not a JWT"),
], ids=["forged", "tampered", "alg-none", "alg-not-announced", "expired", "not-yet-valid", "validation-false",
        "missing-claim", "other-issuer", "not-a-jwt"])
def test_bad_tokens_are_refused_with_the_reason(issuer: Issuer, make: Any, problem: str) -> None:
    token = make(issuer)
    with pytest.raises(oidc.OIDCError, match=problem) as caught:
        oidc.validate(spec(), bearer(token), issuer.fetch)
    assert token not in str(caught.value)


@pytest.mark.parametrize("headers, problem", [
    ({}, "missing or malformed"), ({"authorization": "Basic abc"}, "missing or malformed"),
    ({"authorization": "Bearer  "}, "missing a bearer token"),
])
def test_the_bearer_header_is_required(issuer: Issuer, headers: dict[str, str], problem: str) -> None:
    with pytest.raises(oidc.OIDCError, match=problem):
        oidc.validate(spec(), headers, issuer.fetch)


def test_discovery_must_name_the_same_issuer(issuer: Issuer) -> None:
    def lying(url: str) -> bytes:
        return issuer.fetch(url).replace(ISSUER.encode(), b"https://impostor.example", 1) \
            if url.endswith("openid-configuration") else issuer.fetch(url)

    with pytest.raises(oidc.OIDCError, match="issuer did not match"):
        oidc.validate(spec(), bearer(issuer.token(repository_owner="team")), lying)


def test_an_unreachable_issuer_is_refused() -> None:
    token = Issuer(ISSUER).token(repository_owner="team")

    def down(url: str) -> bytes:
        raise oidc.OIDCError(f"GET {url}: connection refused")

    with pytest.raises(oidc.OIDCError, match="failed to initialize OIDC provider"):
        oidc.validate(spec(), bearer(token), down)


def test_every_failing_validation_is_reported(issuer: Issuer) -> None:
    provider = spec(validations=[{"expression": "claims.sub.startsWith('repo:x/')", "message": "wrong repository"},
                                 {"expression": "claims.ref == 'refs/heads/main'", "message": "main only"}])
    token = issuer.token(repository_owner="team", ref="refs/heads/dev")
    with pytest.raises(oidc.OIDCError, match="wrong repository; main only"):
        oidc.validate(provider, bearer(token), issuer.fetch)


def test_an_invalid_expression_is_a_configuration_error_naming_the_issuer() -> None:
    with pytest.raises(cel.CELParseError, match=f"issuer '{ISSUER}'"):
        oidc.compile_provider({"issuerURL": ISSUER, "validations": [{"expression": "claims.sub ==", "message": "m"}]})
    with pytest.raises(cel.CELParseError, match="undeclared reference"):
        oidc.compile_provider({"issuerURL": ISSUER, "validations": [{"expression": "token.sub == 'x'",
                                                                     "message": "m"}]})


@pytest.mark.parametrize("receiver_spec, problem", [
    ({"type": "generic-oidc"}, "must define at least one oidcProvider"),
    ({"type": "generic-oidc", "oidcProviders": [{"issuerURL": ISSUER}], "secretRef": {"name": "t"}},
     "secretRef cannot be set"),
    ({"type": "github", "secretRef": {"name": "t"}, "oidcProviders": [{"issuerURL": ISSUER}]},
     "oidcProviders can only be set when type is generic-oidc"),
    ({"type": "github"}, "secretRef is required"),
    ({"type": "github", "secretRef": {"name": "t"}}, ""),
    ({"type": "generic-oidc", "oidcProviders": [{"issuerURL": ISSUER}]}, ""),
])
def test_the_crds_cross_field_rules(receiver_spec: dict[str, Any], problem: str) -> None:
    found = spec_problem(receiver_spec)
    assert problem in found and bool(found) == bool(problem)
