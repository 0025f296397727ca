"""The image automation CLI against the running sandbox (create, get, reconcile, suspend and resume image …), and
pods that cannot pull their image reported by the verdict and by `sandbox get`, never a silent pass."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from sandbox.errors import SandboxError
from sandbox.fluxdev import release
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import stuckpods
from sandbox.registry import artifacts
from sandbox.registry.base import RegistryEndpoint
from sandbox.tools import git as git_tool
from sandbox.tools.run import run
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

MARKER = '# {"$imagepolicy": "flux-system:%s"}'
IMAGE_API = "image.toolkit.fluxcd.io/v1"
IMAGE_KINDS = ("ImageUpdateAutomation", "ImagePolicy", "ImageRepository")


def deployment(namespace: str, image: str, marker: str = "") -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {namespace}\nspec:\n"
            "  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n"
            "      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n"
            f"          image: {image}{' ' + marker if marker else ''}\n")


@pytest.fixture
def namespace(sandbox: SandboxHandle) -> Iterator[str]:
    name = f"img-{secrets.token_hex(3)}"
    sandbox.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, field_manager="test")
    yield name
    sandbox.kube.delete("v1", "Namespace", name, None)


def branch_head(sandbox: SandboxHandle, repo: GitOpsRepo) -> str:
    refs = git_tool.ls_remote(sandbox.git.clone_url(repo.name), auth=sandbox.git.auth())
    return refs[f"refs/heads/{repo.branch}"]


def same_tables_as_flux(sandbox: SandboxHandle) -> None:
    """Where the real flux CLI is built, `flux get images …` prints the same columns and cells as ours."""
    built = release.installed()
    if built is None:
        return  # without it only our own tables are checked (the export tests skip naming it)
    for what in ("repository", "policy", "update", "all"):
        theirs = run([built.binary("flux"), "get", "images", what], env={"KUBECONFIG": str(sandbox.kubeconfig)},
                     timeout=60).stdout
        ours = cli(sandbox, "get", "images", what)[1]
        assert [line.split() for line in ours.splitlines() if line.strip()] == \
            [line.split() for line in theirs.splitlines() if line.strip()], (what, ours, theirs)


def cli(sandbox: SandboxHandle, *args: str) -> tuple[int, str, str]:
    result = run_cli(*args, "--name", sandbox.name)
    return result.exit_code, result.stdout, result.stderr


def test_create_get_reconcile_suspend_and_resume_image_objects(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                               registry: RegistryEndpoint, namespace: str) -> None:
    image = f"{registry.host}/cli-{secrets.token_hex(3)}"
    name = f"app-{secrets.token_hex(2)}"
    artifacts.push_image(sandbox.name, f"{image}:1.0.0")
    gitops_repo.commit({"apps/web.yaml": deployment(namespace, f"{image}:1.0.0", MARKER % name)}, "web")
    gitops_repo.kustomization(f"apps-{name}", path="./apps")
    gitops_repo.wait_applied(f"apps-{name}")

    code, _, err = cli(sandbox, "create", "image", "repository", name, "--image", image, "--interval", "1h",
                       "--insecure")
    assert code == 0, err
    assert "scan fetched 1 tags" in err
    code, _, err = cli(sandbox, "create", "image", "policy", name, "--image-ref", name, "--select-semver",
                       ">=1.0.0 <2.0.0")
    assert code == 0, err
    assert f"selected ref {image}:1.0.0" in err
    code, _, err = cli(sandbox, "create", "image", "update", name, "--git-repo-ref", gitops_repo.source_name,
                       "--git-repo-path", "./apps", "--checkout-branch", gitops_repo.branch, "--author-name", "bot",
                       "--author-email", "bot@example.com", "--commit-template",
                       "Deploy {{ range .Changed.Changes }}{{ .NewValue }}{{ end }}", "--interval", "1h")
    assert code == 0, err

    listed = json.loads(cli(sandbox, "get", "images", "all", "-o", "json")[1])
    mine = {item["kind"]: item for item in listed if item["name"] == name}
    assert set(mine) == {"ImageRepository", "ImagePolicy", "ImageUpdateAutomation"}
    assert mine["ImagePolicy"]["latestImage"] == f"{image}:1.0.0"
    assert mine["ImageRepository"]["tagCount"] == 1
    table = cli(sandbox, "get", "images", "policy")[1]
    assert "IMAGE" in table and "TAG" in table and image in table and "1.0.0" in table
    same_tables_as_flux(sandbox)

    artifacts.push_image(sandbox.name, f"{image}:1.0.1")
    code, _, err = cli(sandbox, "reconcile", "image", "repository", name)
    assert code == 0 and "scan fetched 2 tags" in err, err
    wait_until(lambda: branch_head(sandbox, gitops_repo) != gitops_repo.head, timeout=60,
               what="the automation to commit 1.0.1")

    code, _, err = cli(sandbox, "suspend", "image", "update", name)
    assert code == 0, err
    update = sandbox.kube.get("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation", name, "flux-system")
    assert update["spec"]["suspend"] is True
    code, _, err = cli(sandbox, "reconcile", "image", "update", name)
    assert code == 1 and "is suspended" in err
    assert "True" in cli(sandbox, "get", "images", "update")[1]  # SUSPENDED

    artifacts.push_image(sandbox.name, f"{image}:1.0.2")
    assert cli(sandbox, "reconcile", "image", "repository", name)[0] == 0
    wait_until(lambda: sandbox.kube.get("image.toolkit.fluxcd.io/v1", "ImagePolicy", name, "flux-system")
               .get("status", {}).get("latestRef", {}).get("tag") == "1.0.2", timeout=30,
               what="the policy to pick 1.0.2")
    before_resume = branch_head(sandbox, gitops_repo)
    code, _, err = cli(sandbox, "resume", "image", "update", name)
    assert code == 0, err
    after = branch_head(sandbox, gitops_repo)
    assert after != before_resume  # the resumed automation caught up at once
    gitops_repo.head = after
    gitops_repo.wait_applied(f"apps-{name}", after)


@pytest.fixture(autouse=True)
def _remove_image_objects(sandbox: SandboxHandle) -> Iterator[None]:
    """The image objects a test created in flux-system go before its repository does."""
    before = {(kind, o["metadata"]["name"]) for kind in IMAGE_KINDS
              for o in sandbox.kube.list(IMAGE_API, kind, "flux-system").items}
    yield
    for kind in IMAGE_KINDS:
        for obj in sandbox.kube.list(IMAGE_API, kind, "flux-system").items:
            if (kind, obj["metadata"]["name"]) not in before:
                sandbox.kube.delete(IMAGE_API, kind, obj["metadata"]["name"], "flux-system")


@pytest.mark.parametrize("wait", [True, False], ids=["health-checked", "no-health-checks"])
def test_a_tag_missing_from_the_registry_is_reported_never_a_silent_pass(
        sandbox: SandboxHandle, gitops_repo: GitOpsRepo, registry: RegistryEndpoint, namespace: str,
        wait: bool) -> None:
    missing = f"{registry.cluster_host or registry.host}/never-pushed-{secrets.token_hex(3)}:9.9.9"
    sha = gitops_repo.commit({"apps/web.yaml": deployment(namespace, missing)}, "a tag nobody pushed")
    gitops_repo.wait_for_source(sha)
    ks = f"apps-{secrets.token_hex(2)}"
    gitops_repo.kustomization(ks, path="./apps", wait=wait, timeout="10s")
    if not wait:
        # Without health checks the Kustomization is Ready as soon as it applied (Flux's semantics): the repository
        # is judged not green once the pod exists and waits for its image — the moment this test starts from.
        wait_until(lambda: any(stuckpods.waiting_containers(p) for p in
                               sandbox.kube.list("v1", "Pod", namespace, label_selector="app=web").items),
                   timeout=60, what="the pod to wait for its image")
    with pytest.raises(SandboxError) as caught:
        gitops_repo.assert_all_ready(timeout=60 if wait else 20)
    message = str(caught.value)
    assert f"Deployment/{namespace}/web: pod web-" in message, message
    assert "waiting in ErrImagePull" in message or "waiting in ImagePullBackOff" in message
    if wait:  # Flux's own words on the Kustomization, unchanged
        assert "HealthCheckFailed" in message and f"Deployment/{namespace}/web status: 'InProgress'" in message
    _, _, hints = cli(sandbox, "get", "kustomizations")
    assert f"Deployment/{namespace}/web: pod web-" in " ".join(hints.split())
