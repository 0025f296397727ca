"""Adding a workload cluster to a running sandbox, and removing one (``sandbox cluster add|remove NAME``).

The cluster is planned as one started with ``sandbox up --clusters`` (:mod:`sandbox.cluster.several`): its
components join the spec file, the supervisor is asked to read it again (:data:`supervisor.RELOAD_SIGNAL`) and
starts them; its kubeconfig becomes the Secret ``flux-system/NAME-kubeconfig`` in the management cluster.
Removing it stops its components, deletes that Secret (and the ConfigMap of the same name, for
``spec.kubeConfig.configMapRef``) and its state directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Any

from sandbox import supervisor
from sandbox.cluster import several
from sandbox.cluster.base import ClusterPlan
from sandbox.cluster.embedded import EmbeddedCluster
from sandbox.errors import InputError, SandboxError, WaitTimeout
from sandbox.kube.client import KubeClient
from sandbox.state import StateDir
from sandbox.waiting import wait_until

# The management cluster's name in the record of a sandbox started without --clusters (as `sandbox status` shows it)
UNNAMED_MANAGEMENT = "default"


def _clusters(record: dict[str, Any]) -> dict[str, Any]:
    clusters: dict[str, Any] = record.get("clusters") or {
        UNNAMED_MANAGEMENT: {"kubeconfig": record.get("kubeconfig"), "server": record.get("server"),
                             "management": True}}
    return clusters


def _component_states(state: StateDir) -> dict[str, str]:
    return {c["name"]: c.get("state", "") for c in (state.read_status() or {}).get("components", [])}


def add(state: StateDir, name: str, *, supervisor_pid: int, timeout: float) -> dict[str, Any]:
    """Start workload cluster ``name`` in the running sandbox ``state`` (its supervisor ``supervisor_pid``) and
    store its kubeconfig Secret in the management cluster; returns its record entry. Undone when it fails."""
    several.check_name(name, "sandbox cluster add")
    record = state.read_record()
    clusters = _clusters(record)
    if name in clusters:
        raise InputError(f"sandbox {state.name!r} already has a cluster {name!r}; `sandbox cluster list` shows them")
    specs = state.read_specs()
    taken = {spec.name for spec in specs}
    version = record.get("kubernetes_version")
    nodes, agent_args = several.agent_settings(specs)

    def plan_cluster(where: StateDir, cluster: str) -> ClusterPlan:
        return EmbeddedCluster(cluster, nodes=nodes, version=version, agent_args=agent_args).plan(where)

    shutil.rmtree(several.cluster_state(state, name).path, ignore_errors=True)  # left by an interrupted add
    management = next(key for key, entry in clusters.items() if entry.get("management"))
    trust = several.Trust.of(state.kubeconfig, str(record.get("server")), management)
    components, entries = several.plan_workloads(state, [name], plan_cluster, version=version, trust=trust)
    clashing = sorted(taken & {spec.name for spec in components})
    if clashing:
        shutil.rmtree(several.cluster_state(state, name).path, ignore_errors=True)
        raise InputError(f"cluster name {name!r} would clash with the sandbox's components {', '.join(clashing)}; "
                         "pick another name")
    state.write_record({**record, "clusters": {**clusters, **entries}})
    state.write_specs(specs + components)
    os.kill(supervisor_pid, supervisor.RELOAD_SIGNAL)
    own = [spec.name for spec in components]
    try:
        def started() -> bool:
            states = _component_states(state)
            failed = [n for n in own if states.get(n) == "failed"]
            if failed:
                raise SandboxError(f"cluster {name!r} failed to start: {', '.join(failed)} failed; "
                                   f"look at their logs in {state.logs}")
            return all(states.get(n) == "ready" for n in own)

        wait_until(started, timeout=timeout, what=f"cluster {name!r} to start", interval=0.1,
                   describe=lambda: ", ".join(f"{n}={_component_states(state).get(n, 'not started')}" for n in own),
                   hint=f"look at the logs in {state.logs}")
        several.store_kubeconfigs(KubeClient.from_kubeconfig(state.kubeconfig), entries, trust=trust)
    except BaseException:
        with contextlib.suppress(SandboxError):  # the error that got us here is the one to show
            remove(state, name, supervisor_pid=supervisor_pid, timeout=timeout)
        raise
    entry: dict[str, Any] = entries[name]
    return entry


def remove(state: StateDir, name: str, *, supervisor_pid: int, timeout: float) -> None:
    """Stop workload cluster ``name``, delete its kubeconfig Secret in the management cluster and its state."""
    record = state.read_record()
    clusters = _clusters(record)
    entry = clusters.get(name)
    if entry is None:
        raise InputError(f"sandbox {state.name!r} has no cluster {name!r}; its clusters: {', '.join(clusters)}")
    if entry.get("management"):
        raise InputError(f"{name!r} is the management cluster of sandbox {state.name!r}: it goes with "
                         f"`sandbox down --name {state.name}`")
    own = set(entry.get("components") or [])
    state.write_specs([spec for spec in state.read_specs() if spec.name not in own])
    os.kill(supervisor_pid, supervisor.RELOAD_SIGNAL)
    try:
        wait_until(lambda: not own & set(_component_states(state)), timeout=timeout,
                   what=f"the components of cluster {name!r} to stop", interval=0.1)
    except WaitTimeout as err:
        raise SandboxError(f"{err}; the supervisor log is {state.logs / 'supervisor.log'}") from err
    mgmt = KubeClient.from_kubeconfig(state.kubeconfig)
    for kind in ("Secret", "ConfigMap"):
        mgmt.delete("v1", kind, several.secret_name(name), several.SECRET_NAMESPACE)
    remaining = {k: v for k, v in clusters.items() if k != name}
    state.write_record({**record, "clusters": remaining})
    shutil.rmtree(several.cluster_state(state, name).path, ignore_errors=True)
