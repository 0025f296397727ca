"""One run of a scenario: its sandbox, its own namespaces and repository, the commits it made, and the variables
its steps are rendered with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import InputError
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.scenario import templating
from sandbox.scenario.model import ObjectRef, Scenario, parse_ref
from sandbox.scenario.observer import Observer
from sandbox.sink import Sink

LABEL_SCENARIO = "gitops-sandbox.io/scenario"
LABEL_RUN = "gitops-sandbox.io/run"


@dataclass
class RunContext:
    scenario: Scenario
    handle: SandboxHandle
    run_id: str
    observer: Observer = field(default_factory=Observer)
    repo: GitOpsRepo | None = None
    commits: dict[str, str] = field(default_factory=dict)  # commit id -> sha ("initial": the first commit)
    applied: list[ObjectRef] = field(default_factory=list)  # objects steps applied directly: removed afterwards
    secrets: list[str] = field(default_factory=list)  # values that must never appear in output
    static: dict[str, str] = field(default_factory=dict)  # the run variables (templating.RUN_VARIABLES)
    sink: Sink | None = None  # the run's webhook sink (${sink}), when the scenario needs notifications or monitoring
    clusters: dict[str, KubeClient] = field(default_factory=dict)  # clients of workload clusters, by name

    @property
    def kube(self) -> KubeClient:
        return self.handle.kube

    def cluster_kube(self, cluster: str | None) -> KubeClient:
        """A client for workload cluster ``cluster`` of the sandbox (None: the management cluster)."""
        if not cluster:
            return self.kube
        if cluster not in self.clusters:
            entries = {c["name"]: c for c in self.handle.status.get("clusters") or []}
            if cluster not in entries:
                raise InputError(f"sandbox {self.handle.name!r} has no cluster {cluster!r}; start it with "
                                 f"`sandbox up --clusters mgmt,{cluster}`")
            self.clusters[cluster] = KubeClient.from_kubeconfig(Path(entries[cluster]["kubeconfig"]))
        return self.clusters[cluster]

    @property
    def base_name(self) -> str:
        return f"{self.scenario.name}-{self.run_id}"

    @property
    def namespace(self) -> str:
        return self.base_name

    @property
    def flux_namespace(self) -> str:
        return f"{self.base_name}-flux"

    @property
    def repository(self) -> GitOpsRepo:
        if self.repo is None:
            raise RuntimeError("the scenario's repository is not created yet")
        return self.repo

    @property
    def head(self) -> str:
        return self.repository.head

    def values(self) -> dict[str, str]:
        values = dict(self.static)
        if self.repo is not None:
            values["head"] = self.repo.head
        values.update({f"commit.{key}": sha for key, sha in self.commits.items()})
        return values

    def render(self, value: Any) -> Any:
        """``value`` with every ``${variable}`` in its strings replaced (dicts and lists walked)."""
        if isinstance(value, str):
            return templating.render(value, self.values())
        if isinstance(value, dict):
            return {key: self.render(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.render(item) for item in value]
        return value

    def ref(self, text: str, api_version: str | None = None) -> ObjectRef:
        return parse_ref(self.render(text), api_version=api_version, namespace=self.namespace,
                         flux_namespace=self.flux_namespace)

    def sha_of(self, revision: str) -> str:
        """``head``, ``initial`` or a commit step's id -> its sha."""
        return self.head if revision == "head" else self.commits[revision]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text
