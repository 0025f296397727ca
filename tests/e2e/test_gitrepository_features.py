"""GitRepository against the embedded cluster and git server: spec.verify with OpenPGP and SSH signatures (signed,
unsigned, wrongly signed commits; signed and unsigned tags), spec.include (and the rebuild when the included
repository moves), spec.sparseCheckout, spec.recurseSubmodules with a private submodule, and ref.commit below
the branch head."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.git import repo as repos
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.reconciler.runtime.timeutil import rfc3339_nano
from sandbox.tools import git, gpg
from sandbox.tools.run import run
from sandbox.waiting import wait_until

Obj = dict[str, Any]
API = ops.GIT_REPOSITORY.api_version
NS = "flux-system"


def configmap(name: str, value: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
                           "data": {"value": value}})


def source_for(sandbox: SandboxHandle, base: GitOpsRepo, name: str, **spec: Any) -> str:
    """A GitRepository ``name`` for ``base``'s repository (its URL and credentials), with extra ``spec``."""
    followed = base.source["spec"]
    manifest = {"apiVersion": API, "kind": "GitRepository", "metadata": {"name": name, "namespace": NS},
                "spec": {"interval": "10m", "url": followed["url"], "secretRef": followed["secretRef"],
                         "ref": {"branch": base.branch}, **spec}}
    sandbox.kube.apply(manifest, field_manager="sandbox-tests")
    return name


def get(sandbox: SandboxHandle, name: str) -> Obj:
    return sandbox.kube.get(API, "GitRepository", name, NS)


def wait_for(sandbox: SandboxHandle, name: str, check: Callable[[Obj], bool], what: str,
             timeout: float = 30) -> Obj:
    def done() -> Obj | None:
        obj = get(sandbox, name)
        ready = ops.ready_condition(obj)
        return obj if ready.get("observedGeneration") == obj["metadata"]["generation"] and check(obj) else None

    def describe() -> str:
        status = get(sandbox, name).get("status") or {}
        return json.dumps({"conditions": status.get("conditions"), "artifact": status.get("artifact")})[:1500]

    return wait_until(done, timeout=timeout, what=f"GitRepository {name} {what}", describe=describe)


def ready_with(revision: str) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        status = obj.get("status") or {}
        return cond.is_true(status.get("conditions"), cond.READY) and \
            (status.get("artifact") or {}).get("revision") == revision
    return check


def failed_with(reason: str) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        ready = ops.ready_condition(obj)
        return ready.get("status") == "False" and ready.get("reason") == reason
    return check


def reconcile_now(sandbox: SandboxHandle, name: str) -> None:
    """Ask for a reconcile (as `flux reconcile source git` does) and wait until it was handled."""
    stamp = rfc3339_nano()
    sandbox.kube.patch(API, "GitRepository", name, NS, {"metadata": {"annotations": {REQUESTED_AT: stamp}}})
    wait_until(lambda: get(sandbox, name).get("status", {}).get("lastHandledReconcileAt") == stamp, timeout=30,
               what=f"GitRepository {name} to handle the reconcile request")


def artifact_files(obj: Obj) -> dict[str, str]:
    """The files of the GitRepository's artifact (downloaded from the artifact server), by path."""
    url = obj["status"]["artifact"]["url"]
    with urllib.request.urlopen(url, timeout=10) as response:
        data = response.read()
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                files[member.name] = handle.read().decode() if handle else ""
    return files


def condition(obj: Obj, kind: str) -> Obj:
    return dict(cond.find(obj.get("status", {}).get("conditions"), kind) or {})


def cleanup(sandbox: SandboxHandle, *names: str) -> None:
    for name in names:
        sandbox.kube.delete(API, "GitRepository", name, NS)


# --- signing --------------------------------------------------------------------------------------------------

class Signer:
    """A throwaway OpenPGP key and SSH key to sign commits with, as a lesson would make them."""

    def __init__(self, root: Path, name: str) -> None:
        self.gnupg_home = root / f"gnupg-{name}"
        self.gnupg_home.mkdir(mode=0o700)
        self.fingerprint = gpg.generate_signing_key(self.gnupg_home, f"{name} <{name}@example.com>")
        self.public_asc = gpg.export_public_key(self.gnupg_home, self.fingerprint)
        self.ssh_key = root / f"ssh-{name}"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@example.com", "-f", self.ssh_key])
        self.public_ssh = self.ssh_key.with_suffix(".pub").read_text().strip()

    def close(self) -> None:
        gpg.stop_agent(self.gnupg_home)


@pytest.fixture(scope="module")
def signers() -> Iterator[tuple[Signer, Signer]]:
    root = Path(tempfile.mkdtemp(prefix="sg-"))  # short: gpg-agent's socket path must fit
    made: list[Signer] = []
    try:
        made = [Signer(root, "trusted"), Signer(root, "stranger")]
        yield made[0], made[1]
    finally:
        for signer in made:
            signer.close()
        shutil.rmtree(root, ignore_errors=True)


def push_commit(sandbox: SandboxHandle, base: GitOpsRepo, changes: dict[str, str], message: str, *,
                signer: Signer | None = None, ssh: bool = False, tag: str | None = None,
                sign_tag: bool = True) -> str:
    """Commit ``changes`` on ``base``'s branch — signed with ``signer``'s OpenPGP (or ``ssh``) key, or unsigned —
    optionally tag it (annotated; signed with ``sign_tag``), and push; returns the commit's sha."""
    with repos.temporary_clone(sandbox.git, base.name, branch=base.branch) as copy:
        copy.write(changes)
        if signer is None:
            sha = copy.commit(message)
        else:
            key = str(signer.ssh_key) if ssh else signer.fingerprint
            sha = git.signed_commit(copy.path, message, signing_key=key, ssh=ssh, identity=copy.identity,
                                    gnupg_home=signer.gnupg_home)
        if tag is not None:
            if signer is not None and sign_tag:
                git.signed_tag(copy.path, tag, f"release {tag}", signing_key=signer.fingerprint, ssh=False,
                               identity=copy.identity, gnupg_home=signer.gnupg_home)
            else:
                copy.git("tag", "-a", tag, "-m", f"release {tag}")
            copy.git("push", "--quiet", "origin", f"refs/tags/{tag}")
        copy.push(base.branch)
    base.head = sha
    return sha


def test_only_signed_commits_become_artifacts(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                              signers: tuple[Signer, Signer]) -> None:
    trusted, stranger = signers
    secret = f"{gitops_repo.name}-keys"
    sandbox.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": NS},
                        "stringData": {"trusted.asc": trusted.public_asc, "trusted.sshpub": trusted.public_ssh}},
                       field_manager="sandbox-tests")
    signed = push_commit(sandbox, gitops_repo, {"cm.yaml": configmap(f"{gitops_repo.name}-cm", "signed")},
                         "signed with OpenPGP", signer=trusted)
    name = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-verified",
                      verify={"mode": "HEAD", "secretRef": {"name": secret}})
    try:
        obj = wait_for(sandbox, name, ready_with(f"main@sha1:{signed}"), "to store the signed commit")
        verified = condition(obj, "SourceVerified")
        assert verified["status"] == "True" and verified["reason"] == "Succeeded"
        assert verified["message"] == (f"verified signature of\n\t- commit '{signed}' with key "
                                       f"'{trusted.fingerprint}'")
        assert obj["status"]["sourceVerificationMode"] == "HEAD"
        gitops_repo.kustomization(f"{gitops_repo.name}-verified", sourceRef={"kind": "GitRepository", "name": name})
        gitops_repo.wait_applied(f"{gitops_repo.name}-verified", sha=signed)

        # Unsigned: not stored, so not applied; Ready says why.
        unsigned = push_commit(sandbox, gitops_repo, {"cm.yaml": configmap(f"{gitops_repo.name}-cm", "unsigned")},
                               "not signed")
        reconcile_now(sandbox, name)
        obj = wait_for(sandbox, name, failed_with("InvalidCommitSignature"), "to refuse the unsigned commit")
        expected = (f"signature verification of commit '{unsigned}' failed: unable to verify Git commit: unable "
                    "to verify payload as the provided signature is empty")
        assert ops.ready_condition(obj)["message"] == expected
        assert condition(obj, "SourceVerified") | {"lastTransitionTime": ""} == {
            "type": "SourceVerified", "status": "False", "reason": "InvalidCommitSignature", "message": expected,
            "observedGeneration": 1, "lastTransitionTime": ""}
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{signed}", "the unsigned commit was stored"

        # Signed, but by a key the Secret does not hold.
        stranger_sha = push_commit(sandbox, gitops_repo, {"cm.yaml": configmap(f"{gitops_repo.name}-cm", "x")},
                                   "signed by a stranger", signer=stranger)
        reconcile_now(sandbox, name)
        obj = wait_for(sandbox, name, lambda o: stranger_sha in ops.ready_condition(o).get("message", ""),
                       "to refuse the stranger's commit")
        assert ops.ready_condition(obj)["reason"] == "InvalidCommitSignature"
        assert ops.ready_condition(obj)["message"].endswith("unable to verify payload with any of the given key "
                                                            "rings")
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{signed}"
        stranger_ssh = push_commit(sandbox, gitops_repo, {"other.txt": "y"}, "stranger's SSH key", signer=stranger,
                                   ssh=True)
        reconcile_now(sandbox, name)
        wait_for(sandbox, name, lambda o: stranger_ssh in ops.ready_condition(o).get("message", "")
                 and failed_with("InvalidCommitSignature")(o), "to refuse the stranger's SSH signature")
        ks = gitops_repo.get_kustomization(f"{gitops_repo.name}-verified")
        assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{signed}"
        cm = sandbox.kube.get("v1", "ConfigMap", f"{gitops_repo.name}-cm", "default")
        assert cm["data"] == {"value": "signed"}

        # Signed with the trusted SSH key: stored again.
        ssh_signed = push_commit(sandbox, gitops_repo, {"cm.yaml": configmap(f"{gitops_repo.name}-cm", "ssh")},
                                 "signed with SSH", signer=trusted, ssh=True)
        reconcile_now(sandbox, name)
        obj = wait_for(sandbox, name, ready_with(f"main@sha1:{ssh_signed}"), "to store the SSH-signed commit")
        verified = condition(obj, "SourceVerified")
        assert verified["status"] == "True"
        assert verified["message"].startswith(f"verified signature of\n\t- commit '{ssh_signed}' with key "
                                              "'ED25519 key SHA256:")

        # Key material never reaches status or events.
        events = json.dumps(ops.events(sandbox.kube, NS, for_object=f"GitRepository/{name}"))
        seen = json.dumps(obj["status"]) + events
        for secret_line in [*trusted.public_asc.splitlines()[2:-2], trusted.public_ssh.split()[1]]:
            assert secret_line not in seen
        assert "InvalidCommitSignature" in events
        logs = "".join(p.read_text(errors="replace") for p in sandbox.state.logs.glob("*.log"))
        assert f"signature verification of commit '{unsigned}' failed" in logs, "the refusal is logged"
        for secret_line in [*trusted.public_asc.splitlines()[2:-2], trusted.public_ssh.split()[1]]:
            assert secret_line not in logs
    finally:
        sandbox.kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", f"{gitops_repo.name}-verified", NS)
        cleanup(sandbox, name)
        sandbox.kube.delete("v1", "Secret", secret, NS)


def test_tag_signatures(sandbox: SandboxHandle, gitops_repo: GitOpsRepo, signers: tuple[Signer, Signer]) -> None:
    trusted, _ = signers
    secret = f"{gitops_repo.name}-keys"
    sandbox.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": NS},
                        "stringData": {"trusted.asc": trusted.public_asc}}, field_manager="sandbox-tests")
    released = push_commit(sandbox, gitops_repo, {"a.txt": "1"}, "release 1", signer=trusted, tag="v1.0.0")
    push_commit(sandbox, gitops_repo, {"a.txt": "2"}, "release 2", signer=trusted, tag="v1.1.0", sign_tag=False)
    tagged = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-tag", ref={"tag": "v1.0.0"},
                        verify={"mode": "TagAndHEAD", "secretRef": {"name": secret}})
    unsigned = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-semver", ref={"semver": ">=1.0.0"},
                          verify={"mode": "Tag", "secretRef": {"name": secret}})
    branch = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-branch",
                        verify={"mode": "Tag", "secretRef": {"name": secret}})
    try:
        obj = wait_for(sandbox, tagged, ready_with(f"v1.0.0@sha1:{released}"), "to store the signed tag")
        message = condition(obj, "SourceVerified")["message"]
        assert message.startswith("verified signature of\n\t- tag 'v1.0.0@")
        assert message.endswith(f"\n\t- commit '{released}' with key '{trusted.fingerprint}'")
        assert obj["status"]["sourceVerificationMode"] == "TagAndHEAD"
        obj = wait_for(sandbox, unsigned, failed_with("InvalidGitObject"), "to refuse the unsigned tag")
        assert ops.ready_condition(obj)["message"].startswith("cannot verify signature of tag 'v1.1.0@")
        assert "artifact" not in obj["status"]
        obj = wait_for(sandbox, branch, failed_with("InvalidVerificationMode"), "to stall without a tag")
        assert condition(obj, cond.STALLED)["status"] == "True"
    finally:
        cleanup(sandbox, tagged, unsigned, branch)
        sandbox.kube.delete("v1", "Secret", secret, NS)


def test_include_and_sparse_checkout(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    lib = sandbox.new_repo("lib", files={"deploy/cm.yaml": configmap("lib", "1"), "README.md": "lib\n"})
    gitops_repo.commit({"apps/app.yaml": configmap("app", "1"), "infra/infra.yaml": configmap("infra", "1")},
                       "apps and infra")
    sparse = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-sparse", sparseCheckout=["./apps"])
    wrong = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-wrong", sparseCheckout=["nope"])
    including = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-incl", include=[
        {"repository": {"name": lib.source_name}, "fromPath": "deploy", "toPath": "vendor/lib"}])
    missing = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-missing",
                         include=[{"repository": {"name": "no-such-repository"}}])
    try:
        obj = wait_for(sandbox, sparse, ready_with(f"main@sha1:{gitops_repo.head}"), "to store the sparse tree")
        assert sorted(artifact_files(obj)) == ["apps/app.yaml"]
        assert obj["status"]["observedSparseCheckout"] == ["./apps"]
        obj = wait_for(sandbox, wrong, failed_with("GitOperationFailed"), "to refuse a missing directory")
        assert ops.ready_condition(obj)["message"] == (
            "failed to sparse checkout directories : sparse checkout dir 'nope' does not exist in repository: "
            "lstat nope: no such file or directory")
        assert condition(obj, "FetchFailed")["status"] == "True"

        obj = wait_for(sandbox, missing, failed_with("NotFound"), "to report the missing include")
        assert condition(obj, "IncludeUnavailable") | {"lastTransitionTime": ""} == {
            "type": "IncludeUnavailable", "status": "True", "reason": "NotFound", "observedGeneration": 1,
            "lastTransitionTime": "", "message": "could not get resource for include 'no-such-repository': "
            "gitrepositories.source.toolkit.fluxcd.io \"no-such-repository\" not found"}

        obj = wait_for(sandbox, including, ready_with(f"main@sha1:{gitops_repo.head}"), "to store with the include")
        files = artifact_files(obj)
        assert files["vendor/lib/cm.yaml"] == configmap("lib", "1") and "apps/app.yaml" in files
        assert "vendor/lib/README.md" not in files
        assert [a["revision"] for a in obj["status"]["includedArtifacts"]] == [f"main@sha1:{lib.head}"]
        first_digest = obj["status"]["artifact"]["digest"]

        # A push to the included repository alone rebuilds the including one (no interval, no request).
        lib.commit({"deploy/cm.yaml": configmap("lib", "2")}, "lib 2")
        obj = wait_for(sandbox, including, lambda o: [a["revision"] for a in o["status"].get(
            "includedArtifacts", [])] == [f"main@sha1:{lib.head}"], "to take the new include")
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{gitops_repo.head}"
        assert obj["status"]["artifact"]["digest"] != first_digest
        assert artifact_files(obj)["vendor/lib/cm.yaml"] == configmap("lib", "2")
    finally:
        cleanup(sandbox, sparse, wrong, including, missing)
        lib.delete()


def test_submodules_and_a_commit_below_the_branch_head(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    lib = sandbox.new_repo("sub", files={"lib.yaml": configmap("sub", "1")})
    pinned = lib.head
    lib.commit({"lib.yaml": configmap("sub", "2")}, "a later lib commit the gitlink does not point at")
    with repos.temporary_clone(sandbox.git, gitops_repo.name, branch=gitops_repo.branch) as copy:
        copy.write({".gitmodules": f'[submodule "lib"]\n\tpath = vendor/lib\n\turl = ../{lib.name}.git\n',
                    "app.yaml": configmap("app", "1")})
        # The gitlink straight into the index (what `git submodule add` records, without cloning the lib here);
        # `git add --all` would drop it again, the submodule's directory being absent.
        copy.git("update-index", "--add", "--cacheinfo", f"160000,{pinned},vendor/lib")
        copy.git("add", ".gitmodules", "app.yaml")
        copy.git("commit", "--quiet", "--message", "add the lib submodule")
        first = copy.head()
        copy.write({"app.yaml": configmap("app", "2")})
        copy.git("commit", "--quiet", "--message", "app 2", "app.yaml")
        gitops_repo.head = copy.push(gitops_repo.branch)
    copy_name = f"{gitops_repo.name}-subs"
    with_submodules = source_for(sandbox, gitops_repo, copy_name, recurseSubmodules=True)
    at_commit = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-commit", ref={"commit": first})
    on_branch = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-commit-branch")
    off_branch = source_for(sandbox, gitops_repo, f"{gitops_repo.name}-off-branch",
                            ref={"branch": gitops_repo.branch, "commit": lib.head})
    try:
        obj = wait_for(sandbox, with_submodules, ready_with(f"main@sha1:{gitops_repo.head}"),
                       "to store the tree with its submodule")
        files = artifact_files(obj)
        assert files["vendor/lib/lib.yaml"] == configmap("sub", "1"), "the gitlink's commit, not the lib's head"
        assert files["app.yaml"] == configmap("app", "2")
        assert obj["status"]["observedRecurseSubmodules"] is True

        obj = wait_for(sandbox, at_commit, ready_with(f"sha1:{first}"), "to store the commit below the head")
        files = artifact_files(obj)
        assert files["app.yaml"] == configmap("app", "1") and "vendor/lib/lib.yaml" not in files, "no submodules"
        # First the branch head (a shallow fetch), then a commit below it on that branch: the mirror must get the
        # history between them to see that the commit is on the branch.
        wait_for(sandbox, on_branch, ready_with(f"main@sha1:{gitops_repo.head}"), "to store the branch head")
        source_for(sandbox, gitops_repo, on_branch, ref={"branch": gitops_repo.branch, "commit": first})
        wait_for(sandbox, on_branch, ready_with(f"main@sha1:{first}"), "to store the commit on its branch")
        obj = wait_for(sandbox, off_branch, failed_with("GitOperationFailed"), "to refuse a commit off the branch")
        assert ops.ready_condition(obj)["message"] == (
            f"failed to checkout and determine revision: unable to resolve commit object for '{lib.head}': "
            "object not found")
    finally:
        cleanup(sandbox, with_submodules, at_commit, on_branch, off_branch)
        lib.delete()
