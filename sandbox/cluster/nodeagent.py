"""The simulated node agent (kwok's model): registers Nodes, keeps their Leases fresh, and drives the pods bound
to them through the lifecycle a kubelet would report. It also provisions volumes for the default StorageClass.

Run as a supervised process: ``python -m sandbox.cluster.nodeagent --kubeconfig K --health-port P``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import ipaddress
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import __version__
from sandbox.cluster import podsim
from sandbox.cluster.images import ImageChecker
from sandbox.cluster.probes import ContainerRun
from sandbox.errors import APIError, Conflict, NotFound
from sandbox.health import serve_health
from sandbox.interrupts import exit_within
from sandbox.kube.client import KubeClient
from sandbox.kube.informer import Informer, object_key
from sandbox.kube.workqueue import WorkQueue, run_worker

log = logging.getLogger("sandbox.nodeagent")

Obj = dict[str, Any]
PROVISIONER = "rancher.io/local-path"
STORAGE_CLASS = "standard"
LEASE_SECONDS = 40
HEARTBEAT_SECONDS = 10.0
WAKE_SLACK = 0.05  # seconds a requeue may come later than asked rather than add a second timer
CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "250", "ephemeral-storage": "200Gi"}


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class SimNode:
    name: str
    host_ip: str
    pod_cidr: ipaddress.IPv4Network


class IPAllocator:
    """Pod IPs from each node's CIDR; released when the pod is gone."""

    def __init__(self, cidr: ipaddress.IPv4Network) -> None:
        self._free = (str(ip) for ip in list(cidr.hosts())[1:])
        self._used: dict[str, str] = {}
        self._released: list[str] = []
        self._lock = threading.Lock()

    def reserve(self, uid: str, ip: str) -> None:
        with self._lock:
            self._used[uid] = ip

    def get(self, uid: str) -> str:
        with self._lock:
            if uid not in self._used:
                taken = set(self._used.values())
                ip = self._released.pop() if self._released else next(self._free)
                while ip in taken:
                    ip = next(self._free)
                self._used[uid] = ip
            return self._used[uid]

    def release(self, uid: str) -> None:
        with self._lock:
            ip = self._used.pop(uid, None)
            if ip:
                self._released.append(ip)


class NodeAgent:
    def __init__(self, client: KubeClient, nodes: list[SimNode], checker: ImageChecker, *,
                 workers: int = 4, pull_backoff: float = 2.0) -> None:
        self.client = client
        self.nodes = {n.name: n for n in nodes}
        self.checker = checker
        self.workers = workers
        self.pull_backoff = pull_backoff
        self.stop = threading.Event()
        self.queue = WorkQueue()
        self.ips = {n.name: IPAllocator(n.pod_cidr) for n in nodes}
        self.pods = Informer(client, "v1", "Pod", self._on_pod, stop=self.stop)
        self.claims = Informer(client, "v1", "PersistentVolumeClaim", self._on_claim, stop=self.stop)
        self.volumes = Informer(client, "v1", "PersistentVolume", self._on_volume, stop=self.stop)
        self.registered = threading.Event()
        self.threads: list[threading.Thread] = []
        self.kubelet_version = "v0.0.0+sandbox"  # the API server's, once registered
        self._transitions: dict[tuple[str, str], tuple[str, str]] = {}
        # Per pod key: (uid, its containers' runs as last written) — the probe workers' memory, as a kubelet's.
        self._runs: dict[str, tuple[str, Mapping[str, ContainerRun]]] = {}
        # Per pod key: the monotonic time it is already requeued for, so watch events do not stack up timers.
        self._wakeups: dict[str, float] = {}

    # --- nodes -------------------------------------------------------------------------------------------
    def node_object(self, node: SimNode) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node.name, "labels": {
                "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                "node.gitops-sandbox.io/simulated": "true"},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"podCIDR": str(node.pod_cidr), "podCIDRs": [str(node.pod_cidr)]},
        }

    def node_status(self, node: SimNode) -> Obj:
        stamp = now_rfc3339()

        def cond(kind: str, status: str, reason: str, message: str) -> Obj:
            return {"type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": stamp, "lastTransitionTime": self._transition(node, kind, status, stamp)}

        return {
            "capacity": CAPACITY,
            "allocatable": CAPACITY,
            "addresses": [{"type": "InternalIP", "address": node.host_ip},
                          {"type": "Hostname", "address": node.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                         "osImage": "gitops-sandbox simulated node",
                         "kernelVersion": "simulated", "containerRuntimeVersion": f"sandbox://{__version__}",
                         "kubeletVersion": self.kubelet_version, "kubeProxyVersion": self.kubelet_version,
                         "machineID": "", "systemUUID": "", "bootID": ""},
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "simulated node has sufficient memory"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "simulated node has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "simulated node has sufficient PID"),
                cond("Ready", "True", "KubeletReady", "simulated node agent is posting ready status"),
            ],
        }

    def _transition(self, node: SimNode, kind: str, status: str, stamp: str) -> str:
        key = (node.name, kind)
        previous = self._transitions.get(key)
        if previous and previous[0] == status:
            return previous[1]
        self._transitions[key] = (status, stamp)
        return stamp

    def register(self) -> None:
        # A kubelet reports the version it was built with, which matches its control plane here.
        server = self.client.request("GET", "/version", what="the API server's version")
        self.kubelet_version = f"{server.get('gitVersion', 'v0.0.0')}+sandbox"
        self.ensure_storage_class()
        for node in self.nodes.values():
            try:
                self.client.create(self.node_object(node))
                log.info("registered node %s", node.name)
            except Conflict:
                self.client.apply(self.node_object(node), field_manager="sandbox-node-agent")
            self.client.patch("v1", "Node", node.name, None, {"status": self.node_status(node)},
                              subresource="status")
            self.renew_lease(node)
        self.registered.set()

    def ensure_storage_class(self) -> None:
        storage_class = {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS,
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
        }
        if self.client.get_or_none("storage.k8s.io/v1", "StorageClass", STORAGE_CLASS) is None:
            with contextlib.suppress(Conflict):
                self.client.create(storage_class)

    def renew_lease(self, node: SimNode) -> None:
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": node.name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": node.name, "leaseDurationSeconds": LEASE_SECONDS,
                          "renewTime": now_micro()}}
        self.client.apply(lease, field_manager="sandbox-node-agent")

    def heartbeat_loop(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS):
            for node in self.nodes.values():
                try:
                    self.renew_lease(node)
                    self.client.patch("v1", "Node", node.name, None, {"status": self.node_status(node)},
                                      subresource="status")
                except NotFound:
                    log.warning("node %s was deleted; registering it again", node.name)
                    self.register()
                except APIError as err:
                    log.warning("heartbeat for %s failed: %s", node.name, err)

    # --- pods --------------------------------------------------------------------------------------------
    def _on_pod(self, event: str, pod: Obj) -> None:
        node_name = pod.get("spec", {}).get("nodeName")
        if node_name not in self.nodes:
            return
        if event == "DELETED":
            self.ips[node_name].release(pod["metadata"].get("uid", ""))
            self._forget_pod(object_key(pod))
            return
        ip = pod.get("status", {}).get("podIP")
        if ip and not pod["spec"].get("hostNetwork"):
            self.ips[node_name].reserve(pod["metadata"]["uid"], ip)
        self.queue.add(object_key(pod))

    def sync_pod(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None:
            self._forget_pod(key)
            return
        node = self.nodes.get(pod["spec"].get("nodeName", ""))
        if node is None:
            return
        uid = pod["metadata"]["uid"]
        remembered = self._runs.get(key)
        runs = remembered[1] if remembered is not None and remembered[0] == uid else None
        action = podsim.decide(pod, host_ip=node.host_ip, pod_ip=self.ips[node.name].get(uid),
                               check_image=self.checker.check, now=time.time(), backoff=self.pull_backoff,
                               runs=runs)
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if action.kind == "delete":
            self.client.delete("v1", "Pod", name, namespace, grace_period_seconds=0,
                               preconditions={"uid": uid})
            self.ips[node.name].release(uid)
        elif action.kind == "patch_status" and action.status is not None:
            self.client.patch("v1", "Pod", name, namespace, {"status": action.status}, subresource="status")
        for event in action.events:
            self.record_event(pod, node, event)
        # Remembered only once written: a failed patch is retried from what the API server holds.
        if action.runs:
            self._runs[key] = (uid, action.runs)
        else:
            self._runs.pop(key, None)
        if action.retry_after:
            self._wake_after(key, action.retry_after)

    def record_event(self, pod: Obj, node: SimNode, event: podsim.PodEvent) -> None:
        """Record an Event as the kubelet does (``kubectl describe pod`` shows it); best effort."""
        meta = pod["metadata"]
        stamp = podsim.format_time(event.at)
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta["uid"], "fieldPath": event.field_path},
            "type": event.type, "reason": event.reason, "message": event.message,
            "source": {"component": "kubelet", "host": node.name},
            "reportingComponent": "kubelet", "reportingInstance": node.name,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        }
        try:
            self.client.create(body)
        except APIError as err:
            log.warning("recording event %s for pod %s/%s failed: %s", event.reason, meta["namespace"],
                        meta["name"], err)

    def _wake_after(self, key: str, delay: float) -> None:
        """Requeue ``key`` after ``delay`` unless it is already due sooner: each sync asks again, and syncs
        caused by watch events must not each leave a timer behind."""
        now = time.monotonic()
        due = now + delay
        pending = self._wakeups.get(key)
        # The same moment asked for twice differs by the time between reading the two clocks: a little slack.
        if pending is not None and now < pending <= due + WAKE_SLACK:
            return
        self._wakeups[key] = due
        self.queue.add_after(key, delay)

    def _forget_pod(self, key: str) -> None:
        self._runs.pop(key, None)
        self._wakeups.pop(key, None)

    def worker(self) -> None:
        run_worker(self.queue, self._sync, self._failed)

    def _sync(self, key: str) -> None:
        try:
            if key.startswith("pvc:"):
                self.sync_claim(key[4:])
            else:
                self.sync_pod(key)
        except NotFound:
            pass  # gone meanwhile: nothing left to do
        self.queue.forget(key)

    def _failed(self, key: str, err: Exception) -> None:
        delay = self.queue.add_rate_limited(key)
        log.warning("syncing %s failed (%s); retrying in %.2fs", key, err, delay)

    # --- volumes -----------------------------------------------------------------------------------------
    def _on_claim(self, event: str, claim: Obj) -> None:
        if event != "DELETED":
            self.queue.add("pvc:" + object_key(claim))

    def _on_volume(self, event: str, volume: Obj) -> None:
        meta = volume["metadata"]
        ours = meta.get("annotations", {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
        released = volume.get("status", {}).get("phase") == "Released"
        if event != "DELETED" and ours and released and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            threading.Thread(target=self._delete_volume, args=(meta["name"],), daemon=True).start()

    def _delete_volume(self, name: str) -> None:
        try:
            self.client.delete("v1", "PersistentVolume", name)
        except APIError as err:
            log.warning("deleting released volume %s failed: %s", name, err)

    def sync_claim(self, key: str) -> None:
        claim = self.claims.get(key)
        if claim is None or claim.get("status", {}).get("phase") == "Bound" or claim["spec"].get("volumeName"):
            return
        meta, spec = claim["metadata"], claim["spec"]
        class_name = spec.get("storageClassName") or STORAGE_CLASS
        storage_class = self.client.get_or_none("storage.k8s.io/v1", "StorageClass", class_name)
        if storage_class is None or storage_class.get("provisioner") != PROVISIONER:
            return
        selected = meta.get("annotations", {}).get("volume.kubernetes.io/selected-node")
        if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer" and selected not in self.nodes:
            return
        node_name = selected if selected in self.nodes else next(iter(self.nodes))
        name = f"pvc-{meta['uid']}"
        volume = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {
                "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
                "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
                "storageClassName": class_name,
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "hostPath": {"path": f"/var/local-path-provisioner/{name}_{meta['namespace']}_{meta['name']}",
                             "type": "DirectoryOrCreate"},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                             "name": meta["name"], "uid": meta["uid"]},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}]}},
            },
        }
        with contextlib.suppress(Conflict):
            self.client.create(volume)
            log.info("provisioned %s for claim %s", name, key)

    # --- lifecycle ---------------------------------------------------------------------------------------
    def ready(self) -> bool:
        return self.registered.is_set() and self.pods.synced.is_set()

    def start(self) -> None:
        self.register()
        for informer in (self.pods, self.claims, self.volumes):
            self.threads.append(informer.start())
        for index in range(self.workers):
            thread = threading.Thread(target=self.worker, name=f"pod-worker-{index}", daemon=True)
            thread.start()
            self.threads.append(thread)
        heartbeat = threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True)
        heartbeat.start()
        self.threads.append(heartbeat)

    def shutdown(self) -> None:
        self.stop.set()
        for informer in (self.pods, self.claims, self.volumes):
            informer.stop()
        self.queue.shutdown()


def make_nodes(prefix: str, count: int) -> list[SimNode]:
    nodes = []
    for index in range(count):
        name = prefix if index == 0 else f"{prefix}{index + 1}"
        nodes.append(SimNode(name, f"172.18.0.{index + 2}", ipaddress.IPv4Network(f"10.244.{index}.0/24")))
    return nodes


def parse_registries(values: list[str]) -> dict[str, str]:
    registries = {}
    for value in values:
        host, sep, url = value.partition("=")
        if not sep:
            raise SystemExit(f"--registry expects HOST=URL, got {value!r}")
        registries[host] = url
    return registries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox-node-agent", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--node-name", default="sandbox-node")
    parser.add_argument("--health-port", type=int, required=True)
    parser.add_argument("--registry", action="append", default=[],
                        help="HOST=URL: images naming HOST are checked against the registry at URL")
    parser.add_argument("--strict-images", action="store_true")
    parser.add_argument("--registry-credentials", type=Path, default=None, metavar="FILE",
                        help="JSON file (0600) with the username and password the registries ask for")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    client = KubeClient.from_kubeconfig(args.kubeconfig)
    checker = ImageChecker(parse_registries(args.registry), strict=args.strict_images,
                           credentials_file=args.registry_credentials)
    agent = NodeAgent(client, make_nodes(args.node_name, args.nodes), checker)
    stopped = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = serve_health(args.health_port, agent.ready, name="node-agent-health")
    while not stopped.is_set():
        try:
            agent.start()
            break
        except APIError as err:
            log.warning("registering nodes failed (%s); retrying", err)
            stopped.wait(0.5)
    stopped.wait()
    exit_within(5.0, "the node agent")
    agent.shutdown()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
