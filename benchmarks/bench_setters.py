"""setters_files_per_second: the Setters strategy over a generated 1,000-file repository (800 files with markers —
Deployments with two containers, HelmRelease values, Kustomization images — and 200 without), each run on a fresh
copy so that every marked value changes; median of 5. No cluster, no git: only reading, locating and writing."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import summary, write
from sandbox.reconciler.image.automation import setters

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
FILES = 1000

_DEPLOYMENT = """# app {index}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{index}
  namespace: apps
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web-{index}}}
  template:
    metadata:
      labels: {{app: web-{index}}}
    spec:
      containers:
        - name: web
          image: registry.local/web:1.0.0 # {{"$imagepolicy": "apps:web"}}
          ports: [{{containerPort: 8080}}]
        - name: sidecar
          image: "registry.local/sidecar:0.9" # {{"$imagepolicy": "apps:sidecar"}}
---
apiVersion: v1
kind: Service
metadata:
  name: web-{index}
spec:
  ports: [{{port: 80, targetPort: 8080}}]
"""
_HELMRELEASE = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: chart-{index}
spec:
  interval: 5m
  chart:
    spec: {{chart: podinfo, sourceRef: {{kind: HelmRepository, name: charts}}}}
  values:
    image:
      repository: registry.local/web # {{"$imagepolicy": "apps:web:name"}}
      tag: 1.0.0 # {{"$imagepolicy": "apps:web:tag"}}
"""
_KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deploy.yaml]
images:
  - name: web
    newTag: 1.0.0 # {{"$imagepolicy": "apps:web:tag"}}
    digest: sha256:00 # {{"$imagepolicy": "apps:web:digest"}}
"""
_PLAIN = """apiVersion: v1
kind: ConfigMap
metadata:
  name: config-{index}
data:
  index: "{index}"
"""
SETTERS = setters.setter_values([
    setters.Policy("apps", "web", setters.ImageRef("registry.local/web", "1.0.1", "sha256:" + "a" * 64)),
    setters.Policy("apps", "sidecar", setters.ImageRef("registry.local/sidecar", "0.10")),
])


def generate(root: Path) -> None:
    for index in range(FILES):
        folder = root / f"team-{index % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        kind = index % 5
        template = (_DEPLOYMENT, _DEPLOYMENT, _HELMRELEASE, _KUSTOMIZATION, _PLAIN)[kind]
        suffix = ".yml" if kind == 2 else ".yaml"
        (folder / f"file-{index}{suffix}").write_text(template.format(index=index))


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-setters-"))
    try:
        source = scratch / "source"
        generate(source)
        seconds, written = [], 0
        for run in range(RUNS):
            work = scratch / f"run-{run}"
            shutil.copytree(source, work)
            started = time.perf_counter()
            update = setters.update_tree(work, SETTERS)
            seconds.append(time.perf_counter() - started)
            written = len(update.written)
        stats = summary(seconds)
        write("setters", {"setters_files_per_second": round(FILES / stats["median"], 1),
                          "files": FILES, "files_written": written, "seconds": stats})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
