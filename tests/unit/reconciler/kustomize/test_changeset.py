import pytest

from sandbox.reconciler.kustomize import changeset
from sandbox.reconciler.kustomize.changeset import Action, ChangeSet, change_set, go_duration
from tests.unit.reconciler.kustomize.objects import obj

APPLIED = change_set([
    (obj("v1", "Namespace", "apps"), Action.CREATED),
    (obj("v1", "ConfigMap", "cfg", "apps"), Action.UNCHANGED),
    (obj("apps/v1", "Deployment", "web", "apps"), "configured"),
    (obj("v1", "Secret", "token", "apps"), Action.SKIPPED),
])


def test_summary_lists_every_change_like_flux() -> None:
    assert APPLIED.summary() == ("Namespace/apps created\nConfigMap/apps/cfg unchanged\n"
                                 "Deployment/apps/web configured\nSecret/apps/token skipped")


def test_applied_message_only_lists_changes() -> None:
    assert APPLIED.applied_message() == "Namespace/apps created\nDeployment/apps/web configured"
    assert APPLIED.changed


def test_nothing_changed_means_no_event_message() -> None:
    quiet = change_set([(obj("v1", "ConfigMap", "cfg", "apps"), Action.UNCHANGED)])
    assert quiet.applied_message() == "" and not quiet.changed


def test_inventory_and_health_views() -> None:
    assert APPLIED.inventory_entries() == [
        {"id": "_apps__Namespace", "v": "v1"}, {"id": "apps_cfg__ConfigMap", "v": "v1"},
        {"id": "apps_web_apps_Deployment", "v": "v1"}, {"id": "apps_token__Secret", "v": "v1"}]
    assert [c.subject for c in APPLIED.health_check_subjects()] == [
        "Namespace/apps", "ConfigMap/apps/cfg", "Deployment/apps/web"]
    assert APPLIED.to_map()["Deployment/apps/web"] == "configured"
    assert APPLIED.counts() == {"created": 1, "configured": 1, "unchanged": 1, "skipped": 1}


def test_change_sets_concatenate_in_order() -> None:
    pruned = change_set([(obj("v1", "ConfigMap", "old", "apps"), Action.DELETED)])
    combined = APPLIED + pruned
    assert len(combined) == 5 and combined.changes[-1].action is Action.DELETED
    assert len(ChangeSet()) == 0


def test_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="'exploded'"):
        change_set([(obj("v1", "ConfigMap", "c"), "exploded")])


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.000000002, "2ns"), (0.0000015, "1.5µs"), (0.176163666, "176.163666ms"), (1, "1s"),
    (1.5, "1.5s"), (60, "1m0s"), (90, "1m30s"), (600, "10m0s"), (3600, "1h0m0s"), (9900.5, "2h45m0.5s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_messages() -> None:
    assert changeset.applied_revision("main@sha1:abc") == "Applied revision: main@sha1:abc"
    assert changeset.reconciliation_finished(0.176163666, 600) == \
        "Reconciliation finished in 176.163666ms, next run in 10m0s"
    assert changeset.progress("Building manifests", "main@sha1:abc", 270) == \
        "Building manifests for revision main@sha1:abc with a timeout of 4m30s"
    assert changeset.event_metadata("main@sha1:abc") == {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"}
