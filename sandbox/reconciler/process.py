"""The reconciler process in dev-install mode: install the CRDs and RBAC directly, then run the controllers,
the artifact server, the webhook receiver and the metrics endpoint on loopback."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from sandbox.errors import APIError, SandboxError
from sandbox.health import serve_health
from sandbox.interrupts import exit_within
from sandbox.kube.client import KubeClient
from sandbox.reconciler import lockdown, logs, support
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.kinds import Kind
from sandbox.reconciler.lockdown import SERVICE, Lockdown
from sandbox.reconciler.notification.receiver import ReceiverIndex, ReceiverReconciler, ReceiverServer
from sandbox.reconciler.runtime import targets
from sandbox.reconciler.runtime.controller import Context, Controller
from sandbox.reconciler.runtime.events import EventRecorder
from sandbox.reconciler.runtime.manager import Manager
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.runtime.timeutil import parse_duration
from sandbox.reconciler.sealedsecrets.controller import register as register_sealed_secrets
from sandbox.reconciler.source import includes
from sandbox.reconciler.source.artifact import Sources
from sandbox.reconciler.source.artifactgenerator import register as register_generators
from sandbox.reconciler.source.gitrepository import DEPENDENCY_REQUEUE as GIT_DEPENDENCY_REQUEUE
from sandbox.reconciler.source.gitrepository import GitRepositoryReconciler
from sandbox.reconciler.source.helmsources import register as register_helm_sources
from sandbox.reconciler.source.mirrors import MirrorMapFile
from sandbox.reconciler.source.ocirepository import OCIRepositoryReconciler
from sandbox.reconciler.source.storage import Storage, url_secret
from sandbox.reconciler.unsupported import NotSupportedReconciler
from sandbox.waiting import wait_until

log = logging.getLogger("sandbox.reconciler")

# Kinds whose upstream controllers the module proxy does not serve: beside upstream Flux, ours serve them (their
# only links to the rest are Kubernetes objects: GitRepositories, and the commits a Kustomization then applies).
BESIDE_UPSTREAM = {kinds.IMAGEREPOSITORY.kind, kinds.IMAGEPOLICY.kind, kinds.IMAGEUPDATEAUTOMATION.kind}


def artifact_base_url(port: int, data_dir: Path) -> str:
    """Where the artifact server publishes: loopback, under the sandbox's secret path segment (see storage)."""
    return f"http://127.0.0.1:{port}/{url_secret(data_dir)}"


def build_manager(kube: KubeClient, data_dir: Path, *, artifact_url: str, stop: threading.Event,
                  workers: int = 4, receivers_only: bool = False, upstream_kinds: set[str] | None = None,
                  requeue_dependency: float | None = None,
                  mirror_map: Path | None = None,
                  kubeconfig: Path | None = None,
                  upstream_events: bool = False,
                  lockdown: Lockdown | None = None) -> tuple[Manager, Context, dict[str, Any]]:
    """Wire the controllers; returns the manager, the shared context and the parts servers need.

    ``receivers_only``: beside upstream Flux (``sandbox up --reconciler flux``), whose notification-controller and
    image controllers the module proxy does not serve, only the Receiver controller and its webhook server run
    here, and ours for the image kinds upstream lacks (``BESIDE_UPSTREAM`` not in ``upstream_kinds``) — and, for
    the kinds neither reconciler serves, the NotSupported controller.

    ``mirror_map``: the sandbox's mirror map file, which every source controller consults before it fetches.

    ``kubeconfig``: the file the Helm SDK connects with (HelmReleases); without it, HelmReleases are NotSupported.

    ``lockdown``: Flux's multi-tenancy flags (``--default-service-account``, ``--no-cross-namespace-refs``,
    ``--no-remote-bases``), read by the Kustomization and HelmRelease controllers from the context's services.

    ``upstream_events``: beside upstream Flux, its controllers send their events to our event server
    (``--events-port``): the Provider and Alert controllers and the dispatcher run here too.
    """
    metrics = Metrics()
    ctx = Context(kube=kube, events=EventRecorder(kube), metrics=metrics, stop=stop)
    storage = Storage(data_dir / "artifacts", artifact_url)
    ctx.services["storage"] = storage
    # Which client applies each Kustomization and HelmRelease: ours, or one impersonating its ServiceAccount; in
    # this cluster, or in spec.kubeConfig's.
    ctx.services[targets.SERVICE] = targets.Targets(kube, kubeconfig=kubeconfig,
                                                    default_service_account=(lockdown or Lockdown())
                                                    .default_service_account,
                                                    kubeconfig_dir=data_dir / "impersonation",
                                                    remote_dir=data_dir / "kubeconfigs")
    ctx.services[SERVICE] = lockdown or Lockdown()
    manager = Manager(stop)
    index = ReceiverIndex()
    manager.add(Controller(ReceiverReconciler(index), ctx, workers=2))
    register_sealed_secrets(manager, ctx)  # not a Flux kind: served beside upstream Flux too
    parts: dict[str, Any] = {}
    if not receivers_only or upstream_events:  # beside upstream Flux: when its controllers send us their events
        from sandbox.reconciler.notification import alertlog
        from sandbox.reconciler.notification.alerting import register as register_alerting

        parts["dispatcher"] = register_alerting(manager, ctx, kube,
                                                alert_log=alertlog.AlertLog(alertlog.path_in(data_dir)))
    for kind, note in unsupported_kinds(receivers_only, upstream_kinds or set(), notifications=upstream_events):
        manager.add(Controller(NotSupportedReconciler(kind, note), ctx, workers=1))
    if receivers_only and not BESIDE_UPSTREAM & (upstream_kinds or set()):
        _register_image_controllers(manager, ctx, data_dir)
    if not receivers_only:
        mirrors = MirrorMapFile(mirror_map)
        git_controller = manager.add(Controller(GitRepositoryReconciler(
            storage, data_dir / "git-mirrors", mirror_map=mirrors,
            requeue_dependency=requeue_dependency or GIT_DEPENDENCY_REQUEUE), ctx, workers=workers))
        ctx.services["gitrepositories"] = git_controller.informer
        # A new artifact of an included GitRepository rebuilds the repositories that include it.
        informer = git_controller.informer
        git_controller.watch(informer, lambda repo: includes.dependents_to_reconcile(repo, informer.items()))
        from sandbox.reconciler.kustomize.controller import DEPENDENCY_REQUEUE
        from sandbox.reconciler.kustomize.controller import register as register_kustomizations

        sources = Sources()
        oci_controller = Controller(OCIRepositoryReconciler(storage, mirror_map=mirrors), ctx, workers=workers)
        sources.register(kinds.OCIREPOSITORY, manager.add(oci_controller).informer)
        sources.register(kinds.GITREPOSITORY, git_controller.informer)
        subscribe_helm_charts = register_helm_sources(manager, ctx, sources, storage, mirror_map=mirrors)
        register_generators(manager, ctx, sources, storage, data_dir)  # after the other source kinds
        subscribe_helm_charts()  # HelmCharts watch every source kind, ExternalArtifacts included
        register_kustomizations(manager, ctx, sources, data_dir, workers=workers,
                                requeue_dependency=requeue_dependency or DEPENDENCY_REQUEUE)
        _register_image_controllers(manager, ctx, data_dir)
        if kubeconfig is not None:
            from sandbox.reconciler.helm.controller import register as register_helmreleases

            register_helmreleases(manager, ctx, sources, kubeconfig, workers=workers,
                                  requeue_dependency=requeue_dependency or DEPENDENCY_REQUEUE)
        else:
            manager.add(Controller(NotSupportedReconciler(
                kinds.HELMRELEASE, "the reconciler runs without a kubeconfig for the Helm SDK"), ctx, workers=1))
    return manager, ctx, {"storage": storage, "receiver_index": index, **parts}


def _register_image_controllers(manager: Manager, ctx: Context, data_dir: Path) -> None:
    from sandbox.reconciler.image.automation.controller import register as register_image_automation
    from sandbox.reconciler.image.reflector import register as register_image_reflector

    register_image_reflector(manager, ctx, data_dir)
    register_image_automation(manager, ctx)


NOTIFICATION_KINDS = {kinds.PROVIDER.kind, kinds.ALERT.kind}


def unsupported_kinds(receivers_only: bool, upstream_kinds: set[str], *,
                      notifications: bool = False) -> list[tuple[Kind, str]]:
    """The kinds no controller serves, with why: kinds we have no controller for; beside upstream Flux
    (``receivers_only``), the kinds that neither upstream Flux's available controllers (``upstream_kinds``) nor
    ours (the Receiver; Provider and Alert when upstream's events reach us: ``notifications``) serve."""
    result = []
    for entry in support.TABLE:
        if entry.kind == kinds.RECEIVER or (notifications and entry.kind.kind in NOTIFICATION_KINDS):
            continue
        if not receivers_only and not entry.ours:
            result.append((entry.kind, entry.note))
        elif receivers_only and entry.kind.kind not in upstream_kinds | BESIDE_UPSTREAM:
            result.append((entry.kind, f"upstream Flux's {entry.upstream} is not available in this sandbox"))
    return result


def _own_identity(admin: KubeClient, path: Path) -> tuple[KubeClient, Path]:
    """The client and kubeconfig of the reconciler's own ServiceAccount (the admin client is dropped after)."""
    from sandbox.reconciler import identity

    own = identity.write_kubeconfig(admin, path)
    kube = KubeClient.from_kubeconfig(path)
    user = identity.whoami(kube)
    if user != own.user:
        raise SandboxError(f"the API server authenticates the reconciler's token as {user!r}, not {own.user!r}")
    log.info("authenticated as %s (token until %s)", user, own.expires or "?")
    return kube, path


def _upstream_identities(admin: KubeClient, rbac_file: Path | None, pairs: list[str]) -> None:
    import yaml

    from sandbox.reconciler import identity

    rbac = [doc for doc in yaml.safe_load_all(rbac_file.read_text()) if doc] if rbac_file else []
    kubeconfigs = {}
    for pair in pairs:
        service_account, _, path = pair.partition("=")
        if not service_account or not path:
            raise SandboxError(f"--upstream-identity {pair!r}: expected SA=FILE")
        kubeconfigs[service_account] = Path(path)
    identity.upstream_identities(admin, rbac, kubeconfigs)
    log.info("upstream Flux's controllers authenticate as their own ServiceAccounts: %s",
             ", ".join(sorted(kubeconfigs)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox-reconciler", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--health-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--receiver-port", type=int, required=True)
    parser.add_argument("--artifact-port", type=int, required=True)
    parser.add_argument("--no-install", action="store_true", help="do not apply the CRDs and RBAC at start")
    parser.add_argument("--receivers-only", action="store_true",
                        help="beside upstream Flux's controllers: run only the Receiver controller and the "
                             "image controllers upstream lacks here")
    parser.add_argument("--upstream-crds", type=Path, default=None, metavar="DIR",
                        help="install the CRDs in DIR (upstream Flux's) in place of ours for the kinds they define")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--requeue-dependency", default="30s", metavar="DURATION",
                        help="how often a Kustomization waiting on its dependencies checks them again (as "
                             "kustomize-controller's flag)")
    parser.add_argument("--mirror-map", type=Path, default=None, metavar="FILE",
                        help="the sandbox's mirror map (JSON), looked at before every fetch and re-read when it "
                             "changes")
    parser.add_argument("--events-port", type=int, default=None, metavar="PORT",
                        help="serve notification-controller's event server on this loopback port (beside upstream "
                             "Flux, whose controllers get --events-addr): their events are dispatched to Alerts")
    parser.add_argument("--identity-kubeconfig", type=Path, default=None, metavar="FILE",
                        help="after the install, request a token for the reconciler's ServiceAccount with "
                             "--kubeconfig's credentials, write a kubeconfig for it to FILE (0600), and run every "
                             "controller and the Helm SDK with it, as Flux's controllers run with theirs")
    parser.add_argument("--upstream-rbac", type=Path, default=None, metavar="FILE",
                        help="beside upstream Flux: apply Flux's ServiceAccounts and RBAC in FILE (from `flux "
                             "install --export`) with --kubeconfig's credentials at start")
    parser.add_argument("--upstream-identity", action="append", default=[], metavar="SA=FILE",
                        help="beside upstream Flux: write a kubeconfig for ServiceAccount flux-system/SA to FILE "
                             "(0600), for the controller that runs as it (repeatable)")
    lockdown.Lockdown.add_arguments(parser)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logs.configure(getattr(logging, args.log_level.upper(), logging.INFO))

    try:
        locked = lockdown.Lockdown.from_arguments(args)
    except SandboxError as err:
        parser.error(str(err))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    kube = KubeClient.from_kubeconfig(args.kubeconfig)
    from sandbox.reconciler.apis.install import install, read_crd_dir

    upstream = read_crd_dir(args.upstream_crds) if args.upstream_crds else []
    if not args.no_install:

        def installed() -> bool:
            install(kube, wait=True, upstream_crds=upstream)
            return True

        try:
            wait_until(installed, timeout=120, what="the CRDs and RBAC to be installed", stop=stop)
        except SandboxError as err:
            log.error("install failed: %s", err)
            return 1
    if args.upstream_rbac is not None or args.upstream_identity:
        try:
            _upstream_identities(kube, args.upstream_rbac, args.upstream_identity)
        except SandboxError as err:
            log.error("cannot give upstream Flux's controllers their ServiceAccounts: %s", err)
            return 1
    kubeconfig = args.kubeconfig
    if args.identity_kubeconfig is not None:
        try:
            kube, kubeconfig = _own_identity(kube, args.identity_kubeconfig)
        except SandboxError as err:
            log.error("cannot authenticate as the reconciler's ServiceAccount: %s", err)
            return 1
    artifact_url = artifact_base_url(args.artifact_port, args.data_dir)
    manager, ctx, parts = build_manager(kube, args.data_dir, artifact_url=artifact_url,
                                        stop=stop, workers=args.workers, receivers_only=args.receivers_only,
                                        upstream_kinds={crd["spec"]["names"]["kind"] for crd in upstream},
                                        requeue_dependency=parse_duration(args.requeue_dependency,
                                                                          field="--requeue-dependency"),
                                        mirror_map=args.mirror_map, kubeconfig=kubeconfig,
                                        upstream_events=args.events_port is not None, lockdown=locked)
    manager.add_server(parts["storage"].serve(args.artifact_port))
    manager.add_server(ReceiverServer(kube, parts["receiver_index"]).serve(args.receiver_port))
    manager.add_server(ctx.metrics.serve(args.metrics_port))
    if args.events_port is not None:
        from sandbox.reconciler.notification.eventserver import event_server

        manager.add_server(event_server(parts["dispatcher"], args.events_port).start())
    manager.add_server(serve_health(args.health_port, manager.synced, name="reconciler-health"))
    try:
        manager.start()
    except APIError as err:
        log.error("starting controllers failed: %s", err)
        return 1
    log.info("reconciler started (metrics :%d, receiver :%d, artifacts :%d)", args.metrics_port,
             args.receiver_port, args.artifact_port)
    stop.wait()
    exit_within(5.0, "the reconciler")  # a wedged worker must not outlive the sandbox's supervisor
    manager.shutdown()
    return 0
