"""pytest plugin (entry point ``pytest11``): fixtures that give tests a real sandbox. Wiring only; the logic
lives in the library."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sandbox.config import UpOptions
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import KubeClient


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gitops-sandbox")
    group.addoption("--sandbox-cluster", choices=["embedded", "kind"], default="embedded",
                    help="cluster backend for the session sandbox (default: embedded)")
    group.addoption("--sandbox-reuse", metavar="NAME", default=None,
                    help="use the already running sandbox NAME instead of starting one (it is left running)")
    group.addoption("--sandbox-keep", action="store_true",
                    help="leave the session sandbox running after the tests (inspect it with `sandbox status`)")


@pytest.fixture(scope="session")
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxHandle]:
    """A running sandbox for the whole test session (started once, stopped at the end)."""
    reuse = request.config.getoption("--sandbox-reuse")
    if reuse:
        yield SandboxHandle.attach(reuse)
        return
    name = f"pytest-{os.getpid()}"
    handle = SandboxHandle.start(UpOptions(name=name, cluster=request.config.getoption("--sandbox-cluster")))
    try:
        yield handle
    finally:
        if not request.config.getoption("--sandbox-keep"):
            handle.stop()


@pytest.fixture(scope="session")
def kube(sandbox: SandboxHandle) -> KubeClient:
    """A client for the session sandbox's cluster (plain dicts in and out)."""
    return sandbox.kube


@pytest.fixture
def gitops_repo(sandbox: SandboxHandle) -> Iterator[GitOpsRepo]:
    """A fresh repository on the sandbox's git server, followed by a GitRepository and a Receiver; add
    Kustomizations with ``gitops_repo.kustomization(...)``, push with ``gitops_repo.commit({...}, msg)``.
    Everything it created is removed afterwards (applied objects are pruned)."""
    repository = sandbox.new_repo("test")
    try:
        yield repository
    finally:
        repository.delete()
