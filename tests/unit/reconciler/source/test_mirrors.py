"""The mirror map as the source controllers read it: URL normalisation, longest-prefix matching, offline refusal,
reloading the file when it changes; and the OCIRepository and GitRepository controllers consulting it (served by a
mirror: the real URL kept, Flux's revision and reasons, the mirror named; offline: failing at once, no request)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import InputError
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.source.gitrepository import GitRepositoryReconciler
from sandbox.reconciler.source.mirrors import (
    MIRROR_METADATA_KEY,
    GitMirror,
    HelmMirror,
    MirrorMap,
    MirrorMapFile,
    OCIMirror,
    OfflineRefused,
    is_loopback,
    normalise_git_url,
    normalise_helm_url,
    normalise_oci_prefix,
)
from sandbox.reconciler.source.ocirepository import OCIRepositoryReconciler
from sandbox.reconciler.source.storage import Storage
from tests.unit.oci.fakeregistry import FakeRegistry
from tests.unit.reconciler.source.test_ocirepository import Events, Kube, publish

Obj = dict[str, Any]
FLEET = "https://git.example.com/org/fleet"


@pytest.mark.parametrize("url", [
    "https://git.example.com/org/fleet",
    "https://git.example.com/org/fleet.git",
    "https://git.example.com/org/fleet/",
    "https://GIT.Example.COM/org/fleet.git/",
    "HTTPS://git.example.com:443/org/fleet",
    "http://git.example.com/org/fleet",
    "ssh://git@git.example.com/org/fleet.git",
    "ssh://git@git.example.com:22/org/fleet",
    "git@git.example.com:org/fleet.git",
    "https://user:secret@git.example.com/org/fleet",
], ids=["plain", "dot-git", "slash", "host-case", "default-port", "http", "ssh", "ssh-port", "scp-like", "userinfo"])
def test_git_urls_normalise_to_one_key(url: str) -> None:
    assert normalise_git_url(url) == "git.example.com/org/fleet"


@pytest.mark.parametrize(("url", "key"), [
    ("https://git.example.com:8443/org/fleet", "git.example.com:8443/org/fleet"),
    ("https://git.example.com/Org/Fleet", "git.example.com/Org/Fleet"),  # paths keep their case
    ("http://127.0.0.1:3000/sandbox/fleet.git", "127.0.0.1:3000/sandbox/fleet"),
])
def test_git_keys_keep_what_tells_repositories_apart(url: str, key: str) -> None:
    assert normalise_git_url(url) == key


@pytest.mark.parametrize("url", ["file:///tmp/repo", "https://git.example.com", "https://git.example.com/", "nope"])
def test_unusable_git_urls_are_refused(url: str) -> None:
    with pytest.raises(InputError):
        normalise_git_url(url)


@pytest.mark.parametrize(("url", "key"), [
    ("oci://registry.example.com/org", "registry.example.com/org"),
    ("oci://Registry.Example.com/org/", "registry.example.com/org"),
    ("oci://registry.example.com/org/app:v1", "registry.example.com/org/app"),
    ("oci://registry.example.com/org/app@sha256:abc", "registry.example.com/org/app"),
    ("oci://registry.example.com:5000/org", "registry.example.com:5000/org"),
    ("oci://registry.example.com", "registry.example.com"),
])
def test_oci_prefixes_normalise(url: str, key: str) -> None:
    assert normalise_oci_prefix(url) == key


def test_helm_urls_normalise() -> None:
    assert normalise_helm_url("HTTPS://Charts.Example.com:443/stable/") == "charts.example.com/stable"
    with pytest.raises(InputError):
        normalise_helm_url("oci://charts.example.com/stable")


def test_helm_repositories_route_to_their_mirror_and_offline_refuses_the_others() -> None:
    remote = "https://charts.example.com/stable"
    mirrors = MirrorMap(helm={normalise_helm_url(remote): HelmMirror(remote, "http://127.0.0.1:8099")},
                        offline=True)
    route = mirrors.route_helm("https://charts.example.com/stable/")
    assert (route.url, route.mirror) == ("http://127.0.0.1:8099", mirrors.helm["charts.example.com/stable"])
    assert mirrors.route_helm("http://127.0.0.1:8099").mirror is None  # loopback: allowed
    with pytest.raises(OfflineRefused) as refused:
        mirrors.route_helm("https://charts.example.com/other")
    assert "`sandbox mirror helm https://charts.example.com/other --chart DIR`" in str(refused.value)
    assert MirrorMap().route_helm(remote).url == remote


def oci_map(**targets: str) -> MirrorMap:
    return MirrorMap(oci={normalise_oci_prefix(prefix): OCIMirror(prefix, target) for prefix, target in
                          targets.items()})


def test_the_longest_oci_prefix_wins_on_whole_path_segments() -> None:
    mirrors = oci_map(**{"oci://registry.example.com/org": "oci://127.0.0.1:5000/mirrors/org",
                         "oci://registry.example.com/org/team": "oci://127.0.0.1:5000/mirrors/team",
                         "oci://registry.example.com": "oci://127.0.0.1:5000/mirrors/all"})
    assert mirrors.route_oci("oci://registry.example.com/org/app").url == "oci://127.0.0.1:5000/mirrors/org/app"
    assert mirrors.route_oci("oci://registry.example.com/org/team/app").url == \
        "oci://127.0.0.1:5000/mirrors/team/app"
    assert mirrors.route_oci("oci://registry.example.com/org/team").url == "oci://127.0.0.1:5000/mirrors/team"
    # "org/teamwork" is not under "org/team": it falls back to "org".
    assert mirrors.route_oci("oci://registry.example.com/org/teamwork/x").url == \
        "oci://127.0.0.1:5000/mirrors/org/teamwork/x"
    assert mirrors.route_oci("oci://registry.example.com/other").url == "oci://127.0.0.1:5000/mirrors/all/other"
    unmirrored = mirrors.route_oci("oci://elsewhere.example.com/org/app")
    assert unmirrored.mirror is None and unmirrored.url == "oci://elsewhere.example.com/org/app"


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:5000", True), ("127.1.2.3", True), ("localhost", True), ("LOCALHOST:8080", True),
    ("[::1]:5000", True), ("::1", True), ("registry.localhost", True),
    ("10.0.0.1", False), ("registry.example.com", False), ("localhost.example.com", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_offline_refuses_unmirrored_remote_urls_and_names_the_command() -> None:
    mirrors = MirrorMap(git={normalise_git_url(FLEET): GitMirror(FLEET, "http://127.0.0.1:3000/sandbox/m")},
                        offline=True)
    assert mirrors.route_git("git@git.example.com:org/fleet.git").url == "http://127.0.0.1:3000/sandbox/m"
    assert mirrors.route_git("http://127.0.0.1:3000/sandbox/other").mirror is None  # loopback: allowed
    assert mirrors.route_git("file:///srv/git/sub.git").url == "file:///srv/git/sub.git"  # a local path too
    with pytest.raises(OfflineRefused) as caught:
        mirrors.route_git("https://git.example.com/org/apps")
    assert "https://git.example.com/org/apps" in str(caught.value)
    assert "`sandbox mirror git https://git.example.com/org/apps --from DIR`" in str(caught.value)
    with pytest.raises(OfflineRefused) as refused:
        mirrors.route_oci("oci://registry.example.com/org/app")
    assert "`sandbox mirror oci oci://registry.example.com/org/app --from DIR --tag TAG`" in str(refused.value)
    assert mirrors.route_oci("oci://localhost:5000/app").mirror is None
    online = MirrorMap()
    assert online.route_git("https://git.example.com/org/apps").url == "https://git.example.com/org/apps"


def test_the_map_round_trips_and_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "mirrors.json"
    watched = MirrorMapFile(path)
    assert watched.current() == MirrorMap()  # no file: nothing mirrored, online
    first = MirrorMap(git={normalise_git_url(FLEET): GitMirror(FLEET, "http://127.0.0.1:1/sandbox/a", "a")})
    path.write_text(json.dumps(first.to_dict()))
    assert watched.current() == first
    second = MirrorMap(offline=True)
    scratch = tmp_path / "next.json"
    scratch.write_text(json.dumps(second.to_dict()))
    os.replace(scratch, path)  # as the CLI writes it: atomically
    assert watched.current() == second
    path.write_text("{ broken")
    assert watched.current() == second  # a broken map keeps the last good one
    path.unlink()
    assert watched.current() == MirrorMap()


# --- the controllers -------------------------------------------------------------------------------------------

@pytest.fixture
def fake() -> Any:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "artifacts", "http://127.0.0.1:9999")


def mirror_file(tmp_path: Path, mirror_map: MirrorMap) -> MirrorMapFile:
    path = tmp_path / "mirrors.json"
    path.write_text(json.dumps(mirror_map.to_dict()))
    return MirrorMapFile(path)


def context(events: Events) -> Context:
    return Context(kube=Kube(), events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]


def oci_object(url: str) -> Obj:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "app", "namespace": "flux-system", "generation": 1, "uid": "u1"},
            "spec": {"url": url, "interval": "5m", "secretRef": {"name": "absent-in-the-sandbox"}}}


def test_an_oci_mirror_serves_the_fetch_and_the_status_says_so(fake: FakeRegistry, storage: Storage,
                                                              tmp_path: Path) -> None:
    digest = publish(fake, "mirrors/registry.example.com/org/app", "latest", {"cm.yaml": "kind: ConfigMap\n"})
    mirrors = mirror_file(tmp_path, oci_map(**{"oci://registry.example.com/org":
                                              f"oci://{fake.host}/mirrors/registry.example.com/org"}))
    events = Events()
    obj = oci_object("oci://registry.example.com/org/app")
    result = OCIRepositoryReconciler(storage, mirror_map=mirrors).reconcile(obj, context(events))
    status = result.status
    assert status is not None
    served = " (served by the sandbox mirror of oci://registry.example.com/org/app)"
    ready = cond.find(status["conditions"], cond.READY) or {}
    assert (ready.get("status"), ready.get("reason"), ready.get("message")) == (
        "True", "Succeeded", f"stored artifact for digest 'latest@{digest}'{served}")
    assert status["artifact"]["revision"] == f"latest@{digest}"  # Flux's format, the mirror's digest
    assert status["artifact"]["metadata"][MIRROR_METADATA_KEY] == \
        f"oci://{fake.host}/mirrors/registry.example.com/org/app"
    assert obj["spec"]["url"] == "oci://registry.example.com/org/app"
    [(kind, reason, message, _)] = events.recorded
    assert (kind, reason) == ("Normal", "NewArtifact")
    assert message.startswith(f"stored artifact with revision 'latest@{digest}' from "
                              "'oci://registry.example.com/org/app'") and message.endswith(served)


def test_offline_an_unmirrored_oci_url_fails_at_once(fake: FakeRegistry, storage: Storage, tmp_path: Path) -> None:
    mirrors = mirror_file(tmp_path, MirrorMap(offline=True))
    events = Events()
    result = OCIRepositoryReconciler(storage, mirror_map=mirrors).reconcile(
        oci_object("oci://registry.example.com/org/app"), context(events))
    assert result.status is not None and result.requeue_after
    ready = cond.find(result.status["conditions"], cond.READY) or {}
    assert (ready.get("status"), ready.get("reason")) == ("False", "OCIArtifactPullFailed")
    assert "oci://registry.example.com/org/app" in ready["message"]
    assert "`sandbox mirror oci oci://registry.example.com/org/app --from DIR --tag TAG`" in ready["message"]
    assert (cond.find(result.status["conditions"], cond.FETCH_FAILED) or {}).get("status") == "True"
    assert [e[1] for e in events.recorded] == ["OCIArtifactPullFailed"]


def test_offline_an_unmirrored_git_url_fails_at_once(storage: Storage, tmp_path: Path) -> None:
    mirrors = mirror_file(tmp_path, MirrorMap(offline=True))
    events = Events()
    obj = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "fleet", "namespace": "flux-system", "generation": 1, "uid": "u2"},
           "spec": {"url": "https://git.example.com/org/fleet", "interval": "1m", "ref": {"branch": "main"}}}
    reconciler = GitRepositoryReconciler(storage, tmp_path / "git-mirrors", mirror_map=mirrors)
    result = reconciler.reconcile(obj, context(events))
    assert result.status is not None and result.requeue_after
    ready = cond.find(result.status["conditions"], cond.READY) or {}
    assert (ready.get("status"), ready.get("reason")) == ("False", "GitOperationFailed")
    assert ready["message"] == (
        "failed to checkout and determine revision: the sandbox is offline and https://git.example.com/org/fleet "
        "has no sandbox mirror, so it was not fetched; serve it with `sandbox mirror git "
        "https://git.example.com/org/fleet --from DIR` (or `--from-git PATH` for a local clone)")
    assert not (tmp_path / "git-mirrors").exists()  # no fetch was even prepared
