"""The webhook sink: records what arrives, verifies generic-hmac signatures, never records Authorization."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import pytest

from sandbox.sink import Sink, hmac_signature


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_records_json_lines_and_hides_authorization() -> None:
    out = io.StringIO()
    with Sink(out=out) as sink:
        assert post(f"{sink.url}/flux", b'{"a":1}', {"Authorization": "Bearer t", "X-Team": "web"}) == 200
        received = sink.wait_for(lambda r: r.path == "/flux", timeout=5)
    assert received.body == {"a": 1} and received.signature is None
    assert "Authorization" not in received.headers and received.headers["X-Team"] == "web"
    line = json.loads(out.getvalue())
    assert line["body"] == {"a": 1} and "Bearer t" not in out.getvalue()


def test_verifies_signatures_with_the_token() -> None:
    with Sink(token="s3cret") as sink:
        body = b'{"message":"x"}'
        assert post(sink.url, body, {"X-Signature": hmac_signature(body, "s3cret")}) == 200
        assert post(sink.url, body, {"X-Signature": hmac_signature(body, "wrong")}) == 401
        assert post(sink.url, body, {}) == 401
        assert [r.signature for r in sink.received()] == ["valid", "invalid", "invalid"]


def test_unsigned_ok_accepts_unsigned_requests_and_still_checks_signed_ones() -> None:
    with Sink(token="s3cret", unsigned_ok=True) as sink:
        body = b'{"message":"x"}'
        assert post(sink.url, body, {}) == 200
        assert post(sink.url, body, {"X-Signature": hmac_signature(body, "s3cret")}) == 200
        assert post(sink.url, body, {"X-Signature": hmac_signature(body, "wrong")}) == 401
        assert [r.signature for r in sink.received()] == [None, "valid", "invalid"]


def test_wait_for_fails_naming_what_it_waited_for() -> None:
    with Sink() as sink, pytest.raises(Exception, match="matching"):
        sink.wait_for(lambda r: True, timeout=0.2)
