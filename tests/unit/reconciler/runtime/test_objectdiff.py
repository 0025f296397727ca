"""How a diff report shows objects: bookkeeping and status stripped, Secret values masked, unified diffs only for
configured objects, and whether anything changed."""

from __future__ import annotations

from sandbox.reconciler.runtime.objectdiff import Action, DiffReport, ObjectDiff, scrubbed


def _config(value: str, **meta: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns", **meta},
            "data": {"key": value}}


def test_configured_object_shows_a_unified_diff_without_bookkeeping() -> None:
    live = _config("old", resourceVersion="7", managedFields=[{"manager": "x"}], uid="u")
    live["status"] = {"phase": "x"}
    item = ObjectDiff.of(Action.CONFIGURED, _config("new"), live, _config("new", resourceVersion="8"))
    text = item.unified()
    assert "-  key: old\n" in text and "+  key: new\n" in text
    assert "managedFields" not in text and "resourceVersion" not in text and "phase" not in text
    assert item.subject == "ConfigMap/ns/c"


def test_secret_values_never_appear() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"}}
    live = {**secret, "data": {"password": "aHVudGVyMg==", "same": "eA=="}}
    merged = {**secret, "data": {"password": "c2VjcmV0", "same": "eA==", "new": "bmV3"}}
    item = ObjectDiff.of(Action.CONFIGURED, merged, live, merged)
    report = DiffReport((item,))
    shown = "\n".join(text for text, _ in report.lines()) + str(report.to_data())
    for value in ("aHVudGVyMg==", "c2VjcmV0", "bmV3", "eA=="):
        assert value not in shown
    assert "*** (before)" in shown and "*** (after)" in shown


def test_changed_only_for_created_configured_or_deleted() -> None:
    obj = _config("x")
    assert not DiffReport((ObjectDiff.of(Action.UNCHANGED, obj), ObjectDiff.of(Action.SKIPPED, obj))).changed
    for action in (Action.CREATED, Action.DELETED):
        report = DiffReport((ObjectDiff.of(action, obj),))
        assert report.changed
        assert [text for text, _ in report.lines()] == [f"► ConfigMap/ns/c {action}"]


def test_strings_from_secrets_are_scrubbed_everywhere() -> None:
    live, merged = _config("token-abc123"), _config("token-xyz789")
    report = scrubbed(DiffReport((ObjectDiff.of(Action.CONFIGURED, merged, live, merged),),
                                 ("refused: token-xyz789",)), ["token-abc123", "token-xyz789"])
    shown = "\n".join(text for text, _ in report.lines()) + str(report.to_data())
    assert "abc123" not in shown and "xyz789" not in shown
    assert report.errors == ("refused: ***",)
