"""The kind cluster backend: a real Kubernetes cluster in Docker containers, made by the ``kind`` CLI.

``plan`` writes the cluster's config (``cluster_config``), creates the cluster with its kubeconfig in the state
directory (never the user's default one), loads the local images asked for (``--load-image``) into every node, and
returns one supervised component, the keeper: it keeps the sandbox's registry container attached to the ``kind``
network (also after the registry restarts) and is ready while the control-plane node runs. ``finish`` runs once
everything is ready: it applies the ``local-registry-hosting`` ConfigMap (KEP-1755) and records the registry's
addresses as seen from the host and from inside the cluster.

Images pushed to the sandbox registry as ``127.0.0.1:PORT/app:tag`` are pulled by the nodes' containerd through a
``hosts.toml`` per registry host (``/etc/containerd/certs.d``, mounted from the state directory) that sends them to
the registry's name on the ``kind`` network. ``cleanup`` deletes the cluster and nothing else, found by kind's own
label, only when this sandbox's record says it created the cluster.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox import binaries, config
from sandbox.cluster.base import ClusterPlan
from sandbox.errors import CommandError, InputError, NotRunning, NotSupported, SandboxError
from sandbox.health import serve_health
from sandbox.kindnode.node import LABEL_FINGERPRINT as ASSEMBLED_LABEL
from sandbox.kube.client import KubeClient
from sandbox.ports import free_ports
from sandbox.state import ComponentSpec, Probe, StateDir, read_json, write_json
from sandbox.tools import docker
from sandbox.tools import kind as kindcli
from sandbox.waiting import wait_until

KIND_VERSION = "v0.33.0"
# kind v0.33.0's pinned default node image (sigs.k8s.io/kind pkg/apis/config/defaults): what kind pulls when it
# is given none, where images can be pulled.
DEFAULT_NODE_IMAGE = ("kindest/node:v1.37.0@sha256:"
                      "a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5")
# A node image assembled on this machine (`sandbox setup --kind-node-image`), tagged with its Kubernetes version.
LOCAL_NODE_REPOSITORY = "sandbox.local/kind-node"
KIND_ENV = "SANDBOX_KIND"
NODE_IMAGE_ENV = "SANDBOX_KIND_NODE_IMAGE"
NETWORK_ENV = "KIND_EXPERIMENTAL_DOCKER_NETWORK"  # kind's own setting for the network its nodes join
DEFAULT_NETWORK = "kind"
CLUSTER_LABEL = "io.x-k8s.kind.cluster"  # kind labels every node container with its cluster's name
CERTS_D = "/etc/containerd/certs.d"
COMPONENT = "kind-cluster"
API_VERSION = "kind.x-k8s.io/v1alpha4"
REGISTRY_CONTAINER_PORT = 5000
# The registry's component label (sandbox.registry.base.COMPONENT; the layers keep this module below the registry).
REGISTRY_COMPONENT = "registry"
LOCAL_REGISTRY_HOSTING = "local-registry-hosting"  # KEP-1755's ConfigMap, in kube-public
KEP_1755_HELP = "https://kind.sigs.k8s.io/docs/user/local-registry/"
# Kubernetes >= 1.35's kubelet refuses cgroup v1 hosts unless told otherwise; kind v0.33.0 only warns about them.
KUBELET_CGROUP_V1_PATCH = ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                           "failCgroupV1: false\n")
CONTAINERD_REGISTRY_PATCH = f'[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "{CERTS_D}"\n'


def cluster_name(sandbox: str) -> str:
    """The kind cluster of sandbox ``sandbox`` (its nodes are ``NAME-control-plane``, ``NAME-worker`` …)."""
    return f"sandbox-{sandbox}"


def network() -> str:
    return os.environ.get(NETWORK_ENV) or DEFAULT_NETWORK


def locate(bin_dir: Path | None = None) -> Path:
    """The kind binary: ``$SANDBOX_KIND``, else where binaries look (``$SANDBOX_BIN_DIR``, the cache where
    ``sandbox setup --kind`` puts it, the Python environment, PATH)."""
    explicit = os.environ.get(KIND_ENV)
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise InputError(f"${KIND_ENV} is {explicit!r}, which is not an executable file")
        return path
    found = binaries.find("kind", bin_dir=bin_dir)
    if found is None:
        raise InputError(f"--cluster kind needs the kind binary ({KIND_VERSION}): put it on PATH, set ${KIND_ENV} to "
                         "it, or run `sandbox setup --kind` (builds it from the Go module sigs.k8s.io/kind)")
    return found.path


def local_node_image(version: str) -> str:
    return f"{LOCAL_NODE_REPOSITORY}:{version}"


def choose_node_image(explicit: str, version: str, present: Callable[[str], bool]) -> tuple[str, str]:
    """(image, where the choice came from): ``--kind-node-image``, ``$SANDBOX_KIND_NODE_IMAGE``, the node image
    assembled locally for ``version`` when the engine has it, else kind's pinned default (pulled by kind)."""
    if explicit:
        return explicit, "--kind-node-image"
    from_env = os.environ.get(NODE_IMAGE_ENV, "")
    if from_env:
        return from_env, f"${NODE_IMAGE_ENV}"
    local = local_node_image(version)
    if present(local):
        return local, "built locally"
    return DEFAULT_NODE_IMAGE, f"kind {KIND_VERSION}'s default"


def single_node_only(image: str, labels: Callable[[str], Mapping[str, str] | None]) -> bool:
    """Whether ``image`` is a node image assembled by `sandbox setup --kind-node-image` (whatever its tag): its pod
    network is a bridge on each node, with the same pod range everywhere and no routes between nodes."""
    return ASSEMBLED_LABEL in (labels(image) or {})


def check_nodes(nodes: int, image: str, source: str, labels: Callable[[str], Mapping[str, str] | None]) -> None:
    """InputError for several nodes on an assembled node image: pods on different nodes would get the same
    addresses and could not reach each other, so Services would fail without saying why."""
    if nodes > 1 and single_node_only(image, labels):
        raise InputError(f"--nodes {nodes}: the node image {image} ({source}) was assembled by `sandbox setup "
                         "--kind-node-image` and has no multi-node pod network (kindnetd cannot be built here; its "
                         "bridge network gives every node the same pod range and no routes to the others). Use one "
                         "node, or a multi-node image such as kindest/node with --kind-node-image "
                         "(docs/kind-node-image.md)")


PULL_ENV = "SANDBOX_KIND_PULL"  # "1": this machine can pull kind's default node image


def missing_prerequisites(version: str = config.DEFAULT_K8S_VERSION, node_image: str = "") -> str:
    """What a real kind sandbox lacks here, named with how to get it ("" when Docker, kind and a node image are
    there). The default node image counts as there when the engine has it or ``$SANDBOX_KIND_PULL=1`` says it can
    be pulled."""
    ok, why = docker.usable()
    if not ok:
        return f"Docker: {why}"
    try:
        locate()
    except InputError as err:
        return str(err)
    image, source = choose_node_image(node_image, version, docker.image_exists)
    if docker.image_exists(image):
        refused = docker.privileged_refused(image)
        return f"a Docker engine that runs privileged containers (kind's nodes are): {refused}" if refused else ""
    if image == DEFAULT_NODE_IMAGE and os.environ.get(PULL_ENV) == "1":
        return ""
    if image == DEFAULT_NODE_IMAGE:
        return (f"a kind node image: neither {local_node_image(version)} (assembled here by `sandbox setup "
                f"--kind-node-image`) nor kind's default {image} is in the Docker engine; set {PULL_ENV}=1 "
                f"where it can be pulled, or {NODE_IMAGE_ENV} to a node image you have")
    return f"the kind node image {image} ({source}) is not in the Docker engine"


STANDINS_HELP = "python -m sandbox.kindnode.standins"


def check_load_images(cluster: str, images: Sequence[str], exists: Callable[[str], bool]) -> None:
    """Refuse ``--load-image`` where it cannot work, before anything starts: on the embedded cluster (its simulated
    nodes run no image), and for an image the local Docker engine does not have (naming each, and what to do)."""
    if not images:
        return
    if cluster != "kind":
        raise InputError(f"--load-image copies local Docker images into a kind cluster's nodes; the {cluster} "
                         "cluster's simulated nodes run no image (any image reference counts as pulled there): use it "
                         "with --cluster kind")
    missing = [image for image in images if not exists(image)]
    if missing:
        raise InputError(f"--load-image: not in the local Docker engine: {', '.join(missing)}. Pull or build it "
                         f"first (`docker pull {missing[0]}`, or `docker build -t {missing[0]} .`); on a machine "
                         f"that cannot pull, `{STANDINS_HELP} {' '.join(missing)}` builds stand-ins that only keep "
                         "pods running (docs/kind.md#offline-machines)")


@dataclass(frozen=True)
class RegistryWiring:
    """The sandbox registry as the nodes see it: pushed to as ``127.0.0.1:PORT`` on the host, reached as
    ``ALIAS:5000`` on the ``kind`` network."""

    port: int
    alias: str
    container_port: int = REGISTRY_CONTAINER_PORT

    @property
    def host_addresses(self) -> tuple[str, ...]:
        return f"127.0.0.1:{self.port}", f"localhost:{self.port}"

    @property
    def in_network(self) -> str:
        return f"{self.alias}:{self.container_port}"

    def hosts_toml(self) -> str:
        """containerd's host configuration sending pulls to the registry's in-network name, over plain HTTP."""
        return f'server = "http://{self.in_network}"\n\n[host."http://{self.in_network}"]\n' \
               '  capabilities = ["pull", "resolve"]\n'

    def hosts_files(self) -> dict[str, str]:
        """``certs.d`` subdirectory (a registry host as pod specs name it) -> its ``hosts.toml``."""
        return {host: self.hosts_toml() for host in (*self.host_addresses, self.in_network)}

    def hosting_configmap(self) -> dict[str, Any]:
        """The ``local-registry-hosting`` ConfigMap of KEP-1755: where tools push, and what the cluster pulls."""
        hosting = {"host": self.host_addresses[0], "hostFromContainerRuntime": self.in_network,
                   "hostFromClusterNetwork": self.in_network, "help": KEP_1755_HELP}
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": LOCAL_REGISTRY_HOSTING, "namespace": "kube-public"},
                "data": {"localRegistryHosting.v1": yaml.safe_dump(hosting, sort_keys=False)}}


def cluster_config(name: str, image: str, *, nodes: int = 1, certs_dir: Path | None = None,
                   port_mappings: Sequence[tuple[int, int]] = (), cgroup_v1: bool = False) -> dict[str, Any]:
    """kind's ``Cluster`` (v1alpha4): one control-plane node and ``nodes - 1`` workers, each with ``certs_dir``
    mounted read-only as containerd's registry host directory; ``port_mappings`` (host, container) on the
    control-plane node only when asked, published on 127.0.0.1; on a cgroup v1 host, the kubelet told to start
    anyway."""
    if nodes < 1:
        raise InputError(f"a kind cluster needs at least one node, not {nodes}")

    def node(role: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"role": role, "image": image}
        if certs_dir is not None:
            entry["extraMounts"] = [{"hostPath": str(certs_dir), "containerPath": CERTS_D, "readOnly": True}]
        if role == "control-plane" and port_mappings:
            entry["extraPortMappings"] = [{"containerPort": inside, "hostPort": outside,
                                           "listenAddress": "127.0.0.1", "protocol": "TCP"}
                                          for outside, inside in port_mappings]
        return entry

    document: dict[str, Any] = {"kind": "Cluster", "apiVersion": API_VERSION, "name": name,
                                "nodes": [node("control-plane")] + [node("worker") for _ in range(nodes - 1)]}
    if certs_dir is not None:
        document["containerdConfigPatches"] = [CONTAINERD_REGISTRY_PATCH]
    if cgroup_v1:
        document["kubeadmConfigPatches"] = [KUBELET_CGROUP_V1_PATCH]
    return document


def write_hosts(certs_dir: Path, wiring: RegistryWiring) -> None:
    for host, text in wiring.hosts_files().items():
        directory = certs_dir / host
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts.toml").write_text(text)


# --- what the sandbox created, for `sandbox down` -----------------------------------------------------------------

def record_path(state: StateDir) -> Path:
    return state.data / "kind.json"


def read_record(state: StateDir) -> dict[str, Any]:
    try:
        data = read_json(record_path(state))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def owned_by(labels: Mapping[str, str], state_dir: Path, record: Mapping[str, Any]) -> bool:
    """Whether a container with ``labels`` is this sandbox's: labelled with its state directory, or a node of the
    kind cluster its record says it created (a cluster of the same name made by someone else is not)."""
    if labels.get(docker.LABEL_STATE_DIR) == str(state_dir):
        return True
    cluster = record.get("cluster")
    return bool(cluster) and bool(record.get("created")) and labels.get(CLUSTER_LABEL) == cluster


def cleanup(state: StateDir) -> list[str]:
    """Delete the kind cluster this sandbox created (with the kind binary it used, else its node containers by
    label) and remove its labelled volumes; returns what was removed. The ``kind`` network stays: kind shares it
    between clusters, and it loses the sandbox's attachments as its containers go."""
    record = read_record(state)
    if not record.get("created") or not docker.socket_present():
        return []
    removed: list[str] = []
    binary = Path(record.get("kind", ""))
    if binary.is_file():
        try:
            kindcli.delete_cluster(binary, record["cluster"], state.kubeconfig)
            removed.append(f"kind cluster {record['cluster']}")
        except SandboxError as err:
            print(f"kind delete cluster {record['cluster']} failed ({err}); removing its nodes by label",
                  file=sys.stderr)
    try:
        nodes = [c[""] for c in docker.container_labels_of({CLUSTER_LABEL: record["cluster"]})
                 if owned_by(c, state.path, record)]
        removed += [f"container {each[:12]}" for each in docker.remove_containers(nodes)]
        removed += [f"volume {each}" for each in docker.remove_labelled_volumes({docker.LABEL_STATE_DIR:
                                                                                  str(state.path)})]
    except docker.DockerUnavailable:
        pass
    return removed


# --- the cluster ----------------------------------------------------------------------------------------------------

def create_failure_hint(message: str) -> str:
    """What to do about a failed ``kind create cluster``, from kind's own message ("" when nothing specific)."""
    if "failed to pull image" in message or "pull access denied" in message:
        return (f"The node image cannot be pulled here: give one you have with --kind-node-image or "
                f"${NODE_IMAGE_ENV}, or assemble one with `sandbox setup --kind-node-image` (docs/kind.md)")
    if "unable to apply caps" in message or ("privileged" in message and "not permitted" in message):
        return ("This Docker engine cannot run privileged containers (kind's nodes are privileged): it runs with "
                "fewer capabilities than a privileged container asks for, e.g. inside another container. Run kind "
                "on a host whose engine can, or use --cluster embedded")
    if "too many open files" in message:
        return "Raise the inotify limits (docs/kind.md#inotify-limits)"
    return ""


def _server(kubeconfig_text: str) -> str:
    document = yaml.safe_load(kubeconfig_text) or {}
    return str(((document.get("clusters") or [{}])[0].get("cluster") or {}).get("server", ""))


@dataclass
class KindCluster:
    """``sandbox.cluster.base.Cluster`` for kind. ``registry`` wires the sandbox registry in (None: no registry)."""

    name: str  # the sandbox's name
    registry: RegistryWiring | None = None
    nodes: int = 1
    node_image: str = ""  # --kind-node-image ("" : choose_node_image decides)
    version: str = config.DEFAULT_K8S_VERSION
    bin_dir: Path | None = None
    load_images: tuple[str, ...] = ()  # --load-image: local Docker images loaded into every node once it exists

    @property
    def cluster(self) -> str:
        return cluster_name(self.name)

    def plan(self, state: StateDir) -> ClusterPlan:
        ok, why = docker.usable()
        if not ok:
            raise InputError(f"--cluster kind needs Docker: {why}")
        binary = locate(self.bin_dir)
        image, source = choose_node_image(self.node_image, self.version, docker.image_exists)
        check_nodes(self.nodes, image, source, docker.image_labels)
        check_load_images("kind", self.load_images, docker.image_exists)
        if self.cluster in kindcli.get_clusters(binary):
            raise InputError(f"a kind cluster named {self.cluster!r} exists already and is not this sandbox's: "
                             f"delete it (`kind delete cluster --name {self.cluster}`) or pick another --name")
        certs_dir = state.data / "kind" / "certs.d"
        certs_dir.mkdir(parents=True, exist_ok=True)
        if self.registry is not None:
            write_hosts(certs_dir, self.registry)
        config_file = state.data / "kind" / "cluster.yaml"
        config_file.write_text(yaml.safe_dump(cluster_config(self.cluster, image, nodes=self.nodes,
                                                             certs_dir=certs_dir,
                                                             cgroup_v1=docker.cgroup_version() == "1"),
                                              sort_keys=False))
        # Written before kind runs: a cleanup after a failed or interrupted create still finds the cluster.
        write_json(record_path(state), {"cluster": self.cluster, "kind": str(binary), "created": True,
                                        "node_image": image, "node_image_source": source, "network": network(),
                                        "loaded_images": list(self.load_images)})
        try:
            kindcli.create_cluster(binary, self.cluster, config_file, state.kubeconfig)
        except CommandError as err:
            hint = create_failure_hint(str(err))
            raise SandboxError(f"kind could not create cluster {self.cluster!r} from node image {image} ({source}): "
                               f"{err}" + (f"\n{hint}" if hint else "")) from err
        os.chmod(state.kubeconfig, 0o600)
        if self.load_images:
            try:
                kindcli.load_docker_image(binary, self.cluster, self.load_images)
            except CommandError as err:
                raise SandboxError(f"kind could not load {', '.join(self.load_images)} into cluster "
                                   f"{self.cluster!r}: {err}") from err
        server = _server(state.kubeconfig.read_text())
        (health,) = free_ports(1)
        attach = [f"--attach={REGISTRY_COMPONENT}={self.registry.alias}"] if self.registry is not None else []
        keeper = ComponentSpec(
            name=COMPONENT,
            argv=[sys.executable, "-m", "sandbox.cluster.kind", "--state-dir", str(state.path),
                  "--cluster", self.cluster, "--health-port", str(health), *attach],
            after=[REGISTRY_COMPONENT] if self.registry is not None else [],
            probe=Probe(url=f"http://127.0.0.1:{health}/readyz"),
            endpoints={"server": server, "health": f"http://127.0.0.1:{health}/readyz"},
            startup_timeout=60,
        )
        return ClusterPlan(components=[keeper], kubeconfig=state.kubeconfig, server=server)


def finish(state: StateDir, registry: RegistryWiring | None) -> dict[str, Any]:
    """Once the sandbox is ready: apply KEP-1755's ConfigMap; returns the record's ``kind`` entry (the registry as
    seen from the host and from inside the cluster)."""
    record = read_record(state)
    entry: dict[str, Any] = {"cluster": record.get("cluster"), "network": record.get("network"),
                             "node_image": record.get("node_image"),
                             "node_image_source": record.get("node_image_source"), "kind": record.get("kind"),
                             "loaded_images": record.get("loaded_images") or []}
    kube = KubeClient.from_kubeconfig(state.kubeconfig)
    # `kind create cluster --wait` waits for the control plane, not for the controller-manager to have made the
    # default ServiceAccount: a pod created before that is refused ("serviceaccount \"default\" not found").
    wait_until(lambda: kube.get_or_none("v1", "ServiceAccount", "default", "default"), timeout=60,
               what="the kind cluster's default ServiceAccount in namespace default", interval=0.2, max_interval=1)
    entry["kubernetes_version"] = str(kube.request("GET", "/version", what="the API server's version")
                                      .get("gitVersion", ""))
    if registry is not None:
        kube.apply(registry.hosting_configmap(), field_manager="gitops-sandbox")
        entry["registry"] = {"host": registry.host_addresses[0], "in_cluster": registry.in_network,
                             "configmap": f"kube-public/{LOCAL_REGISTRY_HOSTING}"}
    return entry


def load_images(state: StateDir, images: Sequence[str]) -> list[str]:
    """``kind load docker-image`` into every node of the sandbox's kind cluster; returns its node names.
    NotSupported on an embedded sandbox (its simulated nodes run no image), saying what to do instead."""
    if not state.exists():
        raise NotRunning(f"sandbox {state.name!r} is not up; start it with `sandbox up --cluster kind`")
    record = read_record(state)
    if not record.get("cluster"):
        host = (state.read_record().get("registry") or {}).get("host", "127.0.0.1:PORT")
        raise NotSupported(f"sandbox {state.name!r} runs the embedded cluster, whose simulated nodes run no image: "
                           f"push the image to the sandbox registry instead (`docker tag IMAGE {host}/IMAGE && "
                           f"docker push {host}/IMAGE`, or `sandbox image push NAME:TAG`) and name {host}/IMAGE in "
                           "the pod spec")
    missing = [image for image in images if not docker.image_exists(image)]
    if missing:
        raise InputError(f"not in the local Docker engine: {', '.join(missing)} (build or pull it first; "
                         "`docker images` lists what is there)")
    binary = Path(record["kind"])
    if not binary.is_file():
        binary = locate()
    kindcli.load_docker_image(binary, record["cluster"], images)
    return kindcli.get_nodes(binary, record["cluster"])


# --- the keeper process ---------------------------------------------------------------------------------------------

def _attach_all(state_dir: Path, attach: Mapping[str, str], net: str) -> bool:
    """Attach each sandbox container of a component in ``attach`` to ``net`` under its alias; True when every
    such component has a running container attached."""
    complete = True
    for component, alias in attach.items():
        found = docker.labelled_containers({docker.LABEL_STATE_DIR: str(state_dir),
                                            docker.LABEL_COMPONENT: component})
        if not found:
            complete = False
        for container_id in found:
            try:
                if docker.attach(net, container_id, [alias]):
                    print(f"attached {component} container {container_id[:12]} to network {net} as {alias}",
                          flush=True)
            except SandboxError as err:
                print(f"could not attach {component} container {container_id[:12]} to {net}: {err}", flush=True)
                complete = False
    return complete


def keep(state_dir: Path, cluster: str, health_port: int, attach: Mapping[str, str]) -> int:
    """Until SIGTERM: keep ``attach``'s containers on the kind network; exit 1 when the control-plane node stops."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    node = f"{cluster}-control-plane"
    net = network()
    status = {"ready": False}
    server = serve_health(health_port, lambda: status["ready"], name="kind-keeper-health")
    try:
        while True:
            state = docker.container_state(node)
            if state != "running":
                print(f"the kind node {node} is {state or 'gone'}; exiting", flush=True)
                return 1
            status["ready"] = _attach_all(state_dir, attach, net)
            if stop.wait(1.0):
                return 0
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.cluster.kind")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--health-port", required=True, type=int)
    parser.add_argument("--attach", action="append", default=[], metavar="COMPONENT=ALIAS")
    args = parser.parse_args(argv)
    attach = dict(item.split("=", 1) for item in args.attach)
    return keep(args.state_dir, args.cluster, args.health_port, attach)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
