"""``sandbox up --reconciler flux``: upstream Flux's controllers as supervised host processes (Flux's own dev
install: CRDs applied directly, ``make run`` against the cluster), with leader election off and storage on
loopback.

Flux pins one release set; the controllers the Go module proxy serves run (source-, kustomize-, helm-controller
today). Receivers are the sandbox's own (notification-controller's module is not served): its reconciler runs
with the Receiver controller only, installs the CRDs — Flux's where Flux has one, ours for the other kinds — and
the fleet repository is wired exactly as with our reconciler.
"""

from __future__ import annotations

from sandbox.config import UpOptions
from sandbox.fluxdev import install as flux_install
from sandbox.fluxdev import release, statemetrics
from sandbox.ports import free_ports
from sandbox.reconciler.apis.install import NAMESPACE
from sandbox.reconciler.identity import service_account_user
from sandbox.reconciler.lockdown import Lockdown
from sandbox.reconciler_service import COMPONENT as RECONCILER
from sandbox.reconciler_service import ReconcilerService, lockdown_of
from sandbox.services import ServicePlan
from sandbox.state import ComponentSpec, Probe, StateDir, write_private

# Controllers run here when built, in start order; the others of the release are reported as unavailable.
RUN = ("source-controller", "kustomize-controller", "helm-controller")
PREFIX = "flux-"


def component_name(controller: str) -> str:
    return PREFIX + controller


class FluxService:
    name = "flux"

    def __init__(self, flux_release: str = release.FLUX_RELEASE) -> None:
        self.release = flux_release
        self._receivers = ReconcilerService()

    def enabled(self, options: UpOptions) -> bool:
        return options.reconciler == "flux"

    def plan(self, state: StateDir, options: UpOptions) -> ServicePlan:
        built = release.require(self.release)
        (events,) = free_ports(1)  # notification-controller's event server, served by the receivers' process
        # Never the admin's credentials: each controller runs as its own ServiceAccount with Flux's own RBAC (from
        # `flux install --export`), applied by the receivers' process, which writes a kubeconfig per controller
        # before it is ready (the controllers start after it).
        rbac_file = state.data / "flux" / "rbac.yaml"
        rbac_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(rbac_file, flux_install.cached_rbac_yaml(built))
        identities = {c: state.secrets / f"flux-{c}.kubeconfig" for c in RUN if c in built.built}
        receivers = self._receivers.plan(state, options, extra_argv=(
            "--receivers-only", "--upstream-crds", str(built.crd_dir), "--events-port", str(events),
            "--upstream-rbac", str(rbac_file), *[arg for c, path in identities.items()
                                                 for arg in ("--upstream-identity", f"{c}={path}")]))
        components: list[ComponentSpec] = []
        controllers: dict[str, dict[str, str]] = {}
        storage = ""
        for controller in (c for c in RUN if c in built.built):
            metrics, health = free_ports(2)
            argv = [str(built.binary(controller)), f"--metrics-addr=127.0.0.1:{metrics}",
                    f"--health-addr=127.0.0.1:{health}", "--enable-leader-election=false",
                    "--watch-all-namespaces=true", "--log-level=info", "--log-encoding=json", "--concurrent=4",
                    f"--events-addr=http://127.0.0.1:{events}/"]
            argv += _lockdown_flags(controller, lockdown_of(options))
            if options.requeue_dependency:
                argv.append(f"--requeue-dependency={options.requeue_dependency}")  # each of RUN takes it
            endpoints = {"health": f"http://127.0.0.1:{health}/readyz", "metrics": f"http://127.0.0.1:{metrics}/metrics"}
            if controller == "source-controller":
                (port,) = free_ports(1)
                storage = f"http://127.0.0.1:{port}"
                storage_dir = state.data / "flux" / "source-controller"
                storage_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                argv += [f"--storage-path={storage_dir}",
                         f"--storage-addr=127.0.0.1:{port}", f"--storage-adv-addr=127.0.0.1:{port}"]
                endpoints["artifacts"] = storage
            env = {"KUBECONFIG": str(identities[controller]), "RUNTIME_NAMESPACE": NAMESPACE}
            components.append(ComponentSpec(
                name=component_name(controller), argv=argv, env=env,
                # The receivers' process installs the CRDs before it is ready: the controllers need them to start.
                after=[RECONCILER], probe=Probe(url=endpoints["health"]), endpoints=endpoints, startup_timeout=120))
            controllers[controller] = {"version": built.built[controller], **endpoints}
        record = {**receivers.record, "flux": {
            "release": self.release, "bin_dir": str(built.bin_dir), "controllers": controllers,
            "artifacts": storage, "unavailable": [c for c in release.CONTROLLERS if c not in built.built],
            # One ServiceAccount per controller, as a Flux install has.
            "identities": {c: {"user": service_account_user(NAMESPACE, c), "kubeconfig": str(path)}
                           for c, path in identities.items()},
        }}
        if options.monitoring is not None:  # gotk_resource_info comes from kube-state-metrics, as upstream
            state_metrics, record["flux"]["kube_state_metrics"] = statemetrics.plan(state)
            components += state_metrics
        return ServicePlan(components=[*receivers.components, *components], record=record)

    def after_ready(self, state: StateDir, options: UpOptions) -> None:
        self._receivers.after_ready(state, options)


def _lockdown_flags(controller: str, lockdown: Lockdown) -> list[str]:
    """The multi-tenancy flags each of upstream's controllers takes (as in flux2-multi-tenancy's patches)."""
    if controller == "kustomize-controller":
        return lockdown.argv()
    if controller == "helm-controller":
        return [flag for flag in lockdown.argv() if flag != "--no-remote-bases"]
    return []
