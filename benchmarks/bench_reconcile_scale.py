"""One Kustomization of 1,000 and 5,000 ConfigMaps against ``kubectl apply --server-side`` of the same built
manifests, measured in the same run in alternating pairs (the machine is shared, so only the ratio is stable):

- ``reconcile_vs_kubectl_ratio``: the reconcile (fetch, build, dry-run, apply, until Ready) of a new revision over
  kubectl's apply of the same objects into a fresh namespace; median of the pairs (target <= 1.0, stretch 0.7);
- ``drift_check_seconds``: a requested reconcile of the unchanged revision (target <= 10 s at 5,000);
- ``prune_seconds``: a revision that drops every ConfigMap, with ``prune: true``.

``BENCH_SCALE_SIZES`` (default ``1000,5000``) and ``BENCH_SCALE_PAIRS`` (default 3) change the sizes and pairs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.kustomize import build
from sandbox.tools.kubectl import kubectl
from sandbox.waiting import wait_until

SIZES = [int(size) for size in os.environ.get("BENCH_SCALE_SIZES", "1000,5000").split(",")]
PAIRS = int(os.environ.get("BENCH_SCALE_PAIRS", "3"))


def manifests(namespace: str, count: int) -> dict[str, str | bytes | None]:
    return {
        "ns.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        "configmaps.yaml": yaml.safe_dump_all(
            [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:05d}", "namespace": namespace},
              "data": {"index": str(i)}} for i in range(count)]),
    }


def built_manifests(files: dict[str, str | bytes | None], scratch: Path) -> Path:
    """The kustomize build of the files (what ``kubectl kustomize`` prints, built in chunks as the reconciler
    does: one build of 5,000 objects takes ~30 s), as a kubectl user would apply them."""
    for name, content in files.items():
        (scratch / name).write_text(str(content))
    (scratch / "kustomization.yaml").write_text(yaml.safe_dump({"resources": sorted(files)}))
    built = scratch.parent / f"{scratch.name}.yaml"
    built.write_text("---".join(item.text for item in build.build_manifests(scratch)))
    return built


def reconcile(handle: SandboxHandle, name: str, files: dict[str, str | bytes | None]) -> tuple[GitOpsRepo, float]:
    """Seconds from creating the Kustomization of a fresh repository to Ready with its revision applied."""
    repository = handle.new_repo(name, files=files, name=name)
    started = time.perf_counter()
    repository.kustomization(name, timeout="10m", prune=True)
    wait_until(lambda: applied(handle, name, repository.head), timeout=600, what=f"{name} to be applied",
               interval=0.05, max_interval=0.1)
    return repository, time.perf_counter() - started


def applied(handle: SandboxHandle, name: str, sha: str) -> bool:
    ks = handle.kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
    status = ks.get("status") or {}
    return str(status.get("lastAppliedRevision", "")).endswith(sha) and \
        ops.ready_condition(ks).get("status") == "True"


def kubectl_apply(handle: SandboxHandle, built: Path) -> float:
    started = time.perf_counter()
    kubectl(["apply", "--server-side", "--field-manager", "bench", "-f", str(built)], kubeconfig=handle.kubeconfig,
            timeout=900)
    return time.perf_counter() - started


def measure(handle: SandboxHandle, size: int, scratch: Path) -> dict[str, object]:
    ours: list[float] = []
    theirs: list[float] = []
    repository: GitOpsRepo | None = None
    name = ""
    for pair in range(PAIRS):
        name = f"scale-{size}-{pair}"
        files = manifests(name, size)
        folder = scratch / f"kubectl-{size}-{pair}"
        folder.mkdir()
        built = built_manifests(manifests(f"kubectl-{size}-{pair}", size), folder)
        if pair % 2 == 0:
            repository, seconds = reconcile(handle, name, files)
            ours.append(seconds)
            theirs.append(kubectl_apply(handle, built))
        else:
            theirs.append(kubectl_apply(handle, built))
            repository, seconds = reconcile(handle, name, files)
            ours.append(seconds)
    assert repository is not None
    drift = []
    for _ in range(3):
        started = time.perf_counter()
        ops.request_reconcile(handle.kube, ops.KUSTOMIZATION, name, "flux-system", timeout=600)
        drift.append(time.perf_counter() - started)
    repository.commit({"configmaps.yaml": None}, "Drop the ConfigMaps")
    started = time.perf_counter()
    wait_until(lambda: applied(handle, name, repository.head), timeout=600, what=f"{name} to prune",
               interval=0.05, max_interval=0.1)
    pruned = time.perf_counter() - started
    ratios = [mine / kubectl_seconds for mine, kubectl_seconds in zip(ours, theirs, strict=True)]
    return {"reconcile_seconds": summary(ours), "kubectl_apply_server_side_seconds": summary(theirs),
            "reconcile_vs_kubectl_ratio": round(statistics.median(ratios), 3),
            "ratios": [round(ratio, 3) for ratio in ratios],
            "drift_check_seconds": round(statistics.median(drift), 3), "prune_seconds": round(pruned, 3)}


def main() -> None:
    private_state_home()
    handle = SandboxHandle.start(UpOptions(name="bench-scale"))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            figures = {str(size): measure(handle, size, Path(scratch)) for size in SIZES}
    finally:
        lifecycle.down(handle.name)
    write("reconcile_scale", {**figures, "pairs": PAIRS,
                              "targets": {"reconcile_vs_kubectl_ratio": 1.0, "reconcile_vs_kubectl_ratio_stretch": 0.7,
                                          "drift_check_seconds_5000": 10.0}})


if __name__ == "__main__":
    main()
