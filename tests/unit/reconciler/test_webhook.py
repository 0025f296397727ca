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
    assert not bad.trigger and bad.status == 400
    assert verify("generic-hmac", [], {}, BODY, TOKEN).status == 400


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("headers", [
    {**JSON, "x-hub-signature-256": "sha256=" + sign("sha256"), "x-github-event": "push"},
    {**JSON, "x-hub-signature": "sha1=" + sign("sha1"), "x-github-event": "push"},
    {**JSON, "x-gitea-signature": sign("sha256"), "x-gitea-event": "push"},
    {"content-type": "application/x-www-form-urlencoded", "x-hub-signature-256": "sha256=" + sign("sha256"),
     "x-github-event": "push"},
], ids=["github-sha256", "github-sha1", "gitea-own-header", "form-body"])
def test_github_and_gitea_signatures(headers: dict[str, str]) -> None:
    assert verify("github", [], headers, BODY, TOKEN).trigger


@pytest.mark.parametrize("headers", [
    {**JSON, "x-hub-signature-256": "sha256=" + "0" * 64, "x-github-event": "push"},
    {**JSON, "x-hub-signature-256": "sha256=" + "0" * 64, "x-hub-signature": "sha1=" + sign("sha1")},
    {**JSON, "x-github-event": "push"},
    {"content-type": "text/plain", "x-hub-signature-256": "sha256=" + sign("sha256"), "x-github-event": "push"},
], ids=["wrong", "sha256-header-is-the-one-checked", "missing", "content-type"])
def test_github_wrong_signature_is_refused_and_never_echoes_the_token(headers: dict[str, str]) -> None:
    verdict = verify("github", [], headers, BODY, TOKEN)
    assert verdict.status == 400 and not verdict.trigger and TOKEN not in verdict.message


def test_github_events_are_compared_case_insensitively_and_others_refused() -> None:
    headers = {**JSON, "x-hub-signature-256": "sha256=" + sign("sha256"), "x-github-event": "Push"}
    assert verify("github", ["push"], headers, BODY, TOKEN).trigger
    for event in ("ping", "issues"):  # notification-controller has no special case for ping
        refused = verify("github", ["push"], {**headers, "x-github-event": event}, BODY, TOKEN)
        assert refused.status == 400 and not refused.trigger
        assert refused.message == f"the GitHub event '{event}' is not authorised"
    assert verify("github", [], {**headers, "x-github-event": "ping"}, BODY, TOKEN).trigger


def test_gitlab_token_header() -> None:
    assert verify("gitlab", [], {"x-gitlab-token": TOKEN, "x-gitlab-event": "Push Hook"}, BODY, TOKEN).trigger
    assert verify("gitlab", [], {"x-gitlab-token": "nope"}, BODY, TOKEN).status == 400
    headers = {"x-gitlab-token": TOKEN, "x-gitlab-event": "Push Hook"}
    assert verify("gitlab", ["push hook"], headers, BODY, TOKEN).trigger
    refused = verify("gitlab", ["Tag Push Hook"], headers, BODY, TOKEN)
    assert refused.status == 400 and refused.message == "the GitLab event 'Push Hook' is not authorised"


def test_unsupported_type_is_a_clear_400() -> None:
    verdict = verify("gcr", [], {}, BODY, TOKEN)  # gcr asks Google to verify its token: not offline
    assert verdict.status == 400 and "not supported" in verdict.message


# --- registries: the cases of notification-controller's receiver handler tests, and their rejections ----------

def test_harbor_compares_the_authorization_header_with_the_token() -> None:
    assert verify("harbor", [], {"authorization": TOKEN}, b"", TOKEN).trigger
    for headers in ({}, {"authorization": f"Bearer {TOKEN}"}, {"authorization": "wrong"}):
        refused = verify("harbor", [], headers, b"{}", TOKEN)
        assert not refused.trigger and refused.status == 400 and TOKEN not in refused.message


def test_harbor_ignores_spec_events() -> None:
    assert verify("harbor", ["PUSH_ARTIFACT"], {"authorization": TOKEN}, b"{}", TOKEN).trigger


QUAY = b'{"docker_url": "docker.io", "updated_tags": ["v0.0.1"]}'
DOCKERHUB = (b'{"push_data": {"tag": "1.0.1", "pusher": "me"}, "repository": {"repo_url": '
             b'"https://hub.docker.com/r/team/app", "repo_name": "team/app"}}')
DISTRIBUTION = b'{"events": [{"action": "push", "target": {"repository": "team/app", "tag": "1.0.1"}}]}'
ACR = b'{"action": "push", "target": {"repository": "app", "tag": "v1"}}'


@pytest.mark.parametrize(("receiver_type", "body"), [
    ("quay", QUAY), ("dockerhub", DOCKERHUB), ("acr", ACR),
    ("dockerhub", DISTRIBUTION), ("quay", DISTRIBUTION), ("dockerhub", b"null"), ("quay", b"{} trailing"),
], ids=["quay", "dockerhub", "acr", "dockerhub-any-object", "quay-any-object", "null", "first-value-only"])
def test_payload_types_accept_what_decodes(receiver_type: str, body: bytes) -> None:
    verdict = verify(receiver_type, [], {}, body, TOKEN)
    assert verdict.trigger and verdict.status == 200


@pytest.mark.parametrize(("receiver_type", "body"), [
    ("dockerhub", b""), ("dockerhub", b"not json"), ("dockerhub", b"[]"), ("dockerhub", b'{"push_data": "x"}'),
    ("dockerhub", b'{"push_data": {"tag": 1}}'), ("quay", b'{"updated_tags": "v1"}'), ("quay", b"{"),
    ("acr", b'{"target": []}'),
], ids=["empty", "text", "array", "push-data-string", "tag-number", "tags-string", "truncated", "target-array"])
def test_payload_types_refuse_what_does_not_decode(receiver_type: str, body: bytes) -> None:
    verdict = verify(receiver_type, [], {}, body, TOKEN)
    assert not verdict.trigger and verdict.status == 400 and "cannot decode" in verdict.message


def test_nexus_checks_the_hmac_sha1_signature_then_the_payload() -> None:
    body = b'{"action": "CREATED", "repositoryName": "docker-hosted"}'
    good = hmac.new(TOKEN.encode(), body, hashlib.sha1).hexdigest()
    assert verify("nexus", [], {"x-nexus-webhook-signature": good}, body, TOKEN).trigger
    missing = verify("nexus", [], {}, body, TOKEN)
    assert missing.status == 400 and missing.message == "Nexus signature is missing from header"
    assert verify("nexus", [], {"x-nexus-webhook-signature": good.upper()}, body, TOKEN).status == 400
    assert verify("nexus", [], {"x-nexus-webhook-signature": "0" * 40}, body, TOKEN).message == \
        "invalid Nexus signature"
    trailing = body + b" {}"
    signed = hmac.new(TOKEN.encode(), trailing, hashlib.sha1).hexdigest()
    assert verify("nexus", [], {"x-nexus-webhook-signature": signed}, trailing, TOKEN).status == 400, \
        "json.Unmarshal refuses trailing data"


BITBUCKET_JSON = {"content-type": "application/json", "x-event-key": "repo:refs_changed"}


@pytest.mark.parametrize("headers", [
    {**BITBUCKET_JSON, "x-hub-signature": "sha256=" + sign("sha256")},
    {**BITBUCKET_JSON, "x-hub-signature": "sha1=" + sign("sha1")},
    {**BITBUCKET_JSON, "x-hub-signature-256": "sha256=" + sign("sha256"), "x-hub-signature": "sha1=" + "0" * 40},
    {**BITBUCKET_JSON, "content-type": "application/x-www-form-urlencoded; charset=utf-8",
     "x-hub-signature": "sha256=" + sign("sha256")},
], ids=["sha256", "sha1", "sha256-header-wins", "form-body"])
def test_bitbucket_server_signature_accepted(headers: dict[str, str]) -> None:
    verdict = verify("bitbucket", [], headers, BODY, TOKEN)
    assert verdict.trigger and verdict.status == 200


@pytest.mark.parametrize("headers, problem", [
    ({**BITBUCKET_JSON, "x-hub-signature": "sha256=" + "0" * 64}, "signature check failed"),
    ({**BITBUCKET_JSON, "x-hub-signature": sign("sha256")}, "signature check failed"),  # no algorithm prefix
    ({**BITBUCKET_JSON, "x-hub-signature-256": "sha256=" + "0" * 64, "x-hub-signature": "sha256=" + sign("sha256")},
     "signature check failed"),  # the SHA-256 header is the one checked when present
    (BITBUCKET_JSON, "missing signature"),
    ({**BITBUCKET_JSON, "content-type": "text/plain", "x-hub-signature": "sha256=" + sign("sha256")},
     "unsupported Content-Type"),
], ids=["wrong", "bare-hex", "wrong-256-header", "missing", "content-type"])
def test_bitbucket_server_signature_refused(headers: dict[str, str], problem: str) -> None:
    verdict = verify("bitbucket", [], headers, BODY, TOKEN)
    assert verdict.status == 400 and not verdict.trigger and problem in verdict.message
    assert TOKEN not in verdict.message


def test_bitbucket_events_are_compared_case_insensitively_and_others_refused() -> None:
    headers = {**BITBUCKET_JSON, "x-hub-signature": "sha256=" + sign("sha256")}
    assert verify("bitbucket", ["REPO:REFS_CHANGED"], headers, BODY, TOKEN).trigger
    refused = verify("bitbucket", ["pr:merged"], headers, BODY, TOKEN)
    assert refused.status == 400 and not refused.trigger
    assert refused.message == "the Bitbucket server event 'repo:refs_changed' is not authorised"
