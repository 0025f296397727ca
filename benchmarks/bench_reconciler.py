"""push_to_applied_seconds (git push -> every object applied and Ready, through the receiver), p50/p95 over 20
pushes of a 10-object repo; apply_1000_objects_seconds for one Kustomization of 1000 ConfigMaps (first apply and
an unchanged re-apply); the reconciler's resident memory."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from benchmarks.common import percentile, private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.git import repo as repos
from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.waiting import wait_until

PUSHES = int(os.environ.get("BENCH_PUSHES", "20"))


def manifests(namespace: str, version: int) -> dict[str, str | bytes | None]:
    files: dict[str, str | bytes | None] = {
        "app/ns.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        "app/web.yaml": yaml.safe_dump({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}),
        "app/svc.yaml": yaml.safe_dump({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    }
    for index in range(7):
        files[f"app/cm-{index}.yaml"] = yaml.safe_dump({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{index}", "namespace": namespace},
            "data": {"version": str(version)}})
    return files


def applied(handle: SandboxHandle, name: str, sha: str) -> bool:
    ks = handle.kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
    status = ks.get("status") or {}
    return str(status.get("lastAppliedRevision", "")).endswith(sha) and \
        ops.ready_condition(ks).get("status") == "True"


def push_to_applied(handle: SandboxHandle) -> list[float]:
    repository = handle.new_repo("bench-push", files=manifests("bench-push", 0))
    repository.kustomization("bench-push", path="./app", wait=True)
    repository.wait_applied("bench-push")
    timings = []
    with tempfile.TemporaryDirectory() as scratch:
        copy = repos.clone(handle.git, repository.name, Path(scratch) / "wc")
        for version in range(1, PUSHES + 1):
            copy.write({f"app/cm-{version % 7}.yaml": manifests("bench-push", version)[f"app/cm-{version % 7}.yaml"]})
            sha = copy.commit(f"version {version}")
            started = time.perf_counter()
            copy.push()
            wait_until(lambda sha=sha: applied(handle, "bench-push", sha), timeout=30, what="the push to be applied",
                       interval=0.01, max_interval=0.02)
            timings.append(time.perf_counter() - started)
    return timings


def apply_1000(handle: SandboxHandle) -> tuple[float, float]:
    namespace = "bench-thousand"
    files: dict[str, str | bytes | None] = {
        "ns.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        "configmaps.yaml": yaml.safe_dump_all(
            [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:04d}", "namespace": namespace},
              "data": {"index": str(i)}} for i in range(1000)]),
    }
    repository = handle.new_repo("bench-thousand", files=files)
    started = time.perf_counter()
    repository.kustomization("bench-thousand", timeout="5m")
    repository.wait_applied("bench-thousand", timeout=120)
    first = time.perf_counter() - started
    started = time.perf_counter()
    ops.request_reconcile(handle.kube, ops.KUSTOMIZATION, "bench-thousand", "flux-system", timeout=120)
    again = time.perf_counter() - started
    return first, again


def main() -> None:
    private_state_home()
    handle = SandboxHandle.start(UpOptions(name="bench-reconciler"))
    try:
        pushes = push_to_applied(handle)
        first, again = apply_1000(handle)
        reconciler = next(c for c in handle.refresh()["components"] if c["name"] == "reconciler")
        rss = psutil.Process(reconciler["pid"]).memory_info().rss
    finally:
        lifecycle.down(handle.name)
    write("reconciler", {
        "push_to_applied_seconds": {**summary(pushes), "p50": percentile(pushes, 0.5)},
        "apply_1000_objects_seconds": round(first, 3),
        "reapply_1000_unchanged_seconds": round(again, 3),
        "reconciler_rss_mib": round(rss / 2**20, 1),
        "targets": {"push_to_applied_p50": 0.5, "push_to_applied_p95": 1.0, "apply_1000_objects_seconds": 3.0},
    })


if __name__ == "__main__":
    main()
