"""The one Kubernetes client of the project: plain dicts in and out, typed errors."""

from sandbox.kube.client import KubeClient, WatchEvent

__all__ = ["KubeClient", "WatchEvent"]
