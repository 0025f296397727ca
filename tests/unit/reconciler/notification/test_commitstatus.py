"""Commit status providers against local doubles of the documented APIs (GitHub's, GitLab's and Gitea's statuses
endpoints): URL, auth header, body, the context and description as Flux formats them, duplicates not posted."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from sandbox.errors import InputError
from sandbox.httpserve import LoopbackServer
from sandbox.reconciler.notification.dispatch import Delivery, post
from sandbox.reconciler.notification.providers import build
from sandbox.reconciler.notification.providers.base import Request, Settings
from sandbox.reconciler.notification.providers.commitstatus import commit_sha, commit_status_id, split_camelcase

SHA = "a" * 40
UID = "0c9c2e41-1234-4b5c-9d8e-abcdefabcdef"
EVENT: dict[str, Any] = {
    "involvedObject": {"kind": "Kustomization", "namespace": "apps", "name": "PodInfo"},
    "severity": "error", "timestamp": "2026-01-01T00:00:00Z", "message": "build failed", "reason": "BuildFailed",
    "metadata": {"revision": f"main@sha1:{SHA}"}, "reportingController": "kustomize-controller",
}


class Double:
    """An API double: GETs answer ``listing``; every request is kept as (method, path, headers, body)."""

    def __init__(self) -> None:
        self.listing: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _keep(self, body: Any) -> None:
                with double.lock:
                    double.calls.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                         body))

            def do_GET(self) -> None:
                self._keep(None)
                data = json.dumps(double.listing).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self._keep(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(201)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = LoopbackServer(Handler, name="git-api-double")


@pytest.fixture
def api() -> Any:
    double = Double()
    with double.server:
        yield double


def send(request: Request | None) -> None:
    assert request is not None
    post(Delivery("apps/git", request, 5.0))


def test_context_description_and_revision_as_flux_formats_them() -> None:
    assert commit_status_id(UID, EVENT) == "kustomization/podinfo/0c9c2e41"
    assert split_camelcase("HealthCheckFailed") == ["Health", "Check", "Failed"]
    assert split_camelcase("PDFLoader") == ["PDF", "Loader"]
    assert commit_sha(EVENT) == SHA
    assert commit_sha({"metadata": {"revision": "main/abc123"}}) == "abc123"
    with pytest.raises(InputError, match="missing revision metadata"):
        commit_sha({"metadata": {}})


def test_gitea_status_and_duplicate(api: Double) -> None:
    settings = Settings("gitea", f"{api.server.url}/flux/fleet.git", token="t0k")
    send(build(settings, EVENT, UID))
    (method, path, _, _), (post_method, post_path, post_headers, body) = api.calls
    assert (method, path) == ("GET", f"/api/v1/repos/flux/fleet/statuses/{SHA}?page=0&limit=50")
    assert (post_method, post_path) == ("POST", f"/api/v1/repos/flux/fleet/statuses/{SHA}")
    assert post_headers["authorization"] == "token t0k"
    assert body == {"state": "failure", "target_url": "", "description": "build failed",
                    "context": "kustomization/podinfo/0c9c2e41"}
    api.listing = [{"context": "kustomization/podinfo/0c9c2e41", "status": "failure", "description": "build failed"}]
    send(build(settings, EVENT, UID))
    assert [c[0] for c in api.calls] == ["GET", "POST", "GET"], "the same latest status is not posted again"
    send(build(settings, {**EVENT, "severity": "info", "reason": "Progressing"}, UID))
    assert api.calls[-1][3]["state"] == "pending"


def test_github_status_skips_progressing(api: Double) -> None:
    settings = Settings("github", f"{api.server.url}/flux/fleet", token="t0k")
    send(build(settings, {**EVENT, "severity": "info", "reason": "ReconciliationSucceeded"}, UID))
    (_, path, _, _), (_, post_path, headers, body) = api.calls
    assert path == f"/api/v3/repos/flux/fleet/commits/{SHA}/statuses?per_page=50"
    assert post_path == f"/api/v3/repos/flux/fleet/statuses/{SHA}"
    assert headers["authorization"] == "Bearer t0k"
    assert body == {"state": "success", "description": "reconciliation succeeded",
                    "context": "kustomization/podinfo/0c9c2e41"}
    assert build(settings, {**EVENT, "reason": "Progressing"}, UID) is None
    assert build(Settings("github", "https://github.com/flux/fleet", token="t"), EVENT, UID).url == (  # type: ignore[union-attr]
        f"https://api.github.com/repos/flux/fleet/statuses/{SHA}")


def test_gitlab_status(api: Double) -> None:
    settings = Settings("gitlab", f"{api.server.url}/group/sub/fleet.git", token="t0k")
    send(build(settings, EVENT, UID))
    (_, path, _, _), (_, post_path, headers, body) = api.calls
    assert path == f"/api/v4/projects/group%2Fsub%2Ffleet/repository/commits/{SHA}/statuses"
    assert post_path == f"/api/v4/projects/group%2Fsub%2Ffleet/statuses/{SHA}"
    assert headers["private-token"] == "t0k"
    assert body == {"state": "failed", "name": "kustomization/podinfo/0c9c2e41", "description": "build failed"}


@pytest.mark.parametrize("provider_type", ["github", "gitlab", "gitea"])
def test_a_token_is_required(provider_type: str) -> None:
    with pytest.raises(InputError, match="token cannot be empty"):
        build(Settings(provider_type, "https://git.example/flux/fleet"), EVENT, UID)
