"""A running sandbox as seen by code (tests, scenarios): its name, kubeconfig, endpoints and a client."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.kube.client import KubeClient


@dataclass
class SandboxHandle:
    name: str
    owned: bool = True  # started by us, so stopped by us
    _status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, options: UpOptions) -> SandboxHandle:
        return cls(options.name, owned=True, _status=lifecycle.up(options))

    @classmethod
    def attach(cls, name: str) -> SandboxHandle:
        return cls(name, owned=False, _status=lifecycle.status(name))

    def refresh(self) -> dict[str, Any]:
        self._status = lifecycle.status(self.name)
        return self._status

    @property
    def status(self) -> dict[str, Any]:
        return self._status

    @property
    def kubeconfig(self) -> Path:
        return Path(self._status["kubeconfig"])

    @cached_property
    def kube(self) -> KubeClient:
        return KubeClient.from_kubeconfig(self.kubeconfig)

    def endpoint(self, component: str, key: str) -> str:
        return str(self._status["endpoints"][component][key])

    def stop(self) -> None:
        if self.owned:
            lifecycle.down(self.name)
