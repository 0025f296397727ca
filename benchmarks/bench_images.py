"""image_push_to_rollout_seconds: `sandbox image push` of a new tag → the pods of a Deployment run it and are Ready,
through the registry-notification path: the registry's notification → a Receiver (type harbor) → the
ImageRepository scans → the ImagePolicy picks the tag → the ImageUpdateAutomation commits and pushes → the git
server's webhook → the GitRepository's Receiver → the Kustomization applies → the Deployment rolls out. Every
interval is 1h, so nothing is seen by polling. Median and p95 over BENCH_PUSHES pushes (default 10); then the same
with the ImageRepository polling every BENCH_POLL_INTERVAL (default 10s, no registry notification) over
BENCH_POLL_PUSHES pushes (default 3), for comparison.

Runs only when the reconciler has the image controllers (support.TABLE); otherwise it says so and writes nothing.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from typing import Any

from benchmarks.common import bench_sandbox, summary, write
from sandbox import registry_hooks
from sandbox.handle import SandboxHandle
from sandbox.reconciler import support
from sandbox.registry import artifacts
from sandbox.registry.base import endpoint_of
from sandbox.waiting import wait_until

PUSHES = int(os.environ.get("BENCH_PUSHES", "10"))
POLL_PUSHES = int(os.environ.get("BENCH_POLL_PUSHES", "3"))
POLL_INTERVAL = os.environ.get("BENCH_POLL_INTERVAL", "10s")
NAME = "bench-images"
FLUX_NS = "flux-system"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
IMAGE_KINDS = ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")


def controllers_missing() -> list[str]:
    return [row.kind.kind for row in support.TABLE if row.kind.kind in IMAGE_KINDS and not row.ours]


def deployment(namespace: str, image: str) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {namespace}\nspec:\n"
            "  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n"
            "      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n"
            f'          image: {image} # {{"$imagepolicy": "{FLUX_NS}:app"}}\n')


def image_objects(image: str, repo: str) -> list[dict[str, Any]]:
    meta = {"namespace": FLUX_NS}
    return [
        {"apiVersion": IMAGE_API, "kind": "ImageRepository", "metadata": {"name": "app", **meta},
         "spec": {"image": image, "interval": "1h", "insecure": True}},
        {"apiVersion": IMAGE_API, "kind": "ImagePolicy", "metadata": {"name": "app", **meta},
         "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}}},
        {"apiVersion": IMAGE_API, "kind": "ImageUpdateAutomation", "metadata": {"name": "app", **meta},
         "spec": {"interval": "1h", "sourceRef": {"kind": "GitRepository", "name": repo},
                  "git": {"checkout": {"ref": {"branch": "main"}},
                          "commit": {"author": {"name": "bench", "email": "bench@example.com"},
                                     "messageTemplate": "Deploy {{ range .Changed.Changes }}{{ .NewValue }}{{ end }}"},
                          "push": {"branch": "main"}},
                  "update": {"path": "./apps", "strategy": "Setters"}}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "images-webhook-token", **meta},
         "stringData": {"token": secrets.token_hex(16)}},
        {"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver", "metadata": {"name": "images", **meta},
         "spec": {"type": "harbor", "secretRef": {"name": "images-webhook-token"},
                  "resources": [{"apiVersion": IMAGE_API, "kind": "ImageRepository", "name": "app"}]}},
    ]


def rolled_out(handle: SandboxHandle, namespace: str, image: str) -> bool:
    pods = [p for p in handle.kube.list("v1", "Pod", namespace, label_selector="app=web").items
            if not p["metadata"].get("deletionTimestamp")]
    if len(pods) != 1:
        return False
    pod = pods[0]
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in (pod.get("status") or {}).get("conditions") or [])
    return ready and [c["image"] for c in pod["spec"]["containers"]] == [image]


def push_and_wait(handle: SandboxHandle, namespace: str, image: str, tag: str, timeout: float) -> float:
    started = time.perf_counter()
    artifacts.push_image(handle.name, f"{image}:{tag}")
    wait_until(lambda: rolled_out(handle, namespace, f"{image}:{tag}"), timeout=timeout,
               what=f"the pods to run {image}:{tag}", interval=0.01, max_interval=0.05)
    return time.perf_counter() - started


def measure(handle: SandboxHandle) -> dict[str, Any]:
    namespace = NAME
    kube = handle.kube
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, field_manager="bench")
    image = f"{endpoint_of(handle.name).cluster_host or endpoint_of(handle.name).host}/{NAME}-app"
    artifacts.push_image(handle.name, f"{image}:1.0.0")
    repository = handle.new_repo(NAME, files={"apps/web.yaml": deployment(namespace, f"{image}:1.0.0")},
                                 interval="1h")
    repository.kustomization("apps", path="./apps", interval="1h")
    repository.wait_applied("apps")
    for obj in image_objects(image, repository.source_name):
        kube.apply(obj, field_manager="bench")
    wait_until(lambda: rolled_out(handle, namespace, f"{image}:1.0.0"), timeout=60, what="1.0.0 to run")
    wait_until(lambda: (kube.get("notification.toolkit.fluxcd.io/v1", "Receiver", "images", FLUX_NS)
                        .get("status") or {}).get("webhookPath"), timeout=30, what="the images Receiver's path")
    handle.registry_hook(f"{FLUX_NS}/images")

    notified = [push_and_wait(handle, namespace, image, f"1.0.{n}", 30) for n in range(1, PUSHES + 1)]

    registry_hooks.disconnect(handle.state, FLUX_NS, "images")
    kube.patch(IMAGE_API, "ImageRepository", "app", FLUX_NS, {"spec": {"interval": POLL_INTERVAL}})
    polled = [push_and_wait(handle, namespace, image, f"1.1.{n}", 180) for n in range(1, POLL_PUSHES + 1)]
    return {"image_push_to_rollout_seconds": summary(notified),
            "image_push_to_rollout_polling_seconds": summary(polled),
            "polling_interval": POLL_INTERVAL,
            "path": "registry notification → Receiver (harbor) → ImageRepository → ImagePolicy → "
                    "ImageUpdateAutomation commit → git webhook → GitRepository → Kustomization → Deployment",
            "targets": {"image_push_to_rollout_median": 2.0}}


def main() -> None:
    missing = controllers_missing()
    if missing:
        print(f"bench_images: skipped, the reconciler has no controller for {', '.join(missing)}", file=sys.stderr)
        return
    with bench_sandbox(NAME) as handle:
        figures = measure(handle)
    write("images", figures)


if __name__ == "__main__":
    main()
