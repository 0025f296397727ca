"""Prometheus and Alertmanager as supervised components of a sandbox (``sandbox up --monitoring``): the Debian
programs as processes, or their images as containers (``--monitoring-backend container``, see
``sandbox.monitoring.container``); loopback only, data under the state dir. Scrape targets (every component
endpoint named ``metrics``, kube-state-metrics, and the kube-apiserver) are written as file_sd files once every
component is planned, before any process starts, so Prometheus scrapes them from its start."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox import binaries
from sandbox.cluster import pki
from sandbox.config import UpOptions
from sandbox.errors import InputError, NotRunning
from sandbox.monitoring import config, container, statemetrics, webauth
from sandbox.monitoring.client import Prometheus
from sandbox.ports import free_ports
from sandbox.services import ServicePlan
from sandbox.state import ComponentSpec, Probe, StateDir, write_private

PROMETHEUS = container.PROMETHEUS
ALERTMANAGER = container.ALERTMANAGER
RECORD_KEY = "monitoring"
PACKAGES = {PROMETHEUS: ("prometheus", "prometheus"), ALERTMANAGER: ("prometheus-alertmanager",
                                                                    "prometheus-alertmanager")}


def require(program: str) -> Path:
    """The binary of ``program`` (prometheus | alertmanager); InputError naming the Debian package when absent."""
    binary, package = PACKAGES[program]
    found = binaries.find(binary)
    if found is None:
        raise InputError(f"--monitoring needs {binary} (Debian package {package}): install it with "
                         f"`apt-get install {package}` (bootstrap.sh does)")
    return found.path


def missing() -> list[str]:
    """The Debian packages of the monitoring stack that are not installed."""
    return [package for binary, package in PACKAGES.values() if binaries.find(binary) is None]


def choose_backend(requested: str) -> str:
    """``local`` | ``container`` as asked (InputError saying why the containers cannot run); ``auto``: the
    containers when Docker answers and both images are present, else the local processes."""
    if requested == "local":
        return "local"
    ok, why = container.availability()
    if requested == "auto":
        return "container" if ok else "local"
    if not ok:
        raise InputError(f"--monitoring-backend container is not available: {why}; or use --monitoring-backend local")
    return "container"


def root(state: StateDir) -> Path:
    return state.data / "monitoring"


def endpoints_of(state: StateDir) -> dict[str, str]:
    """``{"prometheus": URL, "alertmanager": URL}`` of the running sandbox; NotRunning/InputError otherwise."""
    if not state.exists():
        raise NotRunning(f"sandbox {state.name!r} is not up; start it with `sandbox up --name {state.name} "
                         "--monitoring`")
    record = state.read_record().get(RECORD_KEY)
    if not isinstance(record, dict):
        raise InputError(f"sandbox {state.name!r} runs no Prometheus; start it with `sandbox up --monitoring`")
    return {PROMETHEUS: str(record[PROMETHEUS]), ALERTMANAGER: str(record[ALERTMANAGER])}


def client_of(state: StateDir) -> Prometheus:
    """A client of the running sandbox's Prometheus and Alertmanager, with the sandbox's credentials."""
    urls = endpoints_of(state)
    return Prometheus(urls[PROMETHEUS], urls[ALERTMANAGER], auth=webauth.credentials(state))


class MonitoringService:
    name = "monitoring"

    def enabled(self, options: UpOptions) -> bool:
        return options.monitoring is not None

    def plan(self, state: StateDir, options: UpOptions) -> ServicePlan:
        settings = options.monitoring
        assert settings is not None
        backend = choose_backend(settings.backend)
        prom_port, am_port = free_ports(2)
        base = root(state)
        targets_dir = base / "targets"
        for sub in (targets_dir, base / "prometheus", base / "alertmanager", base / config.RULES_DIR):
            sub.mkdir(parents=True, exist_ok=True, mode=0o700)
        creds = pki.load(state.secrets)
        password = webauth.ensure_password(state)
        web = webauth.write_web_config(state, base / "web.yml")
        rules_file = base / "rules.yml"
        write_private(rules_file, config.dump(config.rules(settings)))
        write_private(base / "prometheus.yml", config.dump(config.prometheus(
            settings, rules_file=rules_file, targets_dir=targets_dir, alertmanager=f"127.0.0.1:{am_port}",
            ca_file=creds.ca_cert, token_file=creds.token_file,
            alertmanager_auth=(webauth.USER, password))))
        write_private(base / "alertmanager.yml", config.dump(config.alertmanager(settings)))
        prom_url, am_url = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
        flags = {
            ALERTMANAGER: [f"--config.file={base / 'alertmanager.yml'}", f"--storage.path={base / 'alertmanager'}",
                           f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
                           f"--web.external-url={am_url}", f"--web.config.file={web}"],
            PROMETHEUS: [f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'prometheus'}",
                         f"--web.listen-address=127.0.0.1:{prom_port}", f"--web.external-url={prom_url}",
                         "--storage.tsdb.retention.time=1d", f"--web.config.file={web}",
                         # Prometheus sends a firing alert again after this long (default 1m): a first send lost
                         # while Alertmanager reloads a run's route would otherwise hold the alert back a minute.
                         "--rules.alert.resend-delay=5s",
                         "--web.enable-lifecycle"],  # POST /-/reload: a scenario run's rules (runrules)
        }
        urls = {ALERTMANAGER: am_url, PROMETHEUS: prom_url}
        # Prometheus reads the sandbox's CA and token files where they are; a container gets them mounted there.
        mounts = {ALERTMANAGER: [(base, "rw")], PROMETHEUS: [(base, "rw"), (creds.ca_cert, "ro"),
                                                              (creds.token_file, "ro"), (password, "ro")]}
        components = []
        for program in (ALERTMANAGER, PROMETHEUS):
            probe = Probe(url=f"{urls[program]}/-/ready", username=webauth.USER, password_file=str(password))
            endpoints = {"url": urls[program]}
            if backend == "container":
                components.append(container.component(state, program, flags[program], mounts[program],
                                                      probe=probe, endpoints=endpoints))
            else:
                components.append(ComponentSpec(name=program, argv=[str(require(program)), *flags[program]],
                                                probe=probe, endpoints=endpoints, startup_timeout=60))
        # The record says whether a webhook is set, not its URL: chat webhook URLs carry their secret.
        return ServicePlan(components=components, record={RECORD_KEY: {
            PROMETHEUS: prom_url, ALERTMANAGER: am_url, "backend": backend, "webhook": bool(settings.webhook),
            "scrape_interval": settings.scrape_interval}}, before_start=[lambda: write_targets(state)])

    def after_ready(self, state: StateDir, options: UpOptions) -> None:
        return None


def write_targets(state: StateDir) -> None:
    """Point Prometheus at every ``metrics`` endpoint of the sandbox's components, at kube-state-metrics (with
    ``--reconciler flux``) and at the kube-apiserver (from the component specs and the record, written before the
    processes start)."""
    specs = state.read_specs()
    metrics = {spec.name: spec.endpoints["metrics"] for spec in specs if spec.endpoints.get("metrics")}
    state_metrics = {spec.name: spec.endpoints[statemetrics.ENDPOINT] for spec in specs
                     if spec.endpoints.get(statemetrics.ENDPOINT)}
    targets_dir = root(state) / "targets"
    write_private(targets_dir / "gotk.json", json.dumps(config.targets(metrics), indent=1) + "\n")
    write_private(targets_dir / f"{statemetrics.JOB}.json", json.dumps(config.targets(state_metrics), indent=1)
                  + "\n")
    server = str(state.read_record().get("server", ""))
    apiserver = config.targets({"kube-apiserver": f"{server}/metrics"}) if server else []
    write_private(targets_dir / "apiserver.json", json.dumps(apiserver, indent=1) + "\n")
