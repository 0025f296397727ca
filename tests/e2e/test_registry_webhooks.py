"""Registry → Receiver: an image pushed to the sandbox registry calls a Receiver, which requests the scan of the
ImageRepository it lists (``reconcile.fluxcd.io/requestedAt``) at once, without waiting for its interval."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import registry_hooks
from sandbox.errors import InputError
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler.notification.webhook import webhook_path
from sandbox.reconciler.support import BY_KIND
from sandbox.registry import notifications, oci
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli, sandbox_whose_registry_reaches_receivers

NS = "flux-system"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"



@pytest.fixture(scope="module")
def hook_sandbox(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    with sandbox_whose_registry_reaches_receivers(sandbox, "e2e-hooks") as handle:
        yield handle

def receiver(name: str, receiver_type: str, image_repository: str) -> dict[str, Any]:
    return {"apiVersion": registry_hooks.RECEIVER_API, "kind": "Receiver", "metadata": {"name": name, "namespace": NS},
            "spec": {"type": receiver_type, "secretRef": {"name": f"{name}-token"},
                     "resources": [{"apiVersion": IMAGE_API, "kind": "ImageRepository", "name": image_repository}]}}


def requested_at(kube: KubeClient, name: str) -> str:
    annotations = kube.get(IMAGE_API, "ImageRepository", name, NS)["metadata"].get("annotations") or {}
    return str(annotations.get(REQUESTED_AT, ""))


@pytest.fixture
def hooked(hook_sandbox: SandboxHandle) -> Iterator[tuple[str, str]]:
    """An ImageRepository (interval 1h: only a webhook can make it reconcile soon) and a harbor Receiver of it."""
    reachable, why = registry_hooks.registry_can_reach_receivers(hook_sandbox.state)
    if not reachable:
        pytest.skip(why)
    suffix = secrets.token_hex(3)
    name, repository = f"hook-{suffix}", f"e2e/hooked-{suffix}"
    host = hook_sandbox.status["services"]["registry"]["host"]
    kube = hook_sandbox.kube
    token = secrets.token_hex(16)
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-token", "namespace": NS},
                "data": {"token": base64.b64encode(token.encode()).decode()}}, field_manager="e2e")
    kube.apply({"apiVersion": IMAGE_API, "kind": "ImageRepository", "metadata": {"name": name, "namespace": NS},
                "spec": {"image": f"{host}/{repository}", "interval": "1h", "insecure": True}}, field_manager="e2e")
    kube.apply(receiver(name, "harbor", name), field_manager="e2e")
    wait_until(lambda: (kube.get(registry_hooks.RECEIVER_API, "Receiver", name, NS).get("status") or {})
               .get("webhookPath"), timeout=30, what=f"Receiver {NS}/{name} to publish its webhook path")
    try:
        yield name, repository
    finally:
        if any(e.name == registry_hooks.endpoint_name(NS, name) for e in notifications.endpoints(hook_sandbox.state)):
            registry_hooks.disconnect(hook_sandbox.state, NS, name)
        for api, kind, obj in ((registry_hooks.RECEIVER_API, "Receiver", name), (IMAGE_API, "ImageRepository", name),
                               ("v1", "Secret", f"{name}-token")):
            kube.delete(api, kind, obj, NS)


def test_push_requests_the_image_repository_scan(hook_sandbox: SandboxHandle, hooked: tuple[str, str]) -> None:
    name, repository = hooked
    kube = hook_sandbox.kube
    host = hook_sandbox.status["services"]["registry"]["host"]
    hook = hook_sandbox.registry_hook(f"{NS}/{name}")
    assert hook.receiver_type == "harbor" and hook.url.endswith(
        kube.get(registry_hooks.RECEIVER_API, "Receiver", name, NS)["status"]["webhookPath"])
    assert requested_at(kube, name) == "", "nothing asked for a scan before the push"

    oci.push_synthetic_image(host, repository, "1.0.0")
    first = wait_until(lambda: requested_at(kube, name), timeout=15,
                       what=f"the push to annotate ImageRepository {NS}/{name} through the Receiver",
                       hint="see the registry and reconciler logs in the sandbox's logs directory")
    if BY_KIND["ImageRepository"].ours:
        # With the image reflector, the request is handled: a scan that saw the pushed tag.
        status = wait_until(lambda: (s := kube.get(IMAGE_API, "ImageRepository", name, NS).get("status") or {})
                            .get("lastHandledReconcileAt") == first and s, timeout=15,
                            what=f"ImageRepository {NS}/{name} to handle the requested scan")
        assert status["lastScanResult"]["tagCount"] == 1
    oci.push_synthetic_image(host, repository, "1.0.1")
    wait_until(lambda: requested_at(kube, name) not in ("", first), timeout=15,
               what="a second push to request the scan again")

    listed = run_cli("registry", "hook", "list", "--name", hook_sandbox.name, "-o", "json")
    assert listed.exit_code == 0 and f'"{NS}/{name}"' in listed.output and "harbor" in listed.output
    removed = run_cli("registry", "hook", "remove", "--name", hook_sandbox.name, "--receiver", f"{NS}/{name}")
    assert removed.exit_code == 0, removed.output
    assert not [h for h in registry_hooks.hooks(hook_sandbox.state) if h.name == name]


def test_a_signed_receiver_type_is_refused_not_silently_ignored(hook_sandbox: SandboxHandle,
                                                                 hooked: tuple[str, str]) -> None:
    name, _ = hooked
    kube = hook_sandbox.kube
    kube.apply(receiver(name, "generic-hmac", name), field_manager="e2e")
    wait_until(lambda: kube.get(registry_hooks.RECEIVER_API, "Receiver", name, NS)["spec"]["type"] == "generic-hmac",
               timeout=10, what="the Receiver's new type")
    before = notifications.endpoints(hook_sandbox.state)
    with pytest.raises(InputError, match="needs an HMAC signature"):
        hook_sandbox.registry_hook(f"{NS}/{name}")
    assert notifications.endpoints(hook_sandbox.state) == before
    result = run_cli("registry", "hook", "add", "--name", hook_sandbox.name, "--receiver", f"{NS}/{name}")
    assert result.exit_code == 1 and "cannot sign" in result.output


def test_a_generic_oidc_receiver_is_refused_the_registry_cannot_get_a_token(hook_sandbox: SandboxHandle,
                                                                            hooked: tuple[str, str]) -> None:
    name, _ = hooked
    kube = hook_sandbox.kube
    oidc_receiver = receiver(name, "generic-oidc", name)
    del oidc_receiver["spec"]["secretRef"]
    oidc_receiver["spec"]["oidcProviders"] = [{"issuerURL": "https://issuer.example", "validations": [
        {"expression": "true", "message": "any"}]}]
    kube.apply(oidc_receiver, field_manager="e2e")
    wait_until(lambda: (kube.get(registry_hooks.RECEIVER_API, "Receiver", name, NS).get("status") or {})
               .get("webhookPath") == webhook_path("", name, NS), timeout=30,
               what="the generic-oidc Receiver's path (salted with an empty token)")
    with pytest.raises(InputError, match="needs an OIDC ID token"):
        hook_sandbox.registry_hook(f"{NS}/{name}")
