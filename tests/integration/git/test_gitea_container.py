"""The Gitea backend for real: needs a Docker engine and a Gitea image ($SANDBOX_GITEA_IMAGE, else the one
`sandbox setup --gitea` builds from Gitea's Go module, else the upstream default). Run with `nox -s
integration_gitea`; without them every test here skips, naming what is missing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.errors import CommandError
from sandbox.git import gitea, service
from sandbox.git import repo as repos
from sandbox.git.gitea import GiteaContainer, GiteaGitServer
from sandbox.git.gitea_api import GiteaAPI
from sandbox.git.webhook_recorder import WebhookRecorder
from sandbox.ports import free_ports
from sandbox.reconciler.notification import providers
from sandbox.reconciler.notification.dispatch import Delivery, post
from sandbox.reconciler.notification.providers import changerequest
from sandbox.reconciler.notification.providers.base import Settings
from sandbox.state import StateDir
from sandbox.tools.git import git
from sandbox.waiting import wait_until
from tests.integration.git.test_local_comments import kustomization_event
from tests.integration.git.test_local_pulls import pull_request_round_trip

IMAGE = gitea.configured_image()
USABLE, WHY = gitea.docker_usable(IMAGE)
pytestmark = pytest.mark.skipif(not USABLE, reason=f"needs Docker with the Gitea image {IMAGE}: {WHY} "
                                                   "(build one with `sandbox setup --gitea`, or set "
                                                   "SANDBOX_GITEA_IMAGE to an image you have)")


@pytest.fixture(scope="module")
def gitea_server() -> Iterator[GiteaGitServer]:
    with GiteaContainer(image=IMAGE, port=free_ports(1)[0]) as container:
        yield GiteaGitServer(url=container.url, token=container.token(), owner="sandbox")


def test_push_clone_webhook_and_pull_request(gitea_server: GiteaGitServer, tmp_path: Path) -> None:
    source = tmp_path / "seed"
    source.mkdir()
    (source / "app.yaml").write_text("kind: ConfigMap\n")
    gitea_server.create_repo("fleet")
    first = repos.seed_from_dir(gitea_server, "fleet", source)
    with WebhookRecorder(secret="gitea-secret") as recorder:
        gitea_server.register_webhook("fleet", recorder.url, "gitea-secret")
        copy = repos.clone(gitea_server, "fleet", tmp_path / "work")
        assert copy.head() == first
        copy.checkout("bump", create=True)
        tip = copy.commit_and_push({"app.yaml": "kind: Secret\n"}, "bump")
        got = wait_until(lambda: next((r for r in recorder.snapshot() if r.json().get("after") == tip), None),
                         timeout=15, what="Gitea's push webhook")
    assert got.gitea_signature_ok and got.headers.get("X-Gitea-Event") == "push"
    assert got.json()["repository"]["full_name"] == "sandbox/fleet"
    pull = repos.open_pull_request(gitea_server, "fleet", head="bump", title="Bump")
    assert pull.number >= 1 and pull.state == "open"


def test_pull_requests_behave_as_on_the_local_server(gitea_server: GiteaGitServer, tmp_path: Path) -> None:
    source = tmp_path / "seed"
    source.mkdir()
    (source / "README.md").write_text("# prs\n")
    gitea_server.create_repo("prs")
    repos.seed_from_dir(gitea_server, "prs", source)
    pull_request_round_trip(gitea_server, "prs", tmp_path)


def _notify(server: GiteaGitServer, kind: str, repo: str, provider_uid: str, event: dict[str, Any]) -> None:
    """Send ``event`` the way the reconciler's notification dispatcher does, to a ``kind`` Provider."""
    settings = Settings(kind, server.clone_url(repo), token=server.token())
    request = providers.build(settings, event, provider_uid)
    assert request is not None
    post(Delivery(f"flux-system/{kind}", request, timeout=10, secrets=(settings.token,)))


def test_notification_providers_comment_and_set_commit_statuses(gitea_server: GiteaGitServer,
                                                               tmp_path: Path) -> None:
    """Flux's giteapullrequestcomment and gitea Providers, as the reconciler sends them, against real Gitea."""
    source = tmp_path / "seed"
    source.mkdir()
    (source / "app.yaml").write_text("kind: ConfigMap\n")
    gitea_server.create_repo("notify")
    repos.seed_from_dir(gitea_server, "notify", source)
    copy = repos.clone(gitea_server, "notify", tmp_path / "work")
    copy.checkout("bump", create=True)
    tip = copy.commit_and_push({"app.yaml": "kind: Secret\n"}, "bump")
    pull = repos.open_pull_request(gitea_server, "notify", head="bump", title="Bump")

    def event(severity: str, message: str) -> dict[str, Any]:
        shaped = kustomization_event(severity, message)
        shaped["metadata"] = {"change_request": str(pull.number), "revision": f"bump@sha1:{tip}"}
        return shaped

    failed = event("error", "kustomization path not found")
    _notify(gitea_server, "giteapullrequestcomment", "notify", "p-1", failed)
    [comment] = gitea_server.list_pull_request_comments("notify", pull.number)
    assert comment.user == "sandbox"
    assert comment.body == changerequest.comment_body(changerequest.PULL_REQUEST_PREFIX, "p-1", failed)
    _notify(gitea_server, "giteapullrequestcomment", "notify", "p-1", event("info", "Applied revision: x"))
    [edited] = gitea_server.list_pull_request_comments("notify", pull.number)
    assert edited.id == comment.id and "Applied revision: x" in edited.body and "not found" not in edited.body

    api = GiteaAPI(gitea_server.url, gitea_server.token())
    _notify(gitea_server, "gitea", "notify", "p-1", failed)
    _notify(gitea_server, "gitea", "notify", "p-1", failed)  # the same status again is not posted twice
    statuses = api.request("GET", f"/repos/sandbox/notify/statuses/{tip}")
    assert [(s["status"], s["context"], s["description"]) for s in statuses] == [
        ("failure", "kustomization/apps/p", "build failed")]
    _notify(gitea_server, "gitea", "notify", "p-1", event("info", "Applied revision: x"))
    latest = api.request("GET", f"/repos/sandbox/notify/commits/{tip}/status")
    assert latest["state"] == "success"


def _bridge_gateway() -> str:
    """The address of the host on Docker's default bridge: what host.docker.internal (host-gateway) resolves to."""
    import docker

    client = docker.from_env(timeout=5)
    try:
        return str(client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"])
    except Exception:
        return ""
    finally:
        client.close()


def test_webhooks_reach_the_host_through_host_docker_internal(gitea_server: GiteaGitServer, tmp_path: Path) -> None:
    """A receiver named host.docker.internal (as a container on a bridge network names the host) gets the push
    webhook: the name is mapped to Docker's host gateway and on Gitea's webhook allow-list."""
    gateway = _bridge_gateway()
    if not gateway:
        pytest.skip("Docker's default bridge network has no gateway address here")
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    receiver = ThreadingHTTPServer((gateway, 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        source = tmp_path / "seed"
        source.mkdir()
        (source / "app.yaml").write_text("kind: ConfigMap\n")
        gitea_server.create_repo("gateway")
        gitea_server.register_webhook("gateway", f"http://{gitea.HOST_GATEWAY}:{receiver.server_port}/hook", "s")
        tip = repos.seed_from_dir(gitea_server, "gateway", source)
        wait_until(lambda: any(json.loads(body).get("after") == tip for body in bodies), timeout=15,
                   what=f"the push webhook at http://{gitea.HOST_GATEWAY}:{receiver.server_port}/hook")
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_wrong_token_and_private_fetch(gitea_server: GiteaGitServer, tmp_path: Path) -> None:
    gitea_server.create_repo("closed")
    with pytest.raises(CommandError):
        git(["clone", "--quiet", gitea_server.clone_url("closed"), str(tmp_path / "anon")])
    intruder = GiteaGitServer(url=gitea_server.url, token="wrong", owner="sandbox")
    with pytest.raises(CommandError, match="Authentication failed"):
        git(["clone", "--quiet", gitea_server.clone_url("closed"), str(tmp_path / "wrong")], auth=intruder.auth())


def test_sandbox_up_with_gitea() -> None:
    name = "gitea-e2e"
    lifecycle.up(UpOptions(name=name, git="gitea", timeout=240))
    try:
        server = service.connect(StateDir(name))
        assert server.backend == "gitea"
        assert server.create_repo("from-up").clone_url.endswith("/sandbox/from-up.git")
    finally:
        lifecycle.down(name)
