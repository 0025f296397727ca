"""Developer tasks. Sessions run in the project's own environment (.venv, made by ./bootstrap.sh)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

# Sessions use the environment nox runs in (.venv): put its bin directory first on PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "tests"]

BENCHMARKS = ["benchmarks.bench_setup", "benchmarks.bench_lifecycle", "benchmarks.bench_kustomize_build",
              "benchmarks.bench_install", "benchmarks.bench_git", "benchmarks.bench_registry",
              "benchmarks.bench_reconciler", "benchmarks.bench_reconcile_scale", "benchmarks.bench_oci",
              "benchmarks.bench_timeline", "benchmarks.bench_helm", "benchmarks.bench_setters",
              "benchmarks.bench_images", "benchmarks.bench_scenarios", "benchmarks.bench_monitoring",
              "benchmarks.bench_notifications", "benchmarks.bench_clusters"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Unit, integration and end-to-end tests (real control plane), then the built-in scenarios."""
    session.run("pytest", *(session.posargs or ["tests", "scenarios"]))


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff, and the layer contracts (import-linter)."""
    session.run("ruff", "check", "sandbox", "tests", "benchmarks", "noxfile.py")
    session.run("lint-imports")


@nox.session(python=False)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on sandbox/."""
    session.run("mypy", "sandbox")


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Benchmarks; each writes bench-results/<name>.json and prints it."""
    selected = session.posargs or BENCHMARKS
    for module in selected:
        session.run("python", "-m", module)


@nox.session(python=False)
def docs(session: nox.Session) -> None:
    """Build docs/ with mkdocs in strict mode (warnings fail)."""
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session(python=False)
def parity(session: nox.Session) -> None:
    """Built-in scenarios and tests/parity cases against our reconciler and upstream Flux; writes docs/parity.md and
    parity-results/parity.json. Builds upstream Flux first when the cache lacks it (`sandbox setup --flux`).
    `nox -s parity -- --cluster kind` runs both sides on kind clusters (docs/parity-kind.md, parity-kind.json), with
    the scenarios' public images — or stand-ins for those that cannot be pulled — loaded into the nodes."""
    session.run("sandbox", "setup", "--flux")
    args = " ".join(session.posargs)
    if "--cluster kind" in args or "--cluster=kind" in args:
        _kind_scenario_images(session)
    session.run("python", "-m", "sandbox.parity", *session.posargs)


@nox.session(python=False)
def tests_k8s_1_20(session: nox.Session) -> None:
    """The embedded-cluster and reconciler tests on Kubernetes v1.20.2 (Debian's source package: the offline last
    resort of `sandbox setup`), built first when the cache lacks it (~5-7 min)."""
    session.run("sandbox", "setup", "--version", "v1.20.2")
    session.env["SANDBOX_K8S_VERSION"] = "v1.20.2"
    session.run("pytest", *(session.posargs or ["tests/e2e/test_embedded_cluster.py", "tests/e2e/test_reconciler.py",
                                                "scenarios/getting-started"]))


@nox.session(python=False)
def integration_gitea(session: nox.Session) -> None:
    """The Gitea git backend for real: needs Docker and a Gitea image ($SANDBOX_GITEA_IMAGE, else the one built from
    Gitea's Go module first, cached); skips saying so."""
    if not os.environ.get("SANDBOX_GITEA_IMAGE"):
        session.run("python", "-m", "sandbox.git.gitea_image", "--skip-without-docker")
    session.run("pytest", "-rs", "tests/integration/git/test_gitea_container.py",
                "tests/integration/git/test_gitea_docker.py", *session.posargs)


@nox.session(python=False)
def terraform(session: nox.Session) -> None:
    """examples/terraform/sandbox-apis for real: init/apply/destroy against a sandbox with tofu or terraform
    ($SANDBOX_TOFU, the cache of `sandbox setup --terraform`, PATH); skips naming the missing binary or mirror."""
    session.run("pytest", "-rs", "tests/integration/terraform", "tests/unit/test_terraform_examples.py",
                *session.posargs)


def _kind_scenario_images(session: nox.Session) -> list[str]:
    """For sandboxes on kind here: the registry stand-in where registry:2 cannot be pulled, and the scenarios'
    public images (or stand-ins for those Docker neither has nor can pull, `python -m sandbox.kindnode.standins`);
    returns the images to load into the nodes."""
    import logging

    for chatty in ("urllib3", "docker", "nodesemver"):  # nox logs at debug level; these libraries' lines are noise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    from sandbox.kindnode import standins
    from sandbox.registry import container
    from sandbox.tools import docker

    if not docker.image_exists(container.image_name()) and docker.image_exists("local/registry:2"):
        session.env[container.IMAGE_ENV] = "local/registry:2"
    session.run("python", "-m", "sandbox.kindnode.standins")
    return standins.present(standins.scenario_images())


@nox.session(python=False)
def e2e_kind(session: nox.Session) -> None:
    """A real kind cluster: tests/e2e_kind, then the built-in scenarios with the session sandbox on kind, the
    scenarios' public images (or stand-ins) loaded into its nodes. Needs Docker, the kind binary and a node image
    (docs/kind.md); skips naming the missing piece. Parity on kind: `nox -s parity -- --cluster kind`."""
    from sandbox.cluster import kind

    missing = kind.missing_prerequisites()
    if missing:
        session.skip(f"missing for a real kind cluster: {missing}")
    images = _kind_scenario_images(session)
    session.run("pytest", "-rs", "tests/e2e_kind", *session.posargs)
    # --reconciler flux: upstream's controllers as host processes against the same kind kubeconfig.
    session.run("pytest", "-rs", "tests/e2e_kind", *session.posargs, env={"SANDBOX_E2E_KIND_RECONCILER": "flux"})
    # The session sandbox on kind: no --monitoring (refused on kind; scenarios that need it skip, naming it).
    load = [f"--sandbox-kind-load-image={image}" for image in images]
    session.run("pytest", "-rs", "--sandbox-cluster", "kind", "-o", "sandbox_monitoring=false", *load, "scenarios",
                *session.posargs)
    if not session.posargs:
        # The scenario that needs Flux's lockdown flags (skipped above), on a kind sandbox started with them.
        session.run("pytest", "-rs", "--sandbox-cluster", "kind", "-o", "sandbox_monitoring=false",
                    "--sandbox-tenancy-lockdown", *load, "scenarios/multi-tenancy")
