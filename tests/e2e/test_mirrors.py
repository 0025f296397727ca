"""Mirrors for hermetic runs, end to end: a repository whose Flux YAML names a remote git repository and a remote
OCI repository runs green, offline, once both are mirrored — the objects keep their real URLs, and their status
and NewArtifact events say the sandbox mirror served them; without the mirrors it fails at once with Flux's
reasons and a message naming the URL and the `sandbox mirror` command that would serve it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from sandbox.handle import SandboxHandle
from sandbox.mirrors import ScopedMirrors
from sandbox.reconciler import ops
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

Obj = dict[str, Any]
SOURCE_API = "source.toolkit.fluxcd.io/v1"
KS_API = "kustomize.toolkit.fluxcd.io/v1"
FLEET_URL = "https://git.example.com/org/fleet"
OCI_PREFIX = "oci://registry.example.com/org"
APP_URL = "oci://registry.example.com/org/app"


def configmap(name: str, namespace: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                           "data": data})


def sources(suffix: str) -> list[Obj]:
    """The user's Flux YAML, unchanged: sources with real remote URLs and a Kustomization for each."""
    meta = {"namespace": "flux-system"}
    return [
        {"apiVersion": SOURCE_API, "kind": "GitRepository", "metadata": {"name": f"fleet-{suffix}", **meta},
         "spec": {"url": FLEET_URL, "interval": "1m", "ref": {"branch": "main"},
                  "secretRef": {"name": "fleet-credentials"}}},  # the real remote's; absent here, unused
        {"apiVersion": SOURCE_API, "kind": "OCIRepository", "metadata": {"name": f"app-{suffix}", **meta},
         "spec": {"url": APP_URL, "interval": "1m", "ref": {"tag": "latest"}}},
        {"apiVersion": KS_API, "kind": "Kustomization", "metadata": {"name": f"fleet-{suffix}", **meta},
         "spec": {"interval": "10m", "prune": True, "path": "./apps",
                  "sourceRef": {"kind": "GitRepository", "name": f"fleet-{suffix}"}}},
        {"apiVersion": KS_API, "kind": "Kustomization", "metadata": {"name": f"app-{suffix}", **meta},
         "spec": {"interval": "10m", "prune": True, "path": "./",
                  "sourceRef": {"kind": "OCIRepository", "name": f"app-{suffix}"}}},
    ]


def test_a_repository_naming_remote_sources_runs_green_offline_through_mirrors(
        sandbox: SandboxHandle, sandbox_mirror: ScopedMirrors, sandbox_apply_repo: Any, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    namespace = f"mirrored-{suffix}"
    namespace_yaml = yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    sandbox_mirror.git(FLEET_URL, files={"apps/namespace.yaml": namespace_yaml,
                                         "apps/fleet.yaml": configmap("from-git", namespace, served="git")})
    sandbox_mirror.oci(APP_URL, files={"namespace.yaml": namespace_yaml,
                                       "app.yaml": configmap("from-oci", namespace, served="oci")})
    sandbox_mirror.offline()

    repository = tmp_path / "repo"
    (repository / "clusters" / "dev").mkdir(parents=True)
    (repository / "clusters" / "dev" / "sources.yaml").write_text(yaml.safe_dump_all(sources(suffix)))
    sandbox_apply_repo(repository, path="./clusters/dev", timeout=90)

    kube = sandbox.kube

    # The verdict judges the sources the repository applied; Kustomizations following other sources are waited
    # for here.
    def applied() -> bool:
        return all(ops.ready_condition(kube.get(KS_API, "Kustomization", name, "flux-system")).get("status")
                   == "True" for name in (f"fleet-{suffix}", f"app-{suffix}"))

    wait_until(applied, timeout=60, what="the Kustomizations of the mirrored sources to be Ready",
               describe=lambda: str([ops.ready_condition(kube.get(KS_API, "Kustomization", name, "flux-system"))
                                     for name in (f"fleet-{suffix}", f"app-{suffix}")]))
    assert kube.get("v1", "ConfigMap", "from-git", namespace)["data"] == {"served": "git"}
    assert kube.get("v1", "ConfigMap", "from-oci", namespace)["data"] == {"served": "oci"}

    git_source = kube.get(SOURCE_API, "GitRepository", f"fleet-{suffix}", "flux-system")
    assert git_source["spec"]["url"] == FLEET_URL
    revision = git_source["status"]["artifact"]["revision"]
    assert revision.startswith("main@sha1:") and len(revision) == len("main@sha1:") + 40
    assert ops.ready_condition(git_source)["message"] == \
        f"stored artifact for revision '{revision}' (served by the sandbox mirror of {FLEET_URL})"
    oci_source = kube.get(SOURCE_API, "OCIRepository", f"app-{suffix}", "flux-system")
    assert oci_source["spec"]["url"] == APP_URL
    oci_revision = oci_source["status"]["artifact"]["revision"]
    assert oci_revision.startswith("latest@sha256:")
    assert ops.ready_condition(oci_source)["message"] == \
        f"stored artifact for digest '{oci_revision}' (served by the sandbox mirror of {APP_URL})"
    for kind, name, url in (("GitRepository", f"fleet-{suffix}", FLEET_URL), ("OCIRepository", f"app-{suffix}",
                                                                              APP_URL)):
        events = ops.events(kube, "flux-system", for_object=f"{kind}/{name}")
        assert any(e["reason"] == "NewArtifact" and e["message"].endswith(f"(served by the sandbox mirror of {url})")
                   for e in events), [e["message"] for e in events]

    listed = run_cli("mirror", "list", "--name", sandbox.name, "-o", "json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert data["offline"] is True
    assert {(m["kind"], m["url"]) for m in data["mirrors"]} >= {("git", FLEET_URL), ("oci", APP_URL)}


def test_offline_without_mirrors_fails_at_once_naming_the_url_and_the_command(
        sandbox: SandboxHandle, sandbox_mirror: ScopedMirrors) -> None:
    suffix = uuid.uuid4().hex[:6]
    sandbox_mirror.offline()
    kube = sandbox.kube
    git_source, oci_source = sources(suffix)[:2]
    started = time.monotonic()
    try:
        for obj in (git_source, oci_source):
            kube.apply(obj, field_manager="test")
        expected = {
            ("GitRepository", git_source["metadata"]["name"]): (
                "GitOperationFailed", f"`sandbox mirror git {FLEET_URL} --from DIR`"),
            ("OCIRepository", oci_source["metadata"]["name"]): (
                "OCIArtifactPullFailed", f"`sandbox mirror oci {APP_URL} --from DIR --tag TAG`"),
        }
        for (kind, name), (reason, command) in expected.items():
            url = FLEET_URL if kind == "GitRepository" else APP_URL

            def failed(kind: str = kind, name: str = name) -> Obj | None:
                live = kube.get(SOURCE_API, kind, name, "flux-system")
                ready = ops.ready_condition(live)
                return ready if ready.get("status") == "False" else None

            ready = wait_until(failed, timeout=15, what=f"{kind}/{name} to fail offline",
                               hint="is the reconciler reading the mirror map? (`sandbox status`)")
            assert ready["reason"] == reason
            assert url in ready["message"] and command in ready["message"], ready["message"]
            assert "offline" in ready["message"]
        # At once: no network attempt, no timeout waited out.
        assert time.monotonic() - started < 15
    finally:
        for obj in (git_source, oci_source):
            kube.delete(SOURCE_API, obj["kind"], obj["metadata"]["name"], "flux-system")


def wait_ready(kube: Any, kind: str, name: str, timeout: float = 30) -> Obj:
    def ready() -> Obj | None:
        live = kube.get(SOURCE_API, kind, name, "flux-system")
        condition = ops.ready_condition(live)
        return live if condition.get("status") == "True" and \
            condition.get("observedGeneration") == live["metadata"]["generation"] else None

    return wait_until(ready, timeout=timeout, what=f"{kind}/{name} to be Ready",
                      describe=lambda: str(ops.ready_condition(kube.get(SOURCE_API, kind, name, "flux-system"))))


def test_the_cli_mirrors_a_local_clone_tarballs_and_charts_then_removes_them(sandbox: SandboxHandle,
                                                                             tmp_path: Path) -> None:
    from sandbox.tools.git import Identity, git

    suffix = uuid.uuid4().hex[:6]
    git_url, oci_prefix, helm_url = (f"https://git.example.com/org/apps-{suffix}.git",
                                     f"oci://registry.example.com/team-{suffix}",
                                     f"https://charts.example.com/stable-{suffix}")
    clone = tmp_path / "clone"
    clone.mkdir()
    git(["init", "--quiet", "--initial-branch", "main"], cwd=clone)
    (clone / "cm.yaml").write_text(configmap("cli", f"ns-{suffix}", at="v1"))
    git(["add", "--all"], cwd=clone)
    git(["commit", "--quiet", "-m", "v1"], cwd=clone, identity=Identity("t", "t@example.com"))
    git(["tag", "v1"], cwd=clone)
    tagged = git(["rev-parse", "v1"], cwd=clone).stdout.strip()

    archive_dir = tmp_path / "infra"
    archive_dir.mkdir()
    (archive_dir / "cm.yaml").write_text(configmap("infra", f"ns-{suffix}"))
    archive = tmp_path / "infra.tar.gz"
    import tarfile

    with tarfile.open(archive, "w:gz") as tar:
        tar.add(archive_dir / "cm.yaml", arcname="cm.yaml")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: mirrored-{suffix}\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(configmap("chart", "default"))

    name = ["--name", sandbox.name]
    kube = sandbox.kube
    objects = [
        {"apiVersion": SOURCE_API, "kind": "GitRepository", "metadata": {"name": f"apps-{suffix}",
                                                                         "namespace": "flux-system"},
         "spec": {"url": git_url, "interval": "1m", "ref": {"tag": "v1"}}},
        {"apiVersion": SOURCE_API, "kind": "OCIRepository", "metadata": {"name": f"infra-{suffix}",
                                                                         "namespace": "flux-system"},
         "spec": {"url": f"{oci_prefix}/infra", "interval": "1m", "ref": {"tag": "v2"}}},
    ]
    try:
        # Mirrored as another spelling of the same URL (host case, no .git): it still matches.
        for args in (["mirror", "git", git_url.replace("git.example.com", "Git.Example.COM").removesuffix(".git"),
                      "--from-git", str(clone)],
                     ["mirror", "oci", oci_prefix, "--artifact", str(archive), "--tag", "v2"],
                     ["mirror", "helm", helm_url, "--chart", str(chart)]):
            result = run_cli(*args, *name)
            assert result.exit_code == 0, result.output
        for obj in objects:
            kube.apply(obj, field_manager="test")
        git_source = wait_ready(kube, "GitRepository", f"apps-{suffix}")
        assert git_source["status"]["artifact"]["revision"] == f"v1@sha1:{tagged}"
        oci_source = wait_ready(kube, "OCIRepository", f"infra-{suffix}")
        assert oci_source["status"]["artifact"]["revision"].startswith("v2@sha256:")
        assert ops.ready_condition(oci_source)["message"].endswith(
            f"(served by the sandbox mirror of {oci_prefix}/infra)")

        listed = json.loads(run_cli("mirror", "list", "-o", "json", *name).stdout)
        kinds = {m["kind"]: m for m in listed["mirrors"] if suffix in m["url"]}
        assert set(kinds) == {"git", "oci", "helm"}
        assert kinds["helm"]["detail"] == f"mirrored-{suffix}-0.1.0"
        charts = json.loads(run_cli("chart", "list", "-o", "json", *name).stdout)
        assert any(c["name"] == f"mirrored-{suffix}" for c in charts)
    finally:
        for obj in objects:
            kube.delete(SOURCE_API, obj["kind"], obj["metadata"]["name"], "flux-system")
        for url in (git_url, oci_prefix, helm_url):
            result = run_cli("mirror", "remove", url, "--delete-repository", *name)
            assert result.exit_code == 0, result.output
    listed = json.loads(run_cli("mirror", "list", "-o", "json", *name).stdout)
    assert not [m for m in listed["mirrors"] if suffix in m["url"]]
    again = run_cli("mirror", "remove", git_url, *name)
    assert again.exit_code == 1 and "is not mirrored" in again.output


def test_sandbox_up_offline_refuses_remote_fetches_from_the_start() -> None:
    from sandbox import lifecycle
    from sandbox.kube.client import KubeClient

    name = f"offline-{uuid.uuid4().hex[:6]}"
    try:
        result = run_cli("up", "--name", name, "--offline", "--git", "none", "--repo", "")
        assert result.exit_code == 0, result.output
        listed = json.loads(run_cli("mirror", "list", "--name", name, "-o", "json").stdout)
        assert listed == {"offline": True, "mirrors": []}
        kube = KubeClient.from_kubeconfig(Path(lifecycle.status(name, probe=False)["kubeconfig"]))
        source = sources("up")[0]
        kube.apply(source, field_manager="test")

        def failed() -> Obj | None:
            ready = ops.ready_condition(kube.get(SOURCE_API, "GitRepository", source["metadata"]["name"],
                                                 "flux-system"))
            return ready if ready.get("status") == "False" else None

        ready = wait_until(failed, timeout=30, what="the GitRepository to fail offline")
        assert ready["reason"] == "GitOperationFailed"
        assert f"`sandbox mirror git {FLEET_URL} --from DIR`" in ready["message"]
    finally:
        run_cli("down", "--name", name)


def test_mirroring_a_folder_again_replaces_the_whole_tree_in_a_new_commit(sandbox: SandboxHandle,
                                                                         sandbox_mirror: ScopedMirrors) -> None:
    from sandbox.git import repo as repos

    url = f"https://git.example.com/org/again-{uuid.uuid4().hex[:6]}"
    first = sandbox_mirror.git(url, files={"a.yaml": "a: 1\n", "sub/b.yaml": "b: 1\n"})
    second = sandbox_mirror.git(url, files={"sub/b.yaml": "b: 2\n"})
    assert first["repository"] == second["repository"] and first["revision"] != second["revision"]
    with repos.temporary_clone(sandbox.git, second["repository"]) as copy:
        files = sorted(p.relative_to(copy.path).as_posix() for p in copy.path.rglob("*")
                       if p.is_file() and ".git" not in p.relative_to(copy.path).parts)
        assert files == ["sub/b.yaml"]
        assert (copy.path / "sub" / "b.yaml").read_text() == "b: 2\n"
        assert copy.git("rev-list", "--count", "HEAD").strip() == "2"
        assert copy.head() == second["revision"]
