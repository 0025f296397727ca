"""The eventv1.Event JSON built from a recorded event: metadata cleaned as notification-controller's
cleanupMetadata, fields in Go's order, Go's escapes; and the rate limiter's key and interval."""

from __future__ import annotations

import hashlib

from sandbox.reconciler.notification.event import cleanup_metadata, flux_event, go_json, with_metadata
from sandbox.reconciler.notification.ratelimit import RateLimiter, event_key
from sandbox.reconciler.runtime.events import WARNING, Event

INVOLVED = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "podinfo",
            "namespace": "apps", "uid": "u-1", "resourceVersion": "42"}


def recorded(message: str = "kustomize build failed: <bad>") -> Event:
    return Event(INVOLVED, WARNING, "BuildFailed", message, "kustomize-controller",
                 {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                  "kustomize.toolkit.fluxcd.io/checksum": "x", "source.toolkit.fluxcd.io/revision": "y"},
                 timestamp=1767225600.0)


def test_metadata_keeps_the_objects_group_only_without_checksum_and_digest() -> None:
    assert cleanup_metadata(INVOLVED, {"kustomize.toolkit.fluxcd.io/revision": "r",
                                       "kustomize.toolkit.fluxcd.io/digest": "d",
                                       "kustomize.toolkit.fluxcd.io/checksum": "c", "other/revision": "o"}) == {
        "revision": "r"}


def test_the_event_json_is_upstreams_shape_in_gos_field_order_and_escapes() -> None:
    body = flux_event(recorded())
    assert go_json(body) == (
        b'{"involvedObject":{"kind":"Kustomization","namespace":"apps","name":"podinfo","uid":"u-1",'
        b'"apiVersion":"kustomize.toolkit.fluxcd.io/v1","resourceVersion":"42"},"severity":"error",'
        b'"timestamp":"2026-01-01T00:00:00Z","message":"kustomize build failed: \\u003cbad\\u003e",'
        b'"reason":"BuildFailed","metadata":{"revision":"main@sha1:abc"},"reportingController":"kustomize-controller"}')


def test_alert_metadata_replaces_the_events_keeping_the_order_and_sorting_keys() -> None:
    body = with_metadata(flux_event(recorded()), {"z": "1", "a": "2"})
    assert list(body) == ["involvedObject", "severity", "timestamp", "message", "reason", "metadata",
                          "reportingController"]
    assert list(body["metadata"]) == ["a", "z"]
    assert "metadata" not in with_metadata(body, {})


def test_rate_limit_key_is_upstreams() -> None:
    body = flux_event(recorded())
    expected = "event/podinfo/apps/Kustomization/kustomize build failed: <bad>/main@sha1:abc"
    assert event_key(body) == hashlib.sha256(expected.encode()).hexdigest()
    del body["metadata"]
    assert event_key(body) == hashlib.sha256(expected.rsplit("/", 1)[0].encode()).hexdigest()


def test_identical_events_pass_once_per_interval() -> None:
    now = [0.0]
    limiter = RateLimiter(300.0, clock=lambda: now[0])
    first, other = event_key(flux_event(recorded())), event_key(flux_event(recorded("another failure")))
    assert limiter.allow(first)
    now[0] = 299.0
    assert not limiter.allow(first), "the same event within 5m is dropped"
    assert limiter.allow(other), "another message is another key"
    now[0] = 300.5
    assert limiter.allow(first), "after the interval it is sent again"
