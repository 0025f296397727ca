import hashlib
import hmac

import pytest

from sandbox.reconciler.notification.webhook import verify, webhook_path

TOKEN = "s3cret-token"
BODY = b'{"ref": "refs/heads/main"}'


def sign(algorithm: str) -> str:
    return hmac.new(TOKEN.encode(), BODY, getattr(hashlib, algorithm)).hexdigest()


def test_webhook_path_is_flux_digest() -> None:
    expected = "/hook/" + hashlib.sha256(b"s3cret-tokenappsflux-system").hexdigest()
    assert webhook_path(TOKEN, "apps", "flux-system") == expected


def test_generic_needs_only_the_path() -> None:
    assert verify("generic", [], {}, BODY, TOKEN).trigger


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_generic_hmac_checks_x_signature(algorithm: str) -> None:
    good = verify("generic-hmac", [], {"x-signature": f"{algorithm}={sign(algorithm)}"}, BODY, TOKEN)
    assert good.trigger and good.status == 200
    bad = verify("generic-hmac", [], {"x-signature": f"{algorithm}={'0' * 40}"}, BODY, TOKEN)
    assert not bad.trigger and bad.status == 401
    assert verify("generic-hmac", [], {}, BODY, TOKEN).status == 401


@pytest.mark.parametrize("headers", [
    {"x-hub-signature-256": "sha256=" + sign("sha256"), "x-github-event": "push"},
    {"x-hub-signature": "sha1=" + sign("sha1"), "x-github-event": "push"},
    {"x-gitea-signature": sign("sha256"), "x-gitea-event": "push"},
], ids=["github-sha256", "github-sha1", "gitea-own-header"])
def test_github_and_gitea_signatures(headers: dict[str, str]) -> None:
    assert verify("github", [], headers, BODY, TOKEN).trigger


def test_github_wrong_signature_is_refused_and_never_echoes_the_token() -> None:
    verdict = verify("github", [], {"x-hub-signature-256": "sha256=" + "0" * 64, "x-github-event": "push"}, BODY,
                     TOKEN)
    assert verdict.status == 401 and not verdict.trigger and TOKEN not in verdict.message


def test_github_event_filter_and_ping() -> None:
    headers = {"x-hub-signature-256": "sha256=" + sign("sha256"), "x-github-event": "ping"}
    assert verify("github", ["push"], headers, BODY, TOKEN).message == "pong"
    headers["x-github-event"] = "issues"
    ignored = verify("github", ["push"], headers, BODY, TOKEN)
    assert ignored.status == 200 and not ignored.trigger


def test_gitlab_token_header() -> None:
    assert verify("gitlab", [], {"x-gitlab-token": TOKEN, "x-gitlab-event": "Push Hook"}, BODY, TOKEN).trigger
    assert verify("gitlab", [], {"x-gitlab-token": "nope"}, BODY, TOKEN).status == 401


def test_unsupported_type_is_a_clear_400() -> None:
    verdict = verify("harbor", [], {}, BODY, TOKEN)
    assert verdict.status == 400 and "not supported" in verdict.message
