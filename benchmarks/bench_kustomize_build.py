"""render_10_objects_seconds and render_1000_configmaps_seconds: prepare + kustomize build + substitution of a
plain-manifest folder (kustomization.yaml generated), median of 5; no cluster involved."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import summary, write
from sandbox.reconciler.kustomize import pipeline

RUNS = int(os.environ.get("BENCH_RUNS", "5"))

_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{index}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web-{index}}}
  template:
    metadata:
      labels: {{app: web-{index}}}
    spec:
      containers:
      - name: web
        image: nginx:${{tag:=1.27}}
"""
_CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: config-{index}
data:
  index: "{index}"
  environment: ${{environment:=dev}}
"""


def _folder(root: Path, deployments: int, configmaps: int) -> Path:
    source = root / "repo"
    (source / "apps").mkdir(parents=True)
    for index in range(deployments):
        (source / "apps" / f"deployment-{index}.yaml").write_text(_DEPLOYMENT.format(index=index))
    for index in range(configmaps):
        (source / "apps" / f"configmap-{index}.yaml").write_text(_CONFIGMAP.format(index=index))
    return source


def _time_render(source: Path, scratch: Path, expected: int) -> list[float]:
    kustomization = {"metadata": {"name": "apps", "namespace": "flux-system"},
                     "spec": {"path": "./apps", "targetNamespace": "bench", "prune": True,
                              "postBuild": {"substitute": {"environment": "bench"}}}}
    timings = []
    for run in range(RUNS):
        workdir = scratch / f"run-{run}"
        started = time.perf_counter()
        rendered = pipeline.render(source, kustomization, workdir)
        timings.append(time.perf_counter() - started)
        assert len(rendered.objects) == expected, len(rendered.objects)
        shutil.rmtree(workdir)
    return timings


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-kustomize-"))
    try:
        small = _time_render(_folder(scratch / "small", deployments=5, configmaps=5), scratch, 10)
        large = _time_render(_folder(scratch / "large", deployments=0, configmaps=1000), scratch, 1000)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write("kustomize_build", {
        "render_10_objects_seconds": summary(small),
        "render_1000_configmaps_seconds": summary(large),
    })


if __name__ == "__main__":
    main()
