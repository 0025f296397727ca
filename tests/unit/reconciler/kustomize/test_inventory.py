import pytest

from sandbox.reconciler.kustomize import inventory
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.inventory import ApplyPolicy, ObjMetadata
from tests.unit.reconciler.kustomize.objects import obj

ENTRIES = [
    ("namespaced-apps", obj("apps/v1", "Deployment", "web", "default"), "default_web_apps_Deployment", "v1"),
    ("core-group-is-empty", obj("v1", "ConfigMap", "cfg", "default"), "default_cfg__ConfigMap", "v1"),
    ("cluster-scoped", obj("v1", "Namespace", "apps"), "_apps__Namespace", "v1"),
    ("colon-in-name", obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system:reader"),
     "_system__reader_rbac.authorization.k8s.io_ClusterRole", "v1"),
    ("underscore-in-name", obj("example.com/v1beta1", "Widget", "my_widget", "ns"),
     "ns_my_widget_example.com_Widget", "v1beta1"),
]


@pytest.mark.parametrize(("source", "entry_id", "version"), [case[1:] for case in ENTRIES],
                         ids=[case[0] for case in ENTRIES])
def test_entry_format_and_round_trip(source: dict[str, object], entry_id: str, version: str) -> None:
    assert inventory.entry(source) == {"id": entry_id, "v": version}
    assert inventory.parse_id(entry_id) == inventory.object_metadata(source)
    reference = inventory.reference({"id": entry_id, "v": version})
    assert reference["apiVersion"] == source["apiVersion"] and reference["kind"] == source["kind"]
    assert reference["metadata"] == source["metadata"]


@pytest.mark.parametrize(("entry_id", "expected"), [
    ("test-namespace_kubeadm__nodes-config_rbac.authorization.k8s.io_Role",
     ObjMetadata("test-namespace", "kubeadm:nodes-config", "rbac.authorization.k8s.io", "Role")),
    ("ns_system____leader_rbac.authorization.k8s.io_Role",
     ObjMetadata("ns", "system::leader", "rbac.authorization.k8s.io", "Role")),
    ("ns_leader___rbac.authorization.k8s.io_RoleBinding",
     ObjMetadata("ns", "leader:", "rbac.authorization.k8s.io", "RoleBinding")),
    ("_name_with_many_parts_apps_Deployment", ObjMetadata("", "name_with_many_parts", "apps", "Deployment")),
], ids=["colon", "double-colon", "trailing-colon", "underscores"])
def test_parse_id(entry_id: str, expected: ObjMetadata) -> None:
    assert inventory.parse_id(entry_id) == expected


@pytest.mark.parametrize("entry_id", ["_test-name_apps", "no-separators", "", "ns__apps_"])
def test_parse_id_rejects_malformed_entries(entry_id: str) -> None:
    with pytest.raises(BuildError, match="not <namespace>_<name>_<group>_<Kind>"):
        inventory.parse_id(entry_id)


def test_diff_returns_old_entries_missing_from_the_new_build_in_apply_order() -> None:
    old = [
        {"id": "default_web_apps_Deployment", "v": "v1"},
        {"id": "default_old__ConfigMap", "v": "v1"},
        {"id": "_gone__Namespace", "v": "v1"},
        {"id": "default_web__Service", "v": "v1"},
    ]
    new = [obj("apps/v1", "Deployment", "web", "default"), obj("v1", "Service", "web", "default")]
    stale = inventory.diff(old, new)
    assert stale == [{"id": "_gone__Namespace", "v": "v1"}, {"id": "default_old__ConfigMap", "v": "v1"}]
    assert inventory.prune_order(stale) == list(reversed(stale))


def test_a_new_api_version_of_the_same_object_is_not_stale() -> None:
    old = [{"id": "default_hpa_autoscaling_HorizontalPodAutoscaler", "v": "v1"}]
    assert inventory.diff(old, [obj("autoscaling/v2", "HorizontalPodAutoscaler", "hpa", "default")]) == []


def test_prune_order_deletes_webhooks_first_and_namespaces_and_crds_last() -> None:
    stale = [{"id": "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition", "v": "v1"},
             {"id": "_apps__Namespace", "v": "v1"},
             {"id": "apps_web_apps_Deployment", "v": "v1"},
             {"id": "_check_admissionregistration.k8s.io_ValidatingWebhookConfiguration", "v": "v1"},
             {"id": "apps_cfg__ConfigMap", "v": "v1"}]
    kinds = [inventory.parse_id(item["id"]).kind for item in inventory.prune_order(stale)]
    assert kinds == ["ValidatingWebhookConfiguration", "Deployment", "ConfigMap", "Namespace",
                     "CustomResourceDefinition"]


def test_owner_labels_are_set_and_recognised() -> None:
    [labelled] = inventory.set_owner_labels([obj("v1", "ConfigMap", "c", "default", labels={"app": "x"})],
                                            "apps", "flux-system")
    assert labelled["metadata"]["labels"] == {"app": "x", "kustomize.toolkit.fluxcd.io/name": "apps",
                                              "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}
    assert inventory.is_owned(labelled, "apps", "flux-system")
    assert not inventory.is_owned(labelled, "apps", "other-namespace")
    assert not inventory.is_owned(labelled, "infra", "flux-system")


OWNED = {"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}


@pytest.mark.parametrize(("labels", "annotations", "delete"), [
    (OWNED, {}, True),
    ({}, {}, False),  # never prune what is not ours
    ({"kustomize.toolkit.fluxcd.io/name": "apps"}, {}, False),  # both labels are needed
    (OWNED, {"kustomize.toolkit.fluxcd.io/prune": "disabled"}, False),
    ({**OWNED, "kustomize.toolkit.fluxcd.io/prune": "Disabled"}, {}, False),  # labels work too, any case
    (OWNED, {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}, False),
    (OWNED, {"kustomize.toolkit.fluxcd.io/ssa": "Ignore"}, False),
    (OWNED, {"kustomize.toolkit.fluxcd.io/ssa": "Merge"}, True),
    (OWNED, {"kustomize.toolkit.fluxcd.io/prune": "enabled"}, True),
], ids=["owned", "unowned", "half-owned", "prune-disabled", "prune-disabled-label", "reconcile-disabled",
        "ssa-ignore", "ssa-merge", "prune-enabled"])
def test_prune_decision(labels: dict[str, str], annotations: dict[str, str], delete: bool) -> None:
    live = obj("v1", "ConfigMap", "c", "default", labels=labels, annotations=annotations)
    assert inventory.prune_decision(live, "apps", "flux-system").delete is delete


def test_prune_decision_for_an_object_already_gone() -> None:
    assert inventory.prune_decision(None, "apps", "flux-system") == inventory.PruneDecision(False, "already gone")


EXISTING = obj("v1", "ConfigMap", "c", "default", uid="1234")


@pytest.mark.parametrize(("desired", "existing", "policy", "force"), [
    ({}, None, ApplyPolicy.OVERRIDE, False),
    ({}, EXISTING, ApplyPolicy.OVERRIDE, False),
    ({"kustomize.toolkit.fluxcd.io/ssa": "Merge"}, EXISTING, ApplyPolicy.MERGE, False),
    ({"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}, None, ApplyPolicy.OVERRIDE, False),
    ({"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}, EXISTING, ApplyPolicy.SKIP, False),
    ({"kustomize.toolkit.fluxcd.io/ssa": "Ignore"}, None, ApplyPolicy.SKIP, False),
    ({}, obj("v1", "ConfigMap", "c", "default", uid="1", annotations={"kustomize.toolkit.fluxcd.io/ssa": "ignore"}),
     ApplyPolicy.SKIP, False),
    ({"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}, EXISTING, ApplyPolicy.SKIP, False),
    ({"kustomize.toolkit.fluxcd.io/force": "enabled"}, EXISTING, ApplyPolicy.OVERRIDE, True),
], ids=["new", "existing", "merge", "if-not-present-new", "if-not-present-exists", "ignore",
        "ignore-on-live-object", "reconcile-disabled", "force-annotation"])
def test_apply_decision(desired: dict[str, str], existing: dict[str, object] | None, policy: ApplyPolicy,
                        force: bool) -> None:
    decision = inventory.apply_decision(obj("v1", "ConfigMap", "c", "default", annotations=desired), existing)
    assert (decision.policy, decision.force) == (policy, force)


def test_spec_force_forces_every_object() -> None:
    assert inventory.apply_decision(obj("v1", "ConfigMap", "c"), EXISTING, force=True).force
