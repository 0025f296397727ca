"""The one table of kinds and fields (support.py): the NotSupported controller, unsupported fields, which kinds
get it with and without upstream Flux, and the docs page kept in step with the table."""

from __future__ import annotations

import copy
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.reconciler import support
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.process import build_manager, unsupported_kinds
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import FINALIZER, Context, Controller
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.unsupported import NotSupportedReconciler, refuse_unsupported_fields
from tests.unit.reconciler.runtime.test_controller import FakeKube

DOCS = Path(__file__).resolve().parents[3] / "docs" / "reconciler-apis.md"


class RecordingEvents:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.recorded.append((event_type, reason, message))


def helm_release(generation: int = 1) -> dict[str, Any]:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "apps", "uid": "u1", "generation": generation,
                         "resourceVersion": "1"}, "spec": {"interval": "5m", "chart": {"spec": {"chart": "x"}}}}


def test_every_served_kind_is_in_the_table_once() -> None:
    assert [s.kind for s in support.TABLE if s.kind in kinds.ALL] == [s.kind for s in support.TABLE]
    assert sorted(k.kind for k in kinds.ALL) == sorted(s.kind.kind for s in support.TABLE)


def test_a_kind_without_controller_is_stalled_not_supported_with_one_warning_per_generation() -> None:
    obj = helm_release()
    kube, events = FakeKube(obj), RecordingEvents()
    ctx = Context(kube=kube, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    controller = Controller(NotSupportedReconciler(kinds.HELMRELEASE), ctx)
    controller.informer.cache["apps/podinfo"] = obj
    controller.process("apps/podinfo")
    conditions = kube.obj["status"]["conditions"]
    ready, stalled = cond.find(conditions, cond.READY), cond.find(conditions, cond.STALLED)
    assert ready and ready["status"] == "False" and ready["reason"] == support.NOT_SUPPORTED
    assert stalled and stalled["status"] == "True" and stalled["reason"] == support.NOT_SUPPORTED
    assert "HelmRelease (helm.toolkit.fluxcd.io/v2) is not supported" in ready["message"]
    assert "sandbox up --reconciler flux" in ready["message"]
    assert FINALIZER not in (kube.obj["metadata"].get("finalizers") or []), "deleting it must not wait for us"
    controller.process("apps/podinfo")
    assert [e[:2] for e in events.recorded] == [("Warning", "NotSupported")], "told once per generation"
    kube.obj["metadata"]["generation"] = 2
    controller.process("apps/podinfo")
    assert len(events.recorded) == 2


def test_a_kind_without_status_and_without_controller_gets_one_warning_per_generation_and_no_status() -> None:
    """Provider and Alert have no status subresource (as upstream's v1beta3): writing one would fail for ever."""
    obj = {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
           "metadata": {"name": "chat", "namespace": "apps", "uid": "u2", "generation": 1, "resourceVersion": "1"},
           "spec": {"type": "generic"}}
    reconciler, events = NotSupportedReconciler(kinds.PROVIDER), RecordingEvents()
    ctx = Context(kube=FakeKube(obj), events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    assert reconciler.reconcile(obj, ctx).status is None
    assert reconciler.reconcile(obj, ctx).status is None
    assert [e[:2] for e in events.recorded] == [("Warning", "NotSupported")]
    assert "Provider (notification.toolkit.fluxcd.io/v1beta3) is not supported" in events.recorded[0][2]
    obj["metadata"]["generation"] = 2
    reconciler.reconcile(obj, ctx)
    assert len(events.recorded) == 2


@pytest.mark.parametrize(("kind", "spec", "expected"), [
    ("Kustomization", {"decryption": {"provider": "sops"}}, []),
    ("Kustomization", {"decryption": {"provider": "sops", "serviceAccountName": "kms"}},
     ["spec.decryption.serviceAccountName"]),
    ("Kustomization", {"dependsOn": [{"name": "a"}, {"name": "b", "readyExpr": "true"}],
                       "healthCheckExprs": [{"apiVersion": "v1", "kind": "ConfigMap", "current": "true"}]}, []),
    ("Kustomization", {"kubeConfig": {"secretRef": {"name": "k"}}, "dependsOn": [{"name": "a"}]}, []),
    ("Kustomization", {"kubeConfig": {"configMapRef": {"name": "k"}}}, []),
    ("HelmRelease", {"kubeConfig": {"configMapRef": {"name": "k"}}}, []),
    ("HelmRelease", {"kubeConfig": {"secretRef": {"name": "k"}}, "serviceAccountName": "deployer"}, []),
    ("Kustomization", {"dependsOn": [{"name": "a"}], "serviceAccountName": ""}, []),
    ("GitRepository", {"verify": {"mode": "HEAD"}, "recurseSubmodules": True, "sparseCheckout": ["apps"],
                       "include": [{"repository": {"name": "a"}}]}, []),
    ("GitRepository", {"provider": "azure", "proxySecretRef": {"name": "proxy"}},
     ["spec.provider", "spec.proxySecretRef"]),
    ("GitRepository", {"provider": "generic"}, []),
    ("Receiver", {"type": "github"}, []),
    ("Receiver", {"type": "bitbucket", "resourceFilter": "true",
                  "resources": [{"kind": "GitRepository", "name": "*", "filter": "true"}]}, []),
    ("Receiver", {"type": "gcr"}, ["spec.type"]),
    ("ImageUpdateAutomation", {"git": {"commit": {"signingKey": {"type": "gpg"}}}}, []),
    ("ImageUpdateAutomation", {"git": {"commit": {"signingKey": {"type": "ssh"}}}},
     ["spec.git.commit.signingKey.type"]),
    ("ArtifactGenerator", {"artifacts": [{"copy": [{"strategy": "Merge"}, {"strategy": "Overwrite"}, {}]}]}, []),
    ("ArtifactGenerator", {"pathPattern": "@repo/apps/{app}",
                           "artifacts": [{"copy": [{"strategy": "Merge"}]}, {"copy": [{"strategy": "Extract"}]}]},
     ["spec.pathPattern", "spec.artifacts[].copy[].strategy"]),
], ids=["decryption", "decryption-identity", "cel-is-supported", "kubeconfig-secret", "kubeconfig-configmap",
        "helm-kubeconfig-configmap",
        "kubeconfig-and-service-account", "empty-values", "git-features", "provider-and-proxy", "generic-provider",
        "receiver", "receiver-bitbucket-filters", "receiver-gcr", "gpg-signing",
        "ssh-signing", "generator-strategies", "generator-pattern-and-extract"])
def test_unsupported_fields_are_found_when_set(kind: str, spec: dict[str, Any], expected: list[str]) -> None:
    assert support.unsupported_fields_set({"kind": kind, "spec": spec}) == expected


def test_an_unsupported_field_stalls_the_object_before_anything_is_done() -> None:
    obj = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "apps", "namespace": "flux-system", "generation": 3},
           "spec": {"decryption": {"provider": "sops", "serviceAccountName": "kms"}}}
    events = RecordingEvents()
    ctx = Context(kube=FakeKube(copy.deepcopy(obj)), events=events, metrics=Metrics(),  # type: ignore[arg-type]
                  stop=threading.Event())
    result = refuse_unsupported_fields(obj, ctx, "kustomize-controller")
    assert result is not None and result.requeue_after is None and result.status is not None
    ready = cond.find(result.status["conditions"], cond.READY)
    assert ready and ready["reason"] == "NotSupported"
    assert "spec.decryption.serviceAccountName is set but not supported" in ready["message"]
    assert events.recorded and events.recorded[0][1] == "NotSupported"
    assert refuse_unsupported_fields({**obj, "spec": {}}, ctx, "kustomize-controller") is None


def test_which_kinds_get_the_not_supported_controller() -> None:
    alone = {kind.kind for kind, _ in unsupported_kinds(False, set())}
    assert alone == {s.kind.kind for s in support.TABLE if not s.ours}
    upstream = {"GitRepository", "HelmRepository", "HelmChart", "OCIRepository", "Bucket", "Kustomization",
                "HelmRelease", "ExternalArtifact"}
    beside_flux = dict((kind.kind, note) for kind, note in unsupported_kinds(True, upstream))
    # The image controllers upstream lacks here are ours beside upstream Flux (see process.BESIDE_UPSTREAM).
    assert set(beside_flux) == {"Provider", "Alert", "ArtifactGenerator"}
    assert "notification-controller is not available" in beside_flux["Alert"]
    # With upstream's events sent to our event server (`--events-port`), ours serve Provider and Alert.
    with_events = {kind.kind for kind, _ in unsupported_kinds(True, upstream, notifications=True)}
    assert with_events == {"ArtifactGenerator"}


def test_docs_page_matches_the_table() -> None:
    text = DOCS.read_text()
    for entry in support.TABLE:
        row = re.search(rf"^\| {entry.kind.kind} \| `{re.escape(entry.kind.api_version)}` \|[^\n]*$", text, re.M)
        assert row, f"docs/reconciler-apis.md has no row for {entry.kind.kind}"
        cells = [c.strip() for c in row.group(0).strip("|").split("|")]
        assert cells[3] == ("yes" if entry.ours else "no: NotSupported"), entry.kind.kind
        assert cells[4] == entry.upstream, entry.kind.kind
        for field in entry.unsupported_fields:
            assert f"`{field}`" in text, f"docs/reconciler-apis.md does not list {field} as not supported"



# Top-level spec fields each of our controllers acts on. A field the CRD accepts must be here or in the table's
# unsupported fields: a new field (a newer upstream CRD) fails this test until someone implements it or says it is
# not supported — never stored and ignored. (spec.ignore of Kustomizations was once silently ignored.)
IMPLEMENTED: dict[str, set[str]] = {
    "GitRepository": {"url", "secretRef", "interval", "timeout", "ref", "verify", "ignore", "suspend", "include",
                      "recurseSubmodules", "sparseCheckout",
                      "serviceAccountName"},  # as upstream: used only by provider azure, which is NotSupported
    "OCIRepository": {"url", "ref", "layerSelector", "secretRef", "certSecretRef", "insecure", "interval", "timeout",
                      "ignore", "suspend"},
    "HelmRepository": {"url", "secretRef", "certSecretRef", "passCredentials", "interval", "insecure", "timeout",
                       "suspend", "type",
                       "accessFrom"},  # "not implemented" upstream too (documented as provisional)
    "HelmChart": {"chart", "version", "sourceRef", "interval", "reconcileStrategy", "valuesFiles",
                  "ignoreMissingValuesFiles", "suspend"},
    "Kustomization": {"sourceRef", "path", "interval", "retryInterval", "timeout", "prune", "wait", "force",
                      "healthChecks", "healthCheckExprs", "dependsOn", "postBuild", "patches", "images",
                      "targetNamespace", "commonMetadata", "namePrefix", "nameSuffix", "components",
                      "ignoreMissingComponents", "buildMetadata", "ignore", "deletionPolicy", "suspend",
                      "decryption", "serviceAccountName", "kubeConfig"},
    "HelmRelease": {"chart", "chartRef", "values", "valuesFrom", "interval", "timeout", "releaseName",
                    "targetNamespace", "storageNamespace", "maxHistory", "dependsOn", "healthCheckExprs", "suspend",
                    "waitStrategy", "persistentClient", "install", "upgrade", "test", "rollback", "uninstall",
                    "postRenderers", "postRenderStrategy", "commonMetadata", "driftDetection",
                    "serviceAccountName", "kubeConfig"},
    "Receiver": {"events", "resources", "secretRef", "suspend", "resourceFilter", "oidcProviders",
                 "interval"},  # requeued at the interval: a rotated token changes the webhook path
    "ExternalArtifact": {"sourceRef"},
    "ImageRepository": {"image", "interval", "timeout", "secretRef", "certSecretRef", "insecure", "exclusionList",
                        "accessFrom", "suspend"},
    "ImagePolicy": {"imageRepositoryRef", "policy", "filterTags", "digestReflectionPolicy", "interval", "suspend"},
    "ArtifactGenerator": {"sources", "artifacts", "commonMetadata"},
    "ImageUpdateAutomation": {"sourceRef", "git", "interval", "policySelector", "update", "suspend"},
    "Provider": {"type", "address", "channel", "username", "secretRef", "certSecretRef", "timeout", "suspend",
                 "interval"},  # deprecated and ignored upstream too
    "Alert": {"providerRef", "eventSources", "eventSeverity", "inclusionList", "exclusionList", "eventMetadata",
              "summary", "suspend"},
}


def test_every_spec_field_of_a_reconciled_kind_is_implemented_or_not_supported() -> None:
    from sandbox.reconciler.apis.crds import crds

    by_kind = {crd["spec"]["names"]["kind"]: crd for crd in crds()}
    for entry in support.TABLE:
        if not entry.ours:
            continue
        crd = by_kind[entry.kind.kind]
        version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
        fields = set(version["schema"]["openAPIV3Schema"]["properties"].get("spec", {}).get("properties", {}))
        unsupported = {field.split(".")[1].removesuffix("[]") for field in entry.unsupported_fields}
        unaccounted = fields - IMPLEMENTED[entry.kind.kind] - unsupported
        assert not unaccounted, f"{entry.kind.kind}: spec fields neither implemented nor NotSupported: {unaccounted}"


@pytest.mark.parametrize("spec", [{"type": "gcr"}, {"type": "cdevents"}])
def test_a_receiver_we_cannot_serve_is_stalled_and_serves_no_path(spec: dict[str, Any]) -> None:
    from sandbox.reconciler.notification.receiver import ReceiverIndex, ReceiverReconciler

    obj = {"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
           "metadata": {"name": "hook", "namespace": "apps", "uid": "u1", "generation": 1, "resourceVersion": "1"},
           "spec": {"secretRef": {"name": "token"}, "resources": [{"kind": "GitRepository", "name": "x"}], **spec}}
    kube, events, index = FakeKube(obj), RecordingEvents(), ReceiverIndex()
    ctx = Context(kube=kube, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    controller = Controller(ReceiverReconciler(index), ctx)
    controller.informer.cache["apps/hook"] = obj
    controller.process("apps/hook")
    ready = cond.find(kube.obj["status"]["conditions"], cond.READY)
    assert ready and ready["status"] == "False" and ready["reason"] == support.NOT_SUPPORTED
    assert "webhookPath" not in kube.obj["status"]
    assert [e[1] for e in events.recorded] == [support.NOT_SUPPORTED]


def test_beside_upstream_flux_our_image_controllers_serve_the_kinds_it_lacks(tmp_path: Path) -> None:
    """`sandbox up --reconciler flux`: upstream's source, kustomize and helm controllers run; the Receiver and the
    image kinds (whose upstream controllers cannot be built here) are ours, never NotSupported."""
    upstream = {"GitRepository", "HelmRepository", "HelmChart", "OCIRepository", "Bucket", "Kustomization",
                "HelmRelease", "ExternalArtifact"}
    manager, _, _ = build_manager(object(), tmp_path, artifact_url="http://127.0.0.1:1",  # type: ignore[arg-type]
                                  stop=threading.Event(), receivers_only=True, upstream_kinds=upstream)
    served = {(type(c.reconciler).__name__, c.reconciler.kind) for c in manager.controllers}
    assert {("ImageRepositoryReconciler", "ImageRepository"), ("ImagePolicyReconciler", "ImagePolicy"),
            ("ImageUpdateAutomationReconciler", "ImageUpdateAutomation"),
            ("ReceiverReconciler", "Receiver")} <= served
    assert not {kind for _, kind in served} & upstream
