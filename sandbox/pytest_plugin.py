"""pytest plugin (entry point ``pytest11``): fixtures that give tests a real sandbox, and every ``scenario.yaml``
collected as one test. Wiring only; the logic lives in the library."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.config import MonitoringSettings, UpOptions
from sandbox.errors import InputError
from sandbox.handle import GitOpsRepo, SandboxHandle, SharedSandbox
from sandbox.kube.client import KubeClient
from sandbox.mirrors import ScopedMirrors
from sandbox.monitoring import service as monitoring
from sandbox.monitoring.client import Prometheus
from sandbox.reconciler.lockdown import Lockdown
from sandbox.reconciler.sealedsecrets.kit import SealedSecretsKit
from sandbox.reconciler_service import check_requeue_dependency
from sandbox.registry.base import RegistryEndpoint, endpoint_of
from sandbox.sink import Sink
from sandbox.sops_keys import InstalledKey, SopsKey, install

_SHARED = pytest.StashKey[SharedSandbox]()
SCENARIO_FILES = ("scenario.yaml", "scenario.yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gitops-sandbox")
    group.addoption("--sandbox-cluster", choices=["embedded", "kind"], default="embedded",
                    help="cluster backend for the session sandbox (default: embedded)")
    group.addoption("--sandbox-reuse", metavar="NAME", default=None,
                    help="use the already running sandbox NAME instead of starting one (it is left running)")
    group.addoption("--sandbox-keep", action="store_true",
                    help="leave the session sandbox running after the tests (inspect it with `sandbox status`)")
    group.addoption("--sandbox-offline", action="store_true", default=None,
                    help="start the session sandbox offline: fetches of unmirrored non-loopback URLs fail at once "
                         "(the ini option sandbox_offline = true does the same)")
    group.addoption("--sandbox-monitoring", action="store_true",
                    help="start the session sandbox with Prometheus and Alertmanager (`sandbox up --monitoring`); "
                         "the `prometheus` fixture needs it")
    group.addoption("--sandbox-tenancy-lockdown", action="store_true",
                    help="start the session sandbox with Flux's multi-tenancy lockdown flags "
                         "(`sandbox up --tenancy-lockdown`)")
    group.addoption("--sandbox-requeue-dependency", default=None, metavar="DURATION",
                    help="start the session sandbox with Flux's --requeue-dependency (how often objects waiting "
                         "on a dependency look again; default 30s); the ini option sandbox_requeue_dependency too")
    parser.addini("sandbox_requeue_dependency", default="",
                  help="the session sandbox's --requeue-dependency, e.g. 5s for faster dependsOn in CI "
                       "(default: the controllers' 30s)")
    group.addoption("--sandbox-kind-load-image", action="append", default=[], metavar="IMAGE",
                    help="with --sandbox-cluster kind (repeatable): load this local Docker image into the kind "
                         "cluster's nodes (`sandbox up --load-image`); adds to the ini option "
                         "sandbox_kind_load_images")
    parser.addini("sandbox_scenarios", type="bool", default=True,
                  help="collect every scenario.yaml as a gitops-sandbox scenario test (default: true)")
    parser.addini("sandbox_kind_load_images", type="linelist", default=[],
                  help="local Docker images loaded into the session sandbox's kind cluster, one a line (as "
                       "--sandbox-kind-load-image; not used with the embedded cluster)")
    parser.addini("sandbox_offline", type="bool", default=False,
                  help="start the session sandbox offline, as `sandbox up --offline` (default: false)")
    parser.addini("sandbox_monitoring", type="bool", default=False,
                  help="start the session sandbox with Prometheus and Alertmanager when their Debian packages are "
                       "installed (scenarios that need monitoring skip, naming them, when they are not); "
                       "--sandbox-monitoring asks for them in any case (default: false)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: a gitops-sandbox scenario (scenario.yaml) run as a test")
    options = session_options(config)
    config.stash[_SHARED] = SharedSandbox(options, reuse=config.getoption("--sandbox-reuse"),
                                          keep=config.getoption("--sandbox-keep"))


def session_options(config: pytest.Config) -> UpOptions:
    """What the session sandbox is started with: the cluster backend, offline from the flag or the ini, and
    monitoring when the flag asks for it, or the ini does and its packages are installed."""
    offline = config.getoption("--sandbox-offline") or config.getini("sandbox_offline")
    with_monitoring = config.getoption("--sandbox-monitoring") or (
        config.getini("sandbox_monitoring") and not monitoring.missing())
    locked = Lockdown.full() if config.getoption("--sandbox-tenancy-lockdown") else Lockdown()
    requeue = config.getoption("--sandbox-requeue-dependency") or config.getini("sandbox_requeue_dependency")
    cluster = config.getoption("--sandbox-cluster")
    flagged = config.getoption("--sandbox-kind-load-image")
    if flagged and cluster != "kind":
        raise pytest.UsageError(f"--sandbox-kind-load-image {' '.join(flagged)} needs --sandbox-cluster kind: the "
                                f"{cluster} cluster's simulated nodes run no image")
    # The ini's list is a project's setting for kind sessions: an embedded session has no node to load it into.
    load_images = tuple(dict.fromkeys([*config.getini("sandbox_kind_load_images"), *flagged])) \
        if cluster == "kind" else ()
    return UpOptions(name=f"pytest-{os.getpid()}", cluster=cluster, kind_load_images=load_images,
                     offline=bool(offline), monitoring=MonitoringSettings() if with_monitoring else None,
                     default_service_account=locked.default_service_account,
                     no_cross_namespace_refs=locked.no_cross_namespace_refs, no_remote_bases=locked.no_remote_bases,
                     requeue_dependency=check_requeue_dependency(str(requeue), given_as="sandbox_requeue_dependency")
                     if requeue else "")


def pytest_unconfigure(config: pytest.Config) -> None:
    shared = config.stash.get(_SHARED, None)
    if shared is not None:
        shared.close()


def shared_sandbox(config: pytest.Config) -> SharedSandbox:
    return config.stash[_SHARED]


@pytest.fixture(scope="session")
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxHandle]:
    """A running sandbox for the whole test session (started once, stopped at the end); scenario tests share it."""
    shared = shared_sandbox(request.config)
    yield shared.get()
    shared.close()


@pytest.fixture(scope="session")
def kube(sandbox: SandboxHandle) -> KubeClient:
    """A client for the session sandbox's cluster (plain dicts in and out)."""
    return sandbox.kube


@pytest.fixture(scope="session")
def registry(sandbox: SandboxHandle) -> RegistryEndpoint:
    """The session sandbox's OCI registry: ``host`` for pushes from here, ``cluster_host`` for pod images."""
    return endpoint_of(sandbox.name)


@pytest.fixture(scope="session")
def prometheus(sandbox: SandboxHandle) -> Prometheus:
    """The session sandbox's Prometheus: ``query(promql)``, ``query_range``, ``alerts()``,
    ``wait_for_alert(name, timeout)``; skips when the sandbox runs without monitoring."""
    missing = monitoring.missing()
    if missing:
        pytest.skip(f"monitoring needs the Debian packages {', '.join(missing)} "
                    f"(`apt-get install {' '.join(missing)}`)")
    try:
        return monitoring.client_of(sandbox.state)
    except InputError:
        pytest.skip(f"sandbox {sandbox.name!r} runs without monitoring: run pytest with --sandbox-monitoring, or "
                    "--sandbox-reuse a sandbox started with `sandbox up --monitoring`")


@pytest.fixture
def registry_pull_secret(sandbox: SandboxHandle) -> Iterator[Callable[..., str]]:
    """``registry_pull_secret(namespace, name="registry-credentials")`` creates a ``kubernetes.io/dockerconfigjson``
    Secret with the session sandbox's registry credentials (for ImageRepository ``secretRef`` or pod
    ``imagePullSecrets``) and returns its name; removed after the test. Skips when the registry runs without
    authentication (`sandbox up --registry-auth`)."""
    from sandbox.registry import auth as registry_auth

    created: list[tuple[str, str]] = []

    def create(namespace: str, name: str = "registry-credentials") -> str:
        if registry_auth.credentials_of(sandbox.name) is None:
            pytest.skip("the sandbox's registry runs without authentication (start it with --registry-auth)")
        sandbox.kube.apply(registry_auth.pull_secret_of(sandbox.name, namespace, name), field_manager="pytest")
        created.append((namespace, name))
        return name

    try:
        yield create
    finally:
        for namespace, name in created:
            sandbox.kube.delete("v1", "Secret", name, namespace)


@pytest.fixture
def sandbox_mirror(sandbox: SandboxHandle) -> Iterator[ScopedMirrors]:
    """Mirrors for this test: ``sandbox_mirror.git(url, files={...})`` (or ``from_dir=``/``from_git=``),
    ``sandbox_mirror.oci("oci://host/org/app", files={...}, tag="latest")``, ``sandbox_mirror.helm(url, charts)``,
    and ``sandbox_mirror.offline()``; all removed (and offline mode restored) after the test."""
    scoped = ScopedMirrors(sandbox.name)
    try:
        yield scoped
    finally:
        scoped.close()


@pytest.fixture
def gitops_repo(sandbox: SandboxHandle) -> Iterator[GitOpsRepo]:
    """A fresh repository on the sandbox's git server, followed by a GitRepository and a Receiver; add
    Kustomizations with ``gitops_repo.kustomization(...)``, push with ``gitops_repo.commit({...}, msg)`` or
    ``gitops_repo.push_folder(path)``, check with ``gitops_repo.assert_all_ready()``.
    Everything it created is removed afterwards (applied objects are pruned)."""
    repository = sandbox.new_repo("test")
    try:
        yield repository
    finally:
        repository.delete()


@pytest.fixture
def sops_key(sandbox: SandboxHandle) -> Iterator[InstalledKey]:
    """A throwaway age key installed as a decryption Secret in flux-system: encrypt with
    ``sops_key.encrypt(yaml_text)`` (``data``/``stringData`` only), decrypt in a Kustomization with
    ``gitops_repo.kustomization(decryption=sops_key.decryption)``. The Secret is deleted afterwards."""
    import secrets

    installed = InstalledKey(SopsKey.generate(), f"sops-age-{secrets.token_hex(3)}")
    install(sandbox.kube, installed.key, installed.name, installed.namespace)
    try:
        yield installed
    finally:
        sandbox.kube.delete("v1", "Secret", installed.name, installed.namespace)


@pytest.fixture
def sandbox_apply_repo(sandbox: SandboxHandle) -> Iterator[Callable[..., GitOpsRepo]]:
    """Push a folder of your own as a fresh repository, apply ``path`` of it with a Kustomization, and assert
    that every Kustomization (nested ones too) becomes Ready: ``sandbox_apply_repo("clusters/dev")``. Returns the
    GitOpsRepo; everything is removed after the test."""
    created: list[GitOpsRepo] = []

    def apply_repo(folder: str | Path, *, path: str = "./", exclude: tuple[str, ...] = (),
                   source_name: str | None = None, namespace: str = "flux-system", timeout: float = 120,
                   **kustomization: Any) -> GitOpsRepo:
        repository = sandbox.new_repo("repo", namespace=namespace, source_name=source_name)
        created.append(repository)
        repository.push_folder(folder, "Push the repository under test", exclude=exclude)
        repository.wait_for_source(repository.head)
        repository.kustomization(kustomization.pop("name", None), path=path, **kustomization)
        repository.assert_all_ready(timeout=timeout)
        return repository

    try:
        yield apply_repo
    finally:
        for repository in created:
            repository.delete()


@pytest.fixture
def sealed_secrets(sandbox: SandboxHandle) -> SealedSecretsKit:
    """The session sandbox's Sealed Secrets key (made when missing) and a sealer: ``sealed_secrets.seal(secret,
    scope="strict")`` returns the SealedSecret kubeseal would, ``sealed_secrets.rotate()`` makes a new sealing key
    (older keys still unseal), ``sealed_secrets.cert_pem()`` is what `sandbox seal --fetch-cert` prints."""
    kit = SealedSecretsKit(sandbox.kube)
    kit.key  # noqa: B018 - the controller key exists before the test seals anything
    return kit


@pytest.fixture
def alerts() -> Iterator[Sink]:
    """A started webhook sink on loopback: point a Provider's ``address`` at ``alerts.url`` (any path under it);
    ``alerts.received()`` lists the requests, ``alerts.wait_for(predicate, timeout)`` waits for one,
    ``alerts.verify_with(token)`` checks generic-hmac signatures (``Received.signature``)."""
    with Sink() as sink:
        yield sink


# --- scenarios as tests -----------------------------------------------------------------------------------------

def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name in SCENARIO_FILES and parent.config.getini("sandbox_scenarios"):
        collector: pytest.Collector = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


class ScenarioFile(pytest.File):
    """A scenario.yaml; loading validates all of it, so a broken file fails collection before anything runs."""

    def collect(self) -> Iterator[pytest.Item]:
        from sandbox.scenario.loader import load

        try:
            scenario = load(self.path)
        except InputError as err:
            raise self.CollectError(str(err)) from err
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.add_marker(pytest.mark.scenario)
        # `pytest -k drift` or `-k incident` selects by name or tag, without registering a marker per tag.
        self.extra_keyword_matches.update(scenario.tags)

    def runtest(self) -> None:
        from sandbox.scenario.failures import ScenarioSkipped
        from sandbox.scenario.runner import run

        try:
            result = run(self.scenario, shared_sandbox(self.config).get())
        except ScenarioSkipped as err:
            pytest.skip(str(err))
        for step in result.steps:
            self.user_properties.append((f"step {step.step.index} {step.step.type}", f"{step.seconds:.3f}s"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        from sandbox.scenario.failures import ScenarioFailed

        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.scenario.name}: {self.scenario.title}"
