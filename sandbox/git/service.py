"""The git server joins ``sandbox up``: backend choice, its supervised component, its entry in the record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.config import UpOptions
from sandbox.errors import InputError, NotRunning, NotSupported
from sandbox.git import gitea, local
from sandbox.git.base import GitServer
from sandbox.git.delivery import DeliveryLog
from sandbox.git.layout import OWNER, LocalLayout
from sandbox.ports import free_ports
from sandbox.services import ServicePlan
from sandbox.state import StateDir
from sandbox.waiting import wait_until

BACKENDS = ("auto", "local", "gitea", "none")


def choose_backend(requested: str, image: str) -> str:
    """``auto`` means Gitea when Docker answers and has ``$SANDBOX_GITEA_IMAGE`` or the upstream image (not the
    one ``sandbox setup --gitea`` builds, which ``--git gitea`` runs), else the local server."""
    if requested not in BACKENDS:
        raise InputError(f"unknown git backend {requested!r}: use one of {', '.join(BACKENDS)}")
    if requested != "auto":
        if requested == "gitea":
            usable, why = gitea.docker_usable(image)
            if not usable:
                raise InputError(f"--git gitea needs Docker and the image {image}: {why}. Load the image (or set "
                                 "SANDBOX_GITEA_IMAGE to one you have), or use --git local")
        return requested
    return "gitea" if gitea.docker_usable(gitea.auto_image())[0] else "local"


@dataclass
class GitService:
    """``sandbox.services.Service`` for the git server."""

    name: str = "git"

    def enabled(self, options: UpOptions) -> bool:
        return options.git != "none"

    def plan(self, state: StateDir, options: UpOptions) -> ServicePlan:
        image = gitea.configured_image()
        backend = choose_backend(options.git, image)
        port = free_ports(1)[0]
        layout = LocalLayout(state.path)
        spec = gitea.component(state.path, port, image) if backend == "gitea" else local.component(state.path, port)
        url = spec.endpoints["url"]
        record: dict[str, Any] = {"backend": backend, "url": url, "cluster_url": url, "owner": OWNER,
                                  "token_file": str(layout.token_file)}
        if backend == "local":
            record["delivery_log"] = str(layout.delivery_log)
            record["push_log"] = str(layout.push_log)
        else:
            record["image"] = image
        return ServicePlan(components=[spec], record={"git": record})

    def after_ready(self, state: StateDir, options: UpOptions) -> None:
        token_file = LocalLayout(state.path).token_file
        # Gitea answers its version before the runner has made the admin and its token.
        wait_until(lambda: token_file.exists() and token_file.read_text().strip(), timeout=60,
                   what=f"the git server's token file {token_file}",
                   hint=f"look at the git-server log in {state.logs}")
        connect(state).list_repos()  # the token works


def connect(state: StateDir) -> GitServer:
    """A client of the git server of the sandbox whose state is ``state``."""
    record = _record(state)
    server_class = gitea.GiteaGitServer if record.get("backend") == "gitea" else local.LocalGitServer
    return server_class.connect(record["url"], Path(record["token_file"]), cluster_url=record.get("cluster_url", ""))


def _record(state: StateDir) -> dict[str, Any]:
    record = state.read_record().get("git")
    if not record:
        raise NotRunning(f"sandbox {state.name!r} has no git server; start it with `sandbox up --name "
                         f"{state.name}` (without --git none)")
    return dict(record)


def token_file(state: StateDir) -> Path:
    return Path(_record(state)["token_file"])


def webhook_deliveries(state: StateDir, repo: str | None = None) -> list[dict[str, Any]]:
    """The local server's delivery log (one entry per attempt, oldest first), optionally for one repository."""
    record = _record(state)
    if record.get("backend") != "local":
        raise NotSupported(f"the {record.get('backend')} git server keeps its own delivery history: open "
                           f"{record['url']}/{OWNER}/REPO/settings/hooks")
    entries = DeliveryLog(Path(record["delivery_log"])).read()
    return [e for e in entries if repo is None or e.get("repo") == f"{OWNER}/{repo}"]


def push_log(state: StateDir) -> Path:
    """The local server's push log (one JSON line per pushed ref, see ``LocalLayout.push_log``)."""
    record = _record(state)
    if record.get("backend") != "local" or not record.get("push_log"):
        raise NotSupported(f"the {record.get('backend')} git server keeps no push log the sandbox can read; "
                           "pushes are recorded with the local git server (`sandbox up --git local`)")
    return Path(record["push_log"])
