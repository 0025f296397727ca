"""oci_push_to_applied_seconds: `sandbox push artifact` of a 10-object folder → the OCIRepository asked to look
(the ``reconcile.fluxcd.io/requestedAt`` annotation, as `flux reconcile source oci` sets it: a new tag is otherwise
seen only at the OCIRepository's interval) → the Kustomization has applied the new digest and is Ready; median and
p95 over BENCH_PUSHES pushes (default 12). Also the push alone."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.bench_reconciler import manifests
from benchmarks.common import bench_sandbox, summary, write
from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.runtime.timeutil import rfc3339_nano
from sandbox.registry import artifacts
from sandbox.registry.base import endpoint_of
from sandbox.waiting import wait_until

PUSHES = int(os.environ.get("BENCH_PUSHES", "12"))
NAME = "bench-oci"


def write_folder(folder: Path, version: int) -> None:
    for relative, content in manifests(NAME, version).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(content, str)
        target.write_text(content)


def applied(handle: SandboxHandle, digest: str) -> bool:
    ks = handle.kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", NAME, "flux-system")
    status = ks.get("status") or {}
    return str(status.get("lastAppliedRevision", "")).endswith(digest) and \
        ops.ready_condition(ks).get("status") == "True"


def push_to_applied(handle: SandboxHandle) -> tuple[list[float], list[float]]:
    url = f"oci://{endpoint_of(handle.name).host}/{NAME}"
    kube = handle.kube
    timings, pushes = [], []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "app"
        write_folder(folder, 0)
        first = artifacts.push_flux_artifact(handle.name, f"{url}:latest", folder, source="bench", revision="v0")
        kube.apply({"apiVersion": ops.OCI_REPOSITORY.api_version, "kind": "OCIRepository",
                    "metadata": {"name": NAME, "namespace": "flux-system"},
                    "spec": {"url": url, "insecure": True, "interval": "1h"}}, field_manager="bench")
        kube.apply(ops.kustomization_manifest(NAME, "flux-system", source=f"OCIRepository/{NAME}", path="./app",
                                              interval="1h", prune=True, wait=True, target_namespace=None,
                                              depends_on=[], timeout=None), field_manager="bench")
        wait_until(lambda: applied(handle, first["digest"]), timeout=60, what="the first artifact to be applied")
        for version in range(1, PUSHES + 1):
            write_folder(folder, version)
            started = time.perf_counter()
            pushed = artifacts.push_flux_artifact(handle.name, f"{url}:latest", folder, source="bench",
                                                  revision=f"v{version}")
            pushes.append(time.perf_counter() - started)
            kube.patch(ops.OCI_REPOSITORY.api_version, "OCIRepository", NAME, "flux-system",
                       {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": rfc3339_nano()}}})
            wait_until(lambda digest=pushed["digest"]: applied(handle, digest), timeout=30,
                       what="the pushed artifact to be applied", interval=0.01, max_interval=0.02)
            timings.append(time.perf_counter() - started)
    return timings, pushes


def main() -> None:
    with bench_sandbox(NAME) as handle:
        timings, pushes = push_to_applied(handle)
    write("oci", {
        "oci_push_to_applied_seconds": summary(timings),
        "oci_push_seconds": summary(pushes),
        "objects": len(manifests(NAME, 0)),
        "trigger": "reconcile.fluxcd.io/requestedAt on the OCIRepository right after the push (interval 1h)",
        "targets": {"oci_push_to_applied_median": 0.5},
    })


if __name__ == "__main__":
    main()
