"""Bring a named sandbox up, report on it, and tear it down without leaving anything behind."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from sandbox import __version__, binaries, config, interrupts, leftovers, supervisor
from sandbox import probe as probes
from sandbox.cluster import kind as kindcluster
from sandbox.cluster import live, several
from sandbox.cluster.base import ClusterPlan
from sandbox.cluster.embedded import EmbeddedCluster
from sandbox.config import UpOptions
from sandbox.demochart import DemoChartService
from sandbox.errors import AlreadyRunning, InputError, NotRunning, SandboxError, WaitTimeout
from sandbox.fluxdev.service import FluxService
from sandbox.git.service import GitService
from sandbox.helmrepo import ChartRepoService
from sandbox.kube.client import KubeClient
from sandbox.monitoring.service import MonitoringService
from sandbox.reconciler_service import ReconcilerService
from sandbox.registry import container as registry_container
from sandbox.registry.base import RegistryEndpoint
from sandbox.registry.service import RegistryService
from sandbox.services import Service, ServicePlan
from sandbox.state import StateDir, list_sandboxes
from sandbox.tools import docker
from sandbox.waiting import wait_until

Progress = Callable[[dict[str, Any]], None]  # receives status.json snapshots while starting


def registered_services() -> list[Service]:
    """The services that join the cluster, in start order."""
    return [RegistryService(), ChartRepoService(), DemoChartService(), GitService(), ReconcilerService(),
            FluxService(), MonitoringService()]


def _process(pid: int | None, marker: str) -> psutil.Process | None:
    """The live process ``pid`` if its command line contains ``marker`` (guards against pid reuse)."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = proc.cmdline()
        # An empty command line is a process still inside execve (just launched): its arguments are not mapped yet.
        if marker and cmdline and not any(marker in part for part in cmdline):
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def supervisor_process(state: StateDir) -> psutil.Process | None:
    status = state.read_status() or {}
    pid = status.get("supervisor_pid") or state.read_record().get("supervisor_pid")
    return _process(pid, str(state.path))


def is_up(state: StateDir) -> bool:
    return state.exists() and supervisor_process(state) is not None


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _failure_detail(state: StateDir, status: dict[str, Any] | None) -> str:
    if not status:
        return _log_tail(state.logs / "supervisor.out")
    parts = []
    for comp in status.get("components", []):
        if comp.get("state") in ("failed", "restarting", "starting"):
            tail = _log_tail(Path(comp["log"]))
            parts.append(f"--- {comp['name']} ({comp.get('state')}: {comp.get('detail', '')}), log tail:\n{tail}")
    return "\n".join(parts)


def up(options: UpOptions, *, progress: Progress | None = None) -> dict[str, Any]:
    """Start the sandbox ``options.name`` and return its status once every component is ready.

    Interrupted (Ctrl+C) or failing, it undoes everything it started; further Ctrl+Cs do not stop that cleanup."""
    with interrupts.interrupt_once():
        return _up(options, progress)


def _up(options: UpOptions, progress: Progress | None) -> dict[str, Any]:
    state = StateDir(options.name)
    if is_up(state):
        raise AlreadyRunning(f"sandbox {options.name!r} is already up (state in {state.path}); "
                             f"use it, or run `sandbox down --name {options.name}` first")
    if state.exists():
        _cleanup(state)
    if options.offline and options.reconciler != "sandbox":
        raise InputError("--offline needs the sandbox's own reconciler (--reconciler sandbox): it is the one that "
                         "consults the mirror map before every fetch")
    kindcluster.check_load_images(options.cluster, options.kind_load_images, docker.image_exists)
    if options.cluster == "kind":
        options = _kind_options(options)
    elif options.cluster != "embedded":
        raise InputError(f"unknown --cluster {options.cluster!r}: use embedded or kind")
    created = False
    try:
        # Held, so that a Ctrl+C arriving meanwhile lands inside this try, where the cleanup is.
        with interrupts.interrupts_held():
            state.create()
            created = True
        active = [service for service in registered_services() if service.enabled(options)]
        service_plans = [service.plan(state, options) for service in active]
        image_registries: dict[str, str] = {}
        for service_plan in service_plans:
            image_registries.update(service_plan.image_registries)
        version = binaries.resolve_version(options.k8s_version)
        wiring = _kind_registry(options, service_plans)

        def plan_cluster(where: StateDir, name: str) -> ClusterPlan:
            if options.cluster == "kind":
                return kindcluster.KindCluster(name, registry=wiring, nodes=options.nodes,
                                               node_image=options.kind_node_image,
                                               load_images=options.kind_load_images,
                                               version=options.k8s_version or config.DEFAULT_K8S_VERSION).plan(where)
            return EmbeddedCluster(name, nodes=options.nodes, strict_images=options.strict_images,
                                   registries=image_registries, version=version,
                                   agent_args=[arg for sp in service_plans for arg in sp.node_agent_args]).plan(where)

        plan = plan_cluster(state, options.name)
        trust = several.Trust.of(plan.kubeconfig, plan.server, options.clusters[0]) if options.clusters else None
        workload_components, clusters = several.plan_workloads(state, list(options.clusters[1:]), plan_cluster,
                                                                   version=version, trust=trust)
        state.write_specs(plan.components + workload_components + [c for sp in service_plans for c in sp.components])
        record: dict[str, Any] = {"name": options.name, "cluster": options.cluster, "kubernetes_version": version,
                                  "kubeconfig": str(plan.kubeconfig), "server": plan.server,
                                  "created_at": time.time(), "version": __version__}
        if options.clusters:
            record["clusters"] = {options.clusters[0]: {
                "kubeconfig": str(plan.kubeconfig), "server": plan.server, "management": True,
                "components": [spec.name for spec in plan.components]}, **clusters}
        for service_plan in service_plans:
            record.update(service_plan.record)
        if options.owner_pid:
            record["owner"] = {"pid": options.owner_pid, "started": psutil.Process(options.owner_pid).create_time()}
        state.write_record(record)
        for service_plan in service_plans:
            for hook in service_plan.before_start:
                hook()
        # Held: a supervisor the record does not name would be missed by the cleanup.
        with interrupts.interrupts_held():
            pid = supervisor.launch(state)
            state.write_record({**record, "supervisor_pid": pid})

        def settled() -> dict[str, Any] | None:
            status = state.read_status()
            if status and progress:
                progress(status)
            if status and status.get("phase") in ("ready", "failed", "stopped"):
                return status
            if _process(pid, str(state.path)) is None:
                return {"phase": "failed", "error": "the supervisor exited unexpectedly"}
            return None

        final = wait_until(settled, timeout=options.timeout, what=f"sandbox {options.name!r} to start",
                           interval=0.05, max_interval=0.1,
                           describe=lambda: _describe(state.read_status()),
                           hint=f"look at the logs in {state.logs}")
        if final.get("phase") != "ready":
            detail = _failure_detail(state, state.read_status())
            raise SandboxError(f"sandbox {options.name!r} failed to start: {final.get('error') or final.get('phase')}"
                               + (f"\n{detail}" if detail else ""))
        if options.cluster == "kind":
            entry = _kind_finish(state, wiring)
            # What the node image runs, as its API server says (not the version of the cached binaries).
            state.write_record({**state.read_record(), "kind": entry,
                                "kubernetes_version": entry["kubernetes_version"]})
        for service in active:
            service.after_ready(state, options)
        if clusters:
            several.store_kubeconfigs(KubeClient.from_kubeconfig(state.kubeconfig), record["clusters"], trust=trust)
    except BaseException as err:
        if not created:
            raise
        with interrupts.interrupts_held():
            detail = _failure_detail(state, state.read_status()) if isinstance(err, WaitTimeout) else ""
            _cleanup(state)
        if isinstance(err, WaitTimeout):
            raise SandboxError(f"{err}\n{detail}") from err
        raise
    return status(options.name)


def _kind_options(options: UpOptions) -> UpOptions:
    """Refuse what a kind sandbox cannot do (before anything starts) and run the registry as a container."""
    if options.clusters:
        raise InputError("--clusters adds embedded workload clusters; with --cluster kind a sandbox has one cluster")
    if options.monitoring is not None:
        raise InputError("--monitoring scrapes the embedded cluster's API server with the sandbox's own token; it "
                         "is not available with --cluster kind")
    if options.strict_images:
        raise InputError("--strict-images is the embedded cluster's simulated pulls; a kind node pulls for real "
                         "(an image it cannot get fails with ErrImagePull anyway)")
    if options.registry == "local":
        raise InputError("--registry local listens on this machine's loopback, which kind's nodes cannot reach: use "
                         "--registry container (the default with --cluster kind)")
    ok, why = docker.usable()
    if not ok:
        raise InputError(f"--cluster kind needs Docker: {why}")
    kindcluster.locate()
    ok, why = registry_container.availability(registry_container.image_name())
    if not ok:
        raise InputError(f"--cluster kind runs the sandbox registry as a container on the kind network: {why}")
    return dataclasses.replace(options, registry="container")


def _kind_registry(options: UpOptions, plans: list[ServicePlan]) -> kindcluster.RegistryWiring | None:
    """How a kind cluster's nodes reach the sandbox registry (None on the embedded cluster)."""
    if options.cluster != "kind":
        return None
    for each in plans:
        if "registry" in each.record:
            port = RegistryEndpoint.from_record(each.record["registry"]).port
            return kindcluster.RegistryWiring(port, f"{kindcluster.cluster_name(options.name)}-registry")
    return None


def _kind_finish(state: StateDir, wiring: kindcluster.RegistryWiring | None) -> dict[str, Any]:
    """KEP-1755's ConfigMap, and the record's ``kind`` entry: registry and git as the host and the cluster see them."""
    entry = kindcluster.finish(state, wiring)
    git = state.read_record().get("git")
    if git:
        # The git servers listen on this machine's loopback (Gitea shares the host's network): the reconciler,
        # a host process, clones from there; pods in the kind cluster cannot.
        entry["git"] = {"host": git["url"], "in_cluster": None,
                        "why": "the git server listens on this machine's loopback; the reconciler runs on the host"}
    return entry


def _describe(status: dict[str, Any] | None) -> str:
    if not status:
        return "supervisor not started yet"
    return ", ".join(f"{c['name']}={c['state']}" for c in status.get("components", []))


def _cleanup(state: StateDir, timeout: float = 30.0) -> None:
    """Stop the supervisor and every process it recorded, then remove the state directory; Ctrl+C does not
    interrupt it (one that arrives is delivered once it is done)."""
    with interrupts.interrupts_held():
        _stop_and_remove(state, timeout)


def _stop_and_remove(state: StateDir, timeout: float) -> None:
    status = state.read_status() or {}
    sup = supervisor_process(state)
    if sup is not None:
        try:
            sup.send_signal(signal.SIGTERM)
            sup.wait(timeout=timeout)
        except psutil.TimeoutExpired:
            _kill_group(sup.pid)
        except psutil.NoSuchProcess:
            pass
    # Anything the supervisor did not stop (it was killed, or it timed out) goes now.
    for comp in status.get("components", []):
        proc = _process(comp.get("pid"), "")
        if proc is not None and _belongs_to(proc, state):
            proc.kill()
    leftovers.remove(state)


def _belongs_to(proc: psutil.Process, state: StateDir) -> bool:
    try:
        return any(str(state.path) in part for part in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def down(name: str) -> bool:
    """Stop sandbox ``name`` and remove its state; False if there was nothing to stop."""
    state = StateDir(name)
    if not state.exists():
        return False
    _cleanup(state)
    return True


def status(name: str, *, probe: bool = True) -> dict[str, Any]:
    """The stable JSON description of sandbox ``name`` (raises NotRunning when it has no state)."""
    state = StateDir(name)
    if not state.exists():
        raise NotRunning(f"sandbox {name!r} is not up; start it with `sandbox up --name {name}`")
    record = state.read_record()
    current = state.read_status() or {}
    sup = supervisor_process(state)
    specs = {s.name: s for s in state.read_specs()} if state.spec_file.exists() else {}
    components = []
    for comp in current.get("components", []):
        spec = specs.get(comp["name"])
        healthy = None
        if probe and spec is not None and spec.probe is not None and comp.get("pid"):
            healthy, _ = probes.http_ok(spec.probe, timeout=1.0)
        components.append({
            "name": comp["name"],
            "pid": comp.get("pid"),
            "state": comp.get("state"),
            "healthy": healthy,
            "restarts": comp.get("restarts", 0),
            "endpoints": comp.get("endpoints", {}),
            "log": comp.get("log"),
        })
    phase = current.get("phase", "unknown") if sup is not None else "down"
    return {
        "name": name,
        "state_dir": str(state.path),
        "phase": phase,
        "cluster": record.get("cluster"),
        "kubernetes_version": record.get("kubernetes_version"),
        "kubeconfig": record.get("kubeconfig"),
        "server": record.get("server"),
        "supervisor": {"pid": sup.pid if sup else None, "alive": sup is not None},
        "components": components,
        "endpoints": {c["name"]: c["endpoints"] for c in components},
        "version": record.get("version"),
        "clusters": _clusters(record, components),
        "services": {k: v for k, v in record.items() if isinstance(v, dict) and k != "clusters"},
    }


_MGMT_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent",
                    kindcluster.COMPONENT)


def _clusters(record: dict[str, Any], components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every cluster of the sandbox: the management one first (just the sandbox's own cluster without --clusters)."""
    entries: dict[str, Any] = record.get("clusters") or {
        live.UNNAMED_MANAGEMENT: {"kubeconfig": record.get("kubeconfig"), "server": record.get("server"),
                                  "management": True}}
    state_of = {c["name"]: c for c in components}
    listed = []
    for name, entry in entries.items():
        own = entry.get("components") or list(_MGMT_COMPONENTS)
        healthy = [state_of[n]["healthy"] for n in own if n in state_of]
        listed.append({"name": name, "management": bool(entry.get("management")), "server": entry.get("server"),
                       "kubeconfig": entry.get("kubeconfig"), "secret": entry.get("secret"),
                       "healthy": None if not healthy or None in healthy else all(healthy)})
    return sorted(listed, key=lambda c: not c["management"])  # the management cluster first


def all_sandboxes() -> list[str]:
    return list_sandboxes()


def process_tree_rss(name: str) -> int:
    """Resident memory (bytes) of the supervisor and every component of sandbox ``name``."""
    sup = supervisor_process(StateDir(name))
    if sup is None:
        return 0
    total = 0
    for proc in [sup, *sup.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total
