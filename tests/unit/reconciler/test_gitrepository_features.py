"""The pure parts of GitRepository's verify, include, sparseCheckout and recurseSubmodules: keys from a Secret,
allowed signers, signature detection, modes, include bookkeeping and the watch that rebuilds includers."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.source import checkout, gitrepository, includes, verification
from sandbox.reconciler.source.gitrepository import ContentConfig
from sandbox.reconciler.source.storage import Storage
from sandbox.tools import git as gittool

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake lesson@example"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_keys_come_from_their_suffixes_only() -> None:
    keys = verification.keys_from_secret({
        "alice.asc": b64("-----BEGIN PGP PUBLIC KEY BLOCK-----\nA\n-----END PGP PUBLIC KEY BLOCK-----\n"),
        "bob.sshpub": b64(f"# Bob's laptop\n{SSH_KEY}\n\nssh-rsa AAAAB3 bob@desk\n"),
        "README": b64("not a key"),
    })
    assert len(keys.pgp) == 1 and keys.pgp[0].startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert keys.ssh == (SSH_KEY, "ssh-rsa AAAAB3 bob@desk")


def test_allowed_signers_trust_each_key_for_git_whoever_signs() -> None:
    assert verification.allowed_signers((SSH_KEY, "garbage")) == (
        '* namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake\n')
    assert verification.allowed_signers(()) == ""


COMMIT = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n"


@pytest.mark.parametrize(("raw", "kind", "expected"), [
    (COMMIT + "\nunsigned\n", "commit", None),
    (COMMIT + "gpgsig -----BEGIN PGP SIGNATURE-----\n \n x\n -----END PGP SIGNATURE-----\n\nsigned\n", "commit", "pgp"),
    (COMMIT + "gpgsig -----BEGIN SSH SIGNATURE-----\n x\n -----END SSH SIGNATURE-----\n\nsigned\n", "commit", "ssh"),
    (COMMIT + "gpgsig -----BEGIN SIGNED MESSAGE-----\n x\n\nsigned\n", "commit", "other"),
    (COMMIT + "\na message quoting -----BEGIN PGP SIGNATURE-----\n", "commit", None),
    ("object abc\ntype commit\ntag v1\ntagger a <a@b> 1 +0000\n\nrelease\n", "tag", None),
    ("object abc\ntype commit\ntag v1\n\nrelease\n-----BEGIN PGP SIGNATURE-----\nx\n", "tag", "pgp"),
    ("object abc\ntype commit\ntag v1\n\nrelease\n-----BEGIN SSH SIGNATURE-----\nx\n", "tag", "ssh"),
], ids=["unsigned", "pgp", "ssh", "x509", "quoted-in-message", "unsigned-tag", "pgp-tag", "ssh-tag"])
def test_signature_kind(raw: str, kind: str, expected: str | None) -> None:
    assert verification.signature_kind(raw, kind) == expected


def test_the_signer_is_named_by_fingerprint_never_by_key_material() -> None:
    gpg_output = "[GNUPG:] GOODSIG DD81 Lesson\n[GNUPG:] VALIDSIG F74C86F46A5681657CC3CEAADD817858200C597A 2026"
    assert verification.signer_of(gpg_output) == "F74C86F46A5681657CC3CEAADD817858200C597A"
    ssh_output = 'Good "git" signature for * with ED25519 key SHA256:8XASIWl39b1u+rnFUeO+1BGtoIvDuOXsSE92EX+zEhc'
    assert verification.signer_of(ssh_output) == "ED25519 key SHA256:8XASIWl39b1u+rnFUeO+1BGtoIvDuOXsSE92EX+zEhc"


@pytest.mark.parametrize(("verify", "mode"), [
    (None, None), ({}, None), ({"secretRef": {"name": "k"}}, "HEAD"), ({"mode": "head"}, "HEAD"),
    ({"mode": "Tag"}, "Tag"), ({"mode": "TagAndHEAD"}, "TagAndHEAD"),
])
def test_mode_of(verify: dict[str, Any] | None, mode: str | None) -> None:
    assert verification.mode_of(verify) == mode


@pytest.mark.parametrize(("mode", "observed", "needed"), [
    (None, None, False), ("HEAD", None, True), ("HEAD", "HEAD", False), ("Tag", "HEAD", True),
    ("HEAD", "Tag", True), ("TagAndHEAD", "TagAndHEAD", False), ("Tag", "TagAndHEAD", False),
])
def test_needs_verification(mode: str | None, observed: str | None, needed: bool) -> None:
    assert verification.needs_verification(mode, observed) is needed


def test_tag_mode_without_a_tag_stalls() -> None:
    with pytest.raises(verification.VerificationFailed) as caught:
        verification.verify(Path("/nonexistent"), sha="a" * 40, tag=None, tag_object=None, mode="Tag",
                            keys=verification.TrustedKeys((), ()))
    assert caught.value.reason == "InvalidVerificationMode" and caught.value.stalled
    assert str(caught.value) == "cannot verify tag object's signature if a tag reference is not specified"


@pytest.mark.parametrize(("spec_dirs", "paths"), [
    (None, []), (["./apps", "infra/"], ["apps", "infra"]), (["apps", "./"], []), ([" ./a/b "], ["a/b"]),
])
def test_sparse_directories(spec_dirs: list[str] | None, paths: list[str]) -> None:
    assert checkout.sparse_directories(spec_dirs) == paths


@pytest.mark.parametrize(("url", "resolved"), [
    ("../lib.git", "http://127.0.0.1:9/sandbox/lib.git"),
    ("./nested.git", "http://127.0.0.1:9/sandbox/app.git/nested.git"),
    ("http://other:1/x.git", "http://other:1/x.git"),
])
def test_relative_submodule_urls_resolve_against_the_superproject(url: str, resolved: str) -> None:
    assert checkout.submodule_url("http://127.0.0.1:9/sandbox/app.git", url) == resolved


def test_credentials_follow_only_to_the_same_origin() -> None:
    assert checkout.same_origin("http://127.0.0.1:9/a.git", "http://127.0.0.1:9/b.git")
    assert not checkout.same_origin("http://127.0.0.1:9/a.git", "http://127.0.0.1:10/a.git")
    assert not checkout.same_origin("http://127.0.0.1:9/a.git", "https://127.0.0.1:9/a.git")
    assert not checkout.same_origin("http://127.0.0.1:9/a.git", "http://elsewhere:9/a.git")


@pytest.mark.parametrize(("path", "kept"), [("lib", "lib"), ("../../etc", "etc"), ("/abs/x", "abs/x"),
                                            ("a/../b", "b"), ("", "")])
def test_include_paths_stay_inside(path: str, kept: str) -> None:
    assert includes.inside(path) == kept


class FakeKube:
    def __init__(self, *repositories: dict[str, Any]) -> None:
        self.repositories = {r["metadata"]["name"]: r for r in repositories}

    def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
        if name not in self.repositories:
            raise NotFound(f"{name} not found")
        return self.repositories[name]


def repo(name: str, *, include: tuple[str, ...] = (), artifact: dict[str, Any] | None = None,
         included: list[dict[str, Any]] | None = None, namespace: str = "flux-system") -> dict[str, Any]:
    status: dict[str, Any] = {}
    if artifact:
        status["artifact"] = artifact
    if included is not None:
        status["includedArtifacts"] = included
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"include": [{"repository": {"name": n}} for n in include]}, "status": status}


A1 = {"revision": "main@sha1:" + "1" * 40, "digest": "sha256:1", "path": "p1"}
A2 = {"revision": "main@sha1:" + "2" * 40, "digest": "sha256:2", "path": "p2"}


def test_unavailable_includes_say_why() -> None:
    kube = FakeKube(repo("lib"))
    with pytest.raises(includes.IncludeUnavailable) as missing:
        includes.included_artifacts(kube, "flux-system", [{"repository": {"name": "absent"}}])
    assert missing.value.reason == "NotFound"
    assert str(missing.value) == ("could not get resource for include 'absent': "
                                  "gitrepositories.source.toolkit.fluxcd.io \"absent\" not found")
    with pytest.raises(includes.IncludeUnavailable) as pending:
        includes.included_artifacts(kube, "flux-system", [{"repository": {"name": "lib"}}])
    assert pending.value.reason == "NoArtifact" and str(pending.value) == "no artifact available for include 'lib'"
    ready = FakeKube(repo("lib", artifact=A1))
    assert includes.included_artifacts(ready, "flux-system", [{"repository": {"name": "lib"}}]) == [A1]


def test_included_artifacts_changed_by_revision_or_digest() -> None:
    assert not includes.changed([A1], [dict(A1, lastUpdateTime="later")])
    assert includes.changed([A2], [A1])
    assert includes.changed([A1], None)
    assert not includes.changed([], None)


def test_dependents_are_rebuilt_when_what_they_include_changes_but_never_in_a_cycle() -> None:
    lib = repo("lib", artifact=A2)
    app_stale = repo("app", include=("lib",), included=[A1])
    app_current = repo("app2", include=("lib",), included=[A2])
    other_ns = repo("app3", include=("lib",), included=[A1], namespace="other")
    unrelated = repo("unrelated", artifact=A1)
    everything = [lib, app_stale, app_current, other_ns, unrelated]
    assert includes.dependents_to_reconcile(lib, everything) == ["flux-system/app"]
    # lib includes app, app includes lib: neither rebuilds the other from the watch (intervals still run)
    cyclic_lib = repo("lib", include=("app",), artifact=A2)
    assert includes.dependents_to_reconcile(cyclic_lib, [cyclic_lib, app_stale]) == []
    assert includes.dependents_to_reconcile(repo("lib"), everything) == [], "no artifact yet: nothing to include"


def test_copy_includes_from_path_to_path(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "artifacts", "http://127.0.0.1:1")
    source = tmp_path / "lib"
    (source / "deploy").mkdir(parents=True)
    (source / "deploy" / "cm.yaml").write_text("kind: ConfigMap\n")
    (source / "README.md").write_text("lib\n")
    stored = storage.store_directory(source, "gitrepository/flux-system/lib/x.tar.gz", None)
    artifact = {"path": stored.path, "digest": stored.digest}
    tree = tmp_path / "tree"
    tree.mkdir()
    includes.copy_includes(storage, tree, [{"repository": {"name": "lib"}, "fromPath": "deploy",
                                            "toPath": "vendor/lib"},
                                           {"repository": {"name": "lib"}}], [artifact, artifact])
    assert (tree / "vendor" / "lib" / "cm.yaml").read_text() == "kind: ConfigMap\n"
    assert (tree / "lib" / "README.md").exists() and (tree / "lib" / "deploy" / "cm.yaml").exists()
    with pytest.raises(includes.CopyFailure, match=r"failed to copy 'lib' include from \./ to lib: lib already"):
        includes.copy_includes(storage, tree, [{"repository": {"name": "lib"}}], [artifact])
    with pytest.raises(includes.CopyFailure, match="nope does not exist"):
        includes.copy_includes(storage, tree, [{"repository": {"name": "lib"}, "fromPath": "nope",
                                                "toPath": "x"}], [artifact])


def test_content_config_notices_every_change_that_shapes_the_artifact() -> None:
    spec = {"ignore": "*.md", "recurseSubmodules": True, "include": [{"repository": {"name": "lib"}}],
            "sparseCheckout": ["apps"], "verify": {"mode": "HEAD", "secretRef": {"name": "keys"}}}
    status = {"observedIgnore": "*.md", "observedRecurseSubmodules": True,
              "observedInclude": [{"repository": {"name": "lib"}}], "observedSparseCheckout": ["apps"],
              "includedArtifacts": [A1], "sourceVerificationMode": "HEAD"}
    config = ContentConfig.of(spec)
    assert config.unchanged_since(status, [A1])
    assert not config.unchanged_since(status, [A2]), "an included artifact changed"
    for field, value in [("observedIgnore", None), ("observedRecurseSubmodules", False),
                         ("observedInclude", []), ("observedSparseCheckout", ["apps", "infra"]),
                         ("sourceVerificationMode", None)]:
        assert not config.unchanged_since({**status, field: value}, [A1]), field
    assert ContentConfig.of({}).unchanged_since({}, [])


def test_a_missing_include_waits_without_fetching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fetching(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing is fetched while an include is unavailable")

    monkeypatch.setattr(gittool, "ls_remote", no_fetching)
    recorded: list[tuple[str, str]] = []

    class Events:
        def record(self, obj: Any, event_type: str, reason: str, message: str, **_: Any) -> None:
            recorded.append((event_type, reason))

    ctx = Context(kube=FakeKube(repo("lib")), events=Events(), metrics=Metrics(),  # type: ignore[arg-type]
                  stop=threading.Event())
    reconciler = gitrepository.GitRepositoryReconciler(Storage(tmp_path / "a", "http://127.0.0.1:1"), tmp_path / "m")
    obj = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "app", "namespace": "flux-system", "generation": 2},
           "spec": {"url": "http://127.0.0.1:1/app.git", "interval": "1h",
                    "include": [{"repository": {"name": "lib"}}]}}
    result = reconciler.reconcile(obj, ctx)
    assert result.status is not None and result.requeue_after == gitrepository.DEPENDENCY_REQUEUE
    ready = cond.find(result.status["conditions"], cond.READY)
    unavailable = cond.find(result.status["conditions"], "IncludeUnavailable")
    assert ready and (ready["status"], ready["reason"]) == ("False", "NoArtifact")
    assert unavailable and (unavailable["status"], unavailable["message"]) == (
        "True", "no artifact available for include 'lib'")
    assert recorded == [("Normal", "NoArtifact")], "a wait, not a warning"
