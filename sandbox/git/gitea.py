"""The Gitea git backend: Gitea in a container (testcontainers), provisioned with an admin and a token.

The container shares the host's network and Gitea listens on 127.0.0.1:PORT only: clone URLs are the same as
the local backend's, and webhooks to receivers on this machine's loopback (the reconciler's) just work; the name
``host.docker.internal`` (Docker's host gateway) is mapped as well and allowed as a webhook target. That is
why the image must be a rootless one (it runs no sshd; the root image's sshd would take the host's port 22).
The image is ``$SANDBOX_GITEA_IMAGE``, else the one ``sandbox setup --gitea`` builds from Gitea's Go module
(``sandbox.git.gitea_image``) when Docker has it, else the upstream rootless image.
Configuration goes in through Gitea's ``GITEA__section__KEY`` variables: sqlite, ``INSTALL_LOCK``, no SSH, no
sign-up, webhook host allow-list opened to loopback and private addresses. The admin user is made with
``gitea admin user create`` and the token with ``gitea admin user generate-access-token``. Data lives in the
container's own volumes and goes with it.

Runs as a supervised component (``python -m sandbox.git.gitea --state-dir DIR --port PORT --image IMAGE``):
it starts the container, writes the token file, exits if the container dies (so the supervisor restarts it),
and removes the container on SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sandbox.errors import NotFound, SandboxError
from sandbox.git import gitea_image
from sandbox.git.base import PullRequest
from sandbox.git.layout import OWNER, LocalLayout
from sandbox.git.rest import RestGitServer
from sandbox.state import ComponentSpec, Probe, write_private
from sandbox.tools.run import mask
from sandbox.waiting import wait_until

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

log = logging.getLogger("sandbox.git.gitea")

DEFAULT_IMAGE = "gitea/gitea:1.25.4-rootless"
COMPONENT = "git-server"
READY_PATH = "/api/v1/version"
STATE_LABEL = "gitops-sandbox.state"
EMAIL = f"{OWNER}@sandbox.local"
HOST_GATEWAY = "host.docker.internal"  # the Docker host, as containers on a bridge network reach it
WEBHOOK_ALLOWED_HOSTS = f"loopback,private,{HOST_GATEWAY}"
BRANCH_SYNC_TIMEOUT = 20.0


def configured_image() -> str:
    """``$SANDBOX_GITEA_IMAGE``, else the image ``sandbox setup --gitea`` built when Docker has it, else the
    upstream default."""
    explicit = os.environ.get("SANDBOX_GITEA_IMAGE")
    if explicit:
        return explicit
    return gitea_image.image_name() if gitea_image.present() else DEFAULT_IMAGE


def auto_image() -> str:
    """The image ``--git auto`` looks for: ``$SANDBOX_GITEA_IMAGE``, else the upstream default. Not the local
    build, so that building it (``sandbox setup --gitea``) does not change what a plain ``sandbox up`` starts."""
    return os.environ.get("SANDBOX_GITEA_IMAGE") or DEFAULT_IMAGE


def docker_usable(image: str) -> tuple[bool, str]:
    """Whether a Docker engine answers and has ``image`` locally (nothing is pulled); else why not."""
    try:
        import docker
    except ImportError:
        return False, "the docker Python package is missing (`pip install testcontainers`)"
    try:
        client = docker.from_env(timeout=3)
    except Exception as err:
        return False, f"no Docker engine: {err}"
    try:
        client.ping()
        client.images.get(image)
    except Exception as err:
        return False, f"image {image} is not available to Docker: {err}"
    finally:
        client.close()
    return True, ""


def container_env(port: int) -> dict[str, str]:
    """Gitea's settings, as the environment its image turns into app.ini."""
    return {
        "GITEA__security__INSTALL_LOCK": "true",
        "GITEA__database__DB_TYPE": "sqlite3",
        "GITEA__server__PROTOCOL": "http",
        "GITEA__server__HTTP_ADDR": "127.0.0.1",
        "GITEA__server__HTTP_PORT": str(port),
        "GITEA__server__ROOT_URL": f"http://127.0.0.1:{port}/",
        "GITEA__server__DISABLE_SSH": "true",
        "GITEA__server__START_SSH_SERVER": "false",
        "GITEA__service__DISABLE_REGISTRATION": "true",
        "GITEA__repository__DEFAULT_BRANCH": "main",
        # Receivers live on this machine (the reconciler on loopback, a private address, or the host as a
        # container on a bridge network sees it, host.docker.internal): Gitea refuses all of them by default.
        # Gitea 1.27 reads the list from [security] (and logs a deprecation for [webhook]); earlier releases,
        # the upstream default image among them, from [webhook] only.
        "GITEA__security__ALLOWED_HOST_LIST": WEBHOOK_ALLOWED_HOSTS,
        "GITEA__webhook__ALLOWED_HOST_LIST": WEBHOOK_ALLOWED_HOSTS,
        "GITEA__webhook__DELIVER_TIMEOUT": "5",
        "GITEA__log__LEVEL": "Warn",
    }


def admin_commands(*, password: str, token_name: str) -> list[list[str]]:
    """The two ``gitea admin`` commands that make the admin user and its token (run as the image's user)."""
    return [
        ["gitea", "admin", "user", "create", "--username", OWNER, "--password", password, "--email", EMAIL,
         "--admin", "--must-change-password=false"],
        ["gitea", "admin", "user", "generate-access-token", "--username", OWNER, "--token-name", token_name,
         "--scopes", "all", "--raw"],
    ]


def parse_token(output: str) -> str:
    """The token printed by ``generate-access-token`` (``--raw`` prints just it; older Gitea adds a sentence)."""
    words = output.strip().split()
    if not words:
        raise SandboxError("gitea admin user generate-access-token printed nothing")
    return words[-1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _refuse_root_image(container: DockerContainer, image: str) -> None:
    """A root image runs sshd on port 22, which on the host network would be the host's port 22."""
    user = container.get_docker_client().client.images.get(image).attrs.get("Config", {}).get("User") or ""
    if user in ("", "0", "root") or user.startswith(("0:", "root:")):
        raise SandboxError(f"{image} runs as root, which means a Gitea image with its own sshd; use a rootless "
                           f"image (such as {DEFAULT_IMAGE}) through SANDBOX_GITEA_IMAGE")


class GiteaContainer:
    """Gitea in a container, testcontainers style: ``start()`` (undoes itself on failure), ``stop()``, ``with``."""

    def __init__(self, *, image: str, port: int, labels: dict[str, str] | None = None,
                 startup_timeout: float = 120.0) -> None:
        self.image = image
        self.port = port
        self.labels = dict(labels or {})
        self.startup_timeout = startup_timeout
        self.url = f"http://127.0.0.1:{port}"
        self._container: DockerContainer | None = None
        self._token = ""

    def token(self) -> str:
        return self._token

    def start(self) -> GiteaContainer:
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # its image cannot be pulled offline
        from testcontainers.core.container import DockerContainer

        container = DockerContainer(self.image)
        for key, value in container_env(self.port).items():
            container.with_env(key, value)
        # host.docker.internal resolves to the host here too, so receivers given by that name (as a container on
        # a bridge network, e.g. kind's, must name the host) are reached the same way.
        container.with_kwargs(network_mode="host", labels=self.labels, extra_hosts={HOST_GATEWAY: "host-gateway"})
        self._container = container
        try:
            _refuse_root_image(container, self.image)
            container.start()
            wait_until(lambda: _answers(self.url + READY_PATH), timeout=self.startup_timeout,
                       what=f"Gitea ({self.image}) to answer {self.url}{READY_PATH}",
                       describe=lambda: f"container {container.status}",
                       hint="see the container log below")
            self._token = self._provision()
        except BaseException as err:
            tail = self._log_tail()
            self.stop()
            if isinstance(err, SandboxError):
                raise SandboxError(f"{err}\nGitea log tail:\n{tail}") from err
            raise SandboxError(f"could not start Gitea from {self.image}: {err}\nGitea log tail:\n{tail}") from err
        return self

    def _exec(self, command: list[str], secrets_in_it: list[str]) -> str:
        from testcontainers.core.container import ExecConfig

        assert self._container is not None
        code, output = self._container.exec(ExecConfig(command=command))
        text = mask((output or b"").decode(errors="replace"), secrets_in_it)
        if code != 0:
            raise SandboxError(f"`{mask(' '.join(command[:4]), secrets_in_it)} …` in the Gitea container exited "
                               f"{code}: {text.strip()[-500:]}")
        return text

    def _provision(self) -> str:
        password = secrets.token_urlsafe(24)
        create_user, create_token = admin_commands(password=password, token_name=f"sandbox-{secrets.token_hex(4)}")
        self._exec(create_user, [password])
        return parse_token(self._exec(create_token, [password]))

    def running(self) -> bool:
        """Whether the container still runs (a Gitea that died takes its container with it)."""
        if self._container is None:
            return False
        try:
            self._container.reload()
        except Exception:
            return False
        return self._container.status == "running"

    def _log_tail(self) -> str:
        if self._container is None:
            return ""
        try:
            out, err = self._container.get_logs()
        except Exception:
            return "(no log: the container is gone)"
        return "\n".join((out + err).decode(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self._container is not None:
            try:
                self._container.stop()
            except Exception as err:
                log.warning("could not remove the Gitea container: %s", err)
            self._container = None

    def __enter__(self) -> GiteaContainer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class GiteaGitServer(RestGitServer):
    backend = "gitea"

    def open_pull_request(self, repo: str, *, head: str, base: str, title: str, body: str = "") -> PullRequest:
        """Gitea records a pushed branch through its push queue, a moment after ``git push`` returns; until then a
        pull request from it is refused with 404. That refusal is retried for a while; a missing repository is not."""
        self.get_repo(repo)
        refusals: list[str] = []

        def attempt() -> PullRequest | None:
            try:
                return RestGitServer.open_pull_request(self, repo, head=head, base=base, title=title, body=body)
            except NotFound as err:
                refusals.append(str(err))
                return None

        return wait_until(attempt, timeout=BRANCH_SYNC_TIMEOUT, interval=0.2,
                          what=f"Gitea to accept a pull request {head} -> {base} on {self.owner}/{repo}",
                          describe=lambda: refusals[-1] if refusals else "no answer yet",
                          hint=f"was branch {head!r} pushed?")


def remove_stale_containers(state_dir: Path) -> int:
    """Remove containers an earlier, killed runner of this sandbox left behind (found by label)."""
    import docker

    client = docker.from_env()
    try:
        stale: list[Any] = client.containers.list(all=True, filters={"label": f"{STATE_LABEL}={state_dir}"})
        for container in stale:
            container.remove(force=True)
        return len(stale)
    finally:
        client.close()


def component(state_dir: Path, port: int, image: str) -> ComponentSpec:
    url = f"http://127.0.0.1:{port}"
    return ComponentSpec(
        name=COMPONENT,
        argv=[sys.executable, "-m", "sandbox.git.gitea", "--state-dir", str(state_dir), "--port", str(port),
              "--image", image],
        probe=Probe(url=f"{url}{READY_PATH}", expect_body='"version"'),
        endpoints={"url": url},
        startup_timeout=180.0,
        stop_timeout=30.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.git.gitea", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--image", default=configured_image())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    layout = LocalLayout(args.state_dir)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    removed = remove_stale_containers(args.state_dir)
    if removed:
        log.info("removed %d container(s) left by an earlier run", removed)
    gitea = GiteaContainer(image=args.image, port=args.port,
                           labels={STATE_LABEL: str(args.state_dir), "gitops-sandbox.component": COMPONENT})
    with gitea:
        write_private(layout.token_file, gitea.token() + "\n")
        log.info("Gitea %s is up at %s", args.image, gitea.url)
        while not stop.wait(2.0):
            if not gitea.running():
                log.error("the Gitea container stopped; exiting so that the supervisor starts a new one (its "
                          "repositories are gone with it)")
                return 1
        log.info("stopping Gitea")
    return 0


if __name__ == "__main__":
    sys.exit(main())
