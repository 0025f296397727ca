import random

import pytest

from sandbox.reconciler.kustomize import staging
from tests.unit.reconciler.kustomize.objects import obj

CRD = obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com")
NAMESPACE = obj("v1", "Namespace", "apps")
CLUSTER_ROLE = obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader")
CLUSTER_ROLE_BINDING = obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "reader")
STORAGE_CLASS = obj("storage.k8s.io/v1", "StorageClass", "fast")
INGRESS_CLASS = obj("networking.k8s.io/v1", "IngressClass", "nginx")
PRIORITY_CLASS = obj("scheduling.k8s.io/v1", "PriorityClass", "high")
SERVICE_ACCOUNT = obj("v1", "ServiceAccount", "web", "apps")
CONFIGMAP = obj("v1", "ConfigMap", "web", "apps")
SERVICE = obj("v1", "Service", "web", "apps")
DEPLOYMENT = obj("apps/v1", "Deployment", "web", "apps")
WIDGET = obj("example.com/v1", "Widget", "w", "apps")
INGRESS = obj("networking.k8s.io/v1", "Ingress", "web", "apps")
WEBHOOK = obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "check")

ALL = [CRD, NAMESPACE, CLUSTER_ROLE, CLUSTER_ROLE_BINDING, STORAGE_CLASS, INGRESS_CLASS, PRIORITY_CLASS,
       SERVICE_ACCOUNT, CONFIGMAP, SERVICE, DEPLOYMENT, WIDGET, INGRESS, WEBHOOK]


def _names(stage: list[dict[str, object]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in stage]  # type: ignore[index]


def test_stages_follow_flux() -> None:
    shuffled = ALL[:]
    random.Random(7).shuffle(shuffled)
    result = staging.stages(shuffled)
    assert [_names(stage) for stage in result] == [
        ["CustomResourceDefinition/widgets.example.com", "Namespace/apps", "ClusterRole/reader"],
        ["PriorityClass/high", "StorageClass/fast", "IngressClass/nginx"],
        ["ServiceAccount/web", "ClusterRoleBinding/reader", "ConfigMap/web", "Service/web", "Deployment/web",
         "Widget/w", "Ingress/web", "ValidatingWebhookConfiguration/check"],
    ]


@pytest.mark.parametrize(("candidate", "first_stage"), [
    (CRD, True), (NAMESPACE, True), (CLUSTER_ROLE, True),
    (CLUSTER_ROLE_BINDING, False),  # bindings wait for the rest
    (obj("example.com/v1", "Namespace", "not-core"), False),  # only the core v1 Namespace
    (obj("example.com/v1", "CustomResourceDefinition", "fake"), False),
    (obj("example.com/v1", "ClusterRole", "fake"), False),
], ids=lambda value: value if isinstance(value, bool) else f"{value['apiVersion']}/{value['kind']}")
def test_cluster_definitions(candidate: dict[str, object], first_stage: bool) -> None:
    assert staging.is_cluster_definition(candidate) is first_stage


def test_any_kind_ending_in_class_is_in_the_class_stage() -> None:
    gateway_class = obj("gateway.networking.k8s.io/v1", "GatewayClass", "gw")
    custom_class = obj("example.com/v1", "WidgetClass", "c")
    assert [len(s) for s in staging.stages([gateway_class, custom_class, CONFIGMAP])] == [2, 1]


def test_custom_stage_kinds_come_before_the_rest() -> None:
    result = staging.stages([DEPLOYMENT, WIDGET, NAMESPACE], custom_stage_kinds={("example.com", "Widget")})
    assert [_names(stage) for stage in result] == [["Namespace/apps"], ["Widget/w"], ["Deployment/web"]]


def test_empty_stages_are_left_out() -> None:
    assert staging.stages([]) == []
    assert staging.stages([CONFIGMAP]) == [[CONFIGMAP]]


def test_within_a_kind_objects_sort_by_namespace_then_name() -> None:
    objects = [obj("v1", "ConfigMap", name, namespace) for namespace, name in
               [("b", "a"), ("a", "z"), ("a", "b"), ("", "cluster")]]
    assert [(o["metadata"].get("namespace", ""), o["metadata"]["name"])  # type: ignore[union-attr]
            for o in staging.sort_objects(objects)] == [("", "cluster"), ("a", "b"), ("a", "z"), ("b", "a")]


def test_unlisted_kinds_sort_by_group_then_kind_between_listed_ones() -> None:
    objects = [obj("z.example.com/v1", "Alpha", "x"), obj("a.example.com/v1", "Zulu", "x"), WEBHOOK, DEPLOYMENT]
    assert [o["kind"] for o in staging.sort_objects(objects)] == [
        "Deployment", "Zulu", "Alpha", "ValidatingWebhookConfiguration"]
