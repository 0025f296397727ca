"""ImageUpdateAutomation end to end on the embedded cluster: images pushed to the sandbox registry, an ImageRepository
and an ImagePolicy choosing the latest, and the automation committing the choice into the sandbox's git server —
with a templated message and the given author, to a new branch, signed, not while suspended (and catching up on
resume), ignoring markers that name another namespace's policy, and at once when the policy chooses a newer image."""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.git import repo as repos
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import Obj
from sandbox.reconciler.runtime import conditions as cond
from sandbox.registry import artifacts
from sandbox.registry.base import endpoint_of
from sandbox.tools import commitmsg, git, gpg
from sandbox.waiting import wait_until

API = "image.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
AUTHOR = {"name": "Flux Image Bot", "email": "image-bot@example.com"}

pytestmark = pytest.mark.e2e


def marker(namespace: str, policy: str, part: str = "") -> str:
    return f'# {{"$imagepolicy": "{namespace}:{policy}{":" + part if part else ""}"}}'


class Automation:
    """A namespace with an ImageRepository and ImagePolicy over a fresh image repository, and a git repository
    (GitRepository in flux-system: the automation refers across namespaces) holding marked manifests."""

    def __init__(self, sandbox: SandboxHandle, repo: GitOpsRepo) -> None:
        self.sandbox, self.kube, self.repo = sandbox, sandbox.kube, repo
        self.namespace = f"iua-{uuid.uuid4().hex[:6]}"
        self.repository = f"iua-{uuid.uuid4().hex[:6]}/web"
        self.image = f"{endpoint_of(sandbox.name).host}/{self.repository}"
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
                        field_manager="test")

    def push(self, *tags: str) -> None:
        for tag in tags:
            artifacts.push_image(self.sandbox.name, f"{self.repository}:{tag}")

    def apply(self, kind: str, name: str, spec: dict[str, Any], *, namespace: str | None = None,
              labels: dict[str, str] | None = None) -> None:
        meta: dict[str, Any] = {"name": name, "namespace": namespace or self.namespace}
        if labels:
            meta["labels"] = labels
        self.kube.apply({"apiVersion": API, "kind": kind, "metadata": meta, "spec": spec}, field_manager="test")

    def images(self, policy: str = "web", *, namespace: str | None = None) -> None:
        """An ImageRepository ``web`` and an ImagePolicy ``policy`` (semver >=1.0.0) in ``namespace``."""
        self.apply("ImageRepository", "web", {"image": self.image, "interval": "1h"}, namespace=namespace)
        self.apply("ImagePolicy", policy, {"imageRepositoryRef": {"name": "web"},
                                           "policy": {"semver": {"range": ">=1.0.0"}}}, namespace=namespace)

    def rescan(self, namespace: str | None = None) -> None:
        self.kube.patch(API, "ImageRepository", "web", namespace or self.namespace,
                        {"metadata": {"annotations": {REQUESTED_AT: str(time.time_ns())}}})

    def latest_tag(self, policy: str = "web", namespace: str | None = None) -> str:
        obj = self.kube.get(API, "ImagePolicy", policy, namespace or self.namespace)
        return str(((obj.get("status") or {}).get("latestRef") or {}).get("tag", ""))

    def wait_policy(self, tag: str, policy: str = "web", namespace: str | None = None) -> None:
        wait_until(lambda: self.latest_tag(policy, namespace) == tag, timeout=60,
                   what=f"ImagePolicy {namespace or self.namespace}/{policy} to choose {tag}",
                   describe=lambda: self.latest_tag(policy, namespace))

    def automation(self, name: str, *, git_spec: dict[str, Any] | None = None, **spec: Any) -> None:
        self.apply("ImageUpdateAutomation", name, {
            "interval": "1h",
            "sourceRef": {"kind": "GitRepository", "name": self.repo.source_name, "namespace": self.repo.namespace},
            "git": {"checkout": {"ref": {"branch": self.repo.branch}},
                    "commit": {"author": AUTHOR}, **(git_spec or {})},
            "update": {"strategy": "Setters", "path": "./"},
            **spec})

    def get(self, name: str) -> Obj:
        return self.kube.get(API, "ImageUpdateAutomation", name, self.namespace)

    def wait(self, name: str, check: Callable[[Obj], bool], what: str, timeout: float = 90) -> Obj:
        def matched() -> Obj | None:
            obj = self.get(name)
            return obj if check(obj) else None

        return wait_until(matched, timeout=timeout, what=f"ImageUpdateAutomation {self.namespace}/{name}: {what}",
                          describe=lambda: str(ready(self.get(name))),
                          hint=f"kubectl get imageupdateautomation -n {self.namespace} {name} -o yaml")

    def events(self, name: str) -> list[Obj]:
        return [e for e in self.kube.list("v1", "Event", self.namespace).items
                if e.get("involvedObject", {}).get("name") == name]

    def close(self) -> None:
        self.kube.delete("v1", "Namespace", self.namespace)


def ready(obj: Obj) -> Obj:
    return dict(cond.find((obj.get("status") or {}).get("conditions"), cond.READY) or {})


def head_commit(sandbox: SandboxHandle, repo: str, branch: str) -> git.CommitInfo | None:
    refs = git.ls_remote(sandbox.git.clone_url(repo), auth=sandbox.git.auth())
    sha = refs.get(f"refs/heads/{branch}")
    if sha is None:
        return None
    with repos.temporary_clone(sandbox.git, repo, branch=branch) as copy:
        out = git.git(["log", "-1", f"--format={git._LOG_FORMAT}", sha], cwd=copy.path).stdout
        return git._parse_log(out)[0]


def file_on(sandbox: SandboxHandle, repo: str, branch: str, path: str) -> str:
    with repos.temporary_clone(sandbox.git, repo, branch=branch) as copy:
        return (copy.path / path).read_text()


def wait_for_commit(sandbox: SandboxHandle, repo: GitOpsRepo, branch: str, after: str | None) -> git.CommitInfo:
    def moved() -> git.CommitInfo | None:
        head = head_commit(sandbox, repo.name, branch)
        return head if head is not None and head.sha != after else None

    found: git.CommitInfo = wait_until(moved, timeout=90, what=f"a new commit on {repo.name}@{branch}")
    return found


@pytest.fixture
def automation(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> Iterator[Automation]:
    made = Automation(sandbox, gitops_repo)
    try:
        yield made
    finally:
        made.close()


def deployment(image: str, namespace: str, extra: str = "") -> str:
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\nspec:\n"
            "  template:\n    spec:\n      containers:\n"
            f"        - name: web\n          image: {image}:1.0.0 {marker(namespace, 'web')}\n{extra}")


TEMPLATE = ("Automation: {{ .AutomationObject }}\n\n"
            "{{ range $file, $_ := .Changed.FileChanges }}- {{ $file }}\n{{ end }}"
            "{{ range $res, $changes := .Changed.Objects }}{{ $res.Kind }}/{{ $res.Name }}:"
            "{{ range $changes }} {{ .OldValue }} -> {{ .NewValue }}{{ end }}\n{{ end }}"
            "Ticket: {{ .Values.ticket | upper }}")


def test_commit_and_push_with_templated_message_and_author(sandbox: SandboxHandle, automation: Automation) -> None:
    if commitmsg.find() is None:
        pytest.skip(f"{commitmsg.PROGRAM} is not built (run `sandbox setup`): message templates are NotSupported")
    ns, repo = automation.namespace, automation.repo
    automation.push("1.0.0", "1.0.1", "0.9.0")
    before = repo.commit({"apps/deploy.yaml": deployment(automation.image, ns),
                          "apps/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                                     "kind: Kustomization\nresources: [deploy.yaml]\n"
                                                     "images:\n  - name: web\n"
                                                     f"    newTag: 1.0.0 {marker(ns, 'web', 'tag')}\n"}, "app")
    automation.images()
    automation.wait_policy("1.0.1")
    automation.automation("bump", git_spec={"commit": {"author": AUTHOR, "messageTemplate": TEMPLATE,
                                                       "messageTemplateValues": {"ticket": "ops-12"}}})
    commit = wait_for_commit(sandbox, repo, "main", before)
    expected = (f"Automation: {ns}/bump\n\n- apps/deploy.yaml\n- apps/kustomization.yaml\n"
                f"Deployment/web: {automation.image}:1.0.0 -> {automation.image}:1.0.1\n"
                "Kustomization/: 1.0.0 -> 1.0.1\nTicket: OPS-12")
    assert commit.message == expected + "\n"
    assert commit.author == git.Identity(AUTHOR["name"], AUTHOR["email"]) == commit.committer
    assert f"image: {automation.image}:1.0.1 {marker(ns, 'web')}" in file_on(sandbox, repo.name, "main",
                                                                           "apps/deploy.yaml")
    obj = automation.wait("bump", lambda o: (o.get("status") or {}).get("lastPushCommit") == commit.sha,
                          "lastPushCommit")
    status = obj["status"]
    assert ready(obj)["status"] == "True" and ready(obj)["message"] == "repository up-to-date"
    assert status["observedPolicies"] == {"web": {"name": automation.image, "tag": "1.0.1"}}
    assert status["observedSourceRevision"] == f"main@sha1:{commit.sha}"
    assert status["lastPushTime"] and status["lastAutomationRunTime"]
    pushed = [e for e in automation.events("bump") if e.get("reason") == "Succeeded"]
    assert any(e["message"] == f"pushed commit '{commit.sha}' to 'refs/heads/main'\n{expected}" for e in pushed)

    # A newer image: the policy moves, and its watch runs the automation at once (interval is 1h).
    automation.push("1.1.0")
    automation.rescan()
    automation.wait_policy("1.1.0")
    second = wait_for_commit(sandbox, repo, "main", commit.sha)
    assert f"{automation.image}:1.0.1 -> {automation.image}:1.1.0" in second.message


def test_push_to_a_new_branch_leaves_the_checkout_branch(sandbox: SandboxHandle, automation: Automation) -> None:
    ns, repo = automation.namespace, automation.repo
    automation.push("2.0.0")
    before = repo.commit({"deploy.yaml": deployment(automation.image, ns)}, "app")
    automation.images()
    automation.wait_policy("2.0.0")
    automation.automation("to-branch", git_spec={"push": {"branch": "image-updates"}})
    commit = wait_for_commit(sandbox, repo, "image-updates", None)
    assert commit.message == "Update from image update automation\n"
    assert head_commit(sandbox, repo.name, "main").sha == before  # type: ignore[union-attr]
    assert f"{automation.image}:2.0.0" in file_on(sandbox, repo.name, "image-updates", "deploy.yaml")
    obj = automation.wait("to-branch", lambda o: (o.get("status") or {}).get("lastPushCommit") == commit.sha,
                          "lastPushCommit")
    assert obj["status"]["observedSourceRevision"] == f"main@sha1:{before}", "the checkout branch's commit"


@pytest.fixture(scope="module")
def signing_key() -> Iterator[tuple[Path, str]]:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    home = Path(tempfile.mkdtemp(prefix="iue-"))  # short: gpg-agent's socket path must fit
    home.chmod(0o700)
    try:
        yield home, gpg.generate_signing_key(home, "Flux Image Bot <image-bot@example.com>")
    finally:
        gpg.stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def test_signed_commit_verifies_with_the_public_key(sandbox: SandboxHandle, automation: Automation,
                                                    signing_key: tuple[Path, str]) -> None:
    home, fingerprint = signing_key
    ns, repo = automation.namespace, automation.repo
    armored = gpg.gpg(home, ["--armor", "--pinentry-mode", "loopback", "--passphrase", "",
                             "--export-secret-keys", fingerprint]).stdout
    automation.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "signing", "namespace": ns},
                           "data": {"git.asc": base64.b64encode(armored.encode()).decode()}}, field_manager="test")
    automation.push("3.0.0")
    before = repo.commit({"deploy.yaml": deployment(automation.image, ns)}, "app")
    automation.images()
    automation.wait_policy("3.0.0")
    automation.automation("signed", git_spec={"commit": {"author": AUTHOR,
                                                         "signingKey": {"secretRef": {"name": "signing"}}}})
    commit = wait_for_commit(sandbox, repo, "main", before)
    with repos.temporary_clone(sandbox.git, repo.name, branch="main") as copy, gpg.throwaway_home() as trusted:
        gpg.import_public_keys(trusted, [gpg.export_public_key(home, fingerprint)])
        check = git.verify_signature(copy.path / ".git", "commit", commit.sha, gnupg_home=trusted,
                                     allowed_signers=None)
    assert check.good, check.output
    key_line = max(armored.splitlines(), key=len)
    assert key_line not in str(automation.get("signed")), "no key material in status"


def test_suspended_commits_nothing_and_catches_up_on_resume(sandbox: SandboxHandle, automation: Automation) -> None:
    """Two automations in one namespace follow the same policy: the active one is the witness that the policy's
    change was seen; the suspended one commits nothing until resumed. A marker naming another namespace's policy
    (with an image chosen) stays as it is."""
    ns, repo = automation.namespace, automation.repo
    other_ns = f"{ns}-other"
    automation.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other_ns}},
                          field_manager="test")
    witness_repo = automation.sandbox.new_repo("witness")
    try:
        automation.push("4.0.0")
        foreign = f"          image: {automation.image}:0.0.1 {marker(other_ns, 'web')}\n"
        before = repo.commit({"deploy.yaml": deployment(automation.image, ns)}, "app")
        witness_before = witness_repo.commit({"deploy.yaml": deployment(automation.image, ns, extra=foreign)},
                                             "app")
        automation.images(namespace=other_ns)
        automation.wait_policy("4.0.0", namespace=other_ns)
        automation.automation("paused", suspend=True)
        automation.apply("ImageUpdateAutomation", "witness", {
            "interval": "1h", "sourceRef": {"kind": "GitRepository", "name": witness_repo.source_name,
                                            "namespace": witness_repo.namespace},
            "git": {"checkout": {"ref": {"branch": "main"}}, "commit": {"author": AUTHOR}},
            "update": {"strategy": "Setters"}})
        automation.images()
        automation.wait_policy("4.0.0")
        wait_for_commit(sandbox, witness_repo, "main", witness_before)
        witness_file = file_on(sandbox, witness_repo.name, "main", "deploy.yaml")
        assert f"{automation.image}:4.0.0 {marker(ns, 'web')}" in witness_file
        assert foreign in witness_file, "a marker naming another namespace's policy is ignored"
        assert head_commit(sandbox, repo.name, "main").sha == before  # type: ignore[union-attr]
        assert not (automation.get("paused").get("status") or {}).get("lastPushCommit")

        automation.kube.patch(API, "ImageUpdateAutomation", "paused", ns, {"spec": {"suspend": False}})
        caught_up = wait_for_commit(sandbox, repo, "main", before)
        assert f"{automation.image}:4.0.0" in file_on(sandbox, repo.name, "main", "deploy.yaml")
        automation.wait("paused", lambda o: (o.get("status") or {}).get("lastPushCommit") == caught_up.sha,
                        "lastPushCommit after resume")
    finally:
        witness_repo.delete()
        automation.kube.delete("v1", "Namespace", other_ns)


def test_invalid_policy_selector_stalls(automation: Automation) -> None:
    automation.automation("bad-selector", policySelector={"matchExpressions": [{"key": "app", "operator": "In"}]})
    obj = automation.wait("bad-selector", lambda o: ready(o).get("reason") == "InvalidPolicySelector",
                          "Ready=False InvalidPolicySelector")
    stalled = cond.find(obj["status"]["conditions"], cond.STALLED)
    assert stalled and stalled["status"] == "True"
    assert "values set can't be empty" in ready(obj)["message"]
