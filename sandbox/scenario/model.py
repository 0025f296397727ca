"""What a scenario is once loaded and validated: metadata, the repository it starts from, and its ordered steps;
plus how object references (``Kind/name``, ``Kind/namespace/name``) resolve to API objects."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import InputError
from sandbox.monitoring.runrules import RunSettings
from sandbox.reconciler.apis import kinds as flux_kinds

SCENARIO_FILE = "scenario.yaml"

# Kinds a reference may name without an apiVersion. Flux kinds come from the reconciler's own table.
KNOWN_KINDS: dict[str, str] = {
    "ConfigMap": "v1", "Secret": "v1", "Service": "v1", "Pod": "v1", "Namespace": "v1", "ServiceAccount": "v1",
    "PersistentVolumeClaim": "v1", "PersistentVolume": "v1", "Event": "v1", "Node": "v1",
    "Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
    "Job": "batch/v1", "CronJob": "batch/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
    "Ingress": "networking.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1", "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1", "StorageClass": "storage.k8s.io/v1",
    **{kind.kind: kind.api_version for kind in flux_kinds.ALL},
}
CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
                  "CustomResourceDefinition", "StorageClass"}
FLUX_KINDS = {kind.kind for kind in flux_kinds.ALL}


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


def api_version_of(kind: str, override: str | None = None) -> str | None:
    return override or KNOWN_KINDS.get(kind)


def parse_ref(text: str, *, api_version: str | None = None, namespace: str, flux_namespace: str) -> ObjectRef:
    """``Kind/name`` or ``Kind/namespace/name``. Without a namespace, Flux kinds live in ``flux_namespace``,
    cluster-scoped kinds in none, everything else in ``namespace`` (the scenario's)."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"object reference {text!r}: write Kind/name or Kind/namespace/name")
    kind = parts[0]
    version = api_version_of(kind, api_version)
    if version is None:
        raise InputError(f"object reference {text!r}: unknown kind {kind}; add apiVersion: next to it")
    if len(parts) == 3:
        return ObjectRef(version, kind, parts[2], parts[1])
    if kind in CLUSTER_SCOPED:
        return ObjectRef(version, kind, parts[1], None)
    return ObjectRef(version, kind, parts[1], flux_namespace if kind in FLUX_KINDS else namespace)


@dataclass(frozen=True)
class KustomizationSpec:
    """A Kustomization the runner creates for the scenario's repository before the first step."""

    name: str
    path: str = "./"
    spec: dict[str, Any] = field(default_factory=dict)  # every other field, as written (interval, dependsOn…)


@dataclass(frozen=True)
class RepoSpec:
    folder: Path | None  # pushed as the first commit; None: a README only
    branch: str = "main"
    interval: str = "1m"  # of the GitRepository; pushes reach it at once through the Receiver anyway
    kustomizations: tuple[KustomizationSpec, ...] = ()


@dataclass(frozen=True)
class Step:
    index: int  # 1-based
    type: str
    title: str
    line: int
    body: dict[str, Any]  # the step's fields, shorthand expanded (expect: {"checks": [...]})

    @property
    def label(self) -> str:
        """``step 3/9 (wait, line 20) "The change is applied"`` without the total: ``step 3 (wait, line 20)``."""
        text = f"step {self.index} ({self.type}, line {self.line})"
        return f"{text} \"{self.title}\"" if self.title else text

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "type": self.type, "title": self.title, "line": self.line, **self.body}


@dataclass(frozen=True)
class Scenario:
    name: str
    file: Path  # the scenario.yaml
    title: str
    summary: str
    description: str = ""
    tags: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # declared and implied by steps and variables
    repo: RepoSpec = field(default_factory=lambda: RepoSpec(None))
    steps: tuple[Step, ...] = ()
    monitoring: RunSettings | None = None  # the `monitoring:` block: the run's own alert rules and route

    @property
    def folder(self) -> Path:
        return self.file.parent

    def to_dict(self) -> dict[str, Any]:
        repo = {"path": str(self.repo.folder) if self.repo.folder else None, "branch": self.repo.branch,
                "interval": self.repo.interval,
                "kustomizations": [{"name": k.name, "path": k.path, **k.spec} for k in self.repo.kustomizations]}
        return {"name": self.name, "file": str(self.file), "title": self.title, "summary": self.summary,
                "description": self.description, "tags": list(self.tags), "needs": list(self.needs), "repo": repo,
                "steps": [s.to_dict() for s in self.steps],
                **({"monitoring": dataclasses.asdict(self.monitoring)} if self.monitoring else {})}
