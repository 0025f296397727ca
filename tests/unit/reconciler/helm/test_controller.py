"""The controller's pure checks: a changed release target (uninstall first), settings the Helm SDK cannot honour."""

from __future__ import annotations

from typing import Any

from sandbox.reconciler.helm.controller import HelmReleaseReconciler
from sandbox.reconciler.helm.support import unsupported_settings

Obj = dict[str, Any]


def hr(**spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "apps", "generation": 1},
            "spec": {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "web"}, **spec}}


STATUS = {"storageNamespace": "apps",
          "history": [{"name": "web", "namespace": "apps", "version": 2, "chartName": "web", "status": "deployed"}]}


def test_a_changed_release_target_is_named() -> None:
    changed = HelmReleaseReconciler._target_changed
    assert changed(hr(), STATUS, "web") == ""
    assert changed(hr(), STATUS, "web2") == "chart name"
    assert changed(hr(releaseName="other"), STATUS, "web") == "release name"
    assert changed(hr(targetNamespace="prod"), STATUS, "web") == "storage namespace"
    assert changed(hr(), {**STATUS, "storageNamespace": ""}, "web2") == ""  # nothing installed yet
    assert changed(hr(), {"storageNamespace": "apps"}, "web2") == ""


def test_settings_the_sdk_cannot_honour() -> None:
    assert unsupported_settings(hr()) == []
    assert unsupported_settings(hr(install={"serverSideApply": False})) == ["spec.install.serverSideApply"]
    assert unsupported_settings(hr(install={"serverSideApply": True})) == []
    assert unsupported_settings(hr(storageNamespace="apps")) == []
    assert unsupported_settings(hr(storageNamespace="helm")) == ["spec.storageNamespace"]
    assert unsupported_settings(hr(targetNamespace="prod", storageNamespace="prod")) == []
