"""The pytest plugin as users meet it: `pytest scenarios/` runs each scenario.yaml as a test (failures show the
step and its evidence, broken files fail collection, missing features skip), and a GitOps repository of one's
own is pushed and checked with `sandbox_apply_repo` / `gitops_repo.push_folder` + `assert_all_ready`."""

from __future__ import annotations

import secrets
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.errors import SandboxError
from sandbox.handle import GitOpsRepo, SandboxHandle

pytest_plugins = ["pytester"]

GOOD = """\
title: Good
summary: A ConfigMap is applied.
repo:
  kustomizations:
    - name: app
steps:
  - commit:
      message: add a ConfigMap
      files:
        cm.yaml: |
          apiVersion: v1
          kind: ConfigMap
          metadata: {name: c, namespace: "${namespace}"}
          data: {v: "1"}
  - wait:
      ready: Kustomization/app
      revision: head
      timeout: 30s
  - expect:
      object: ConfigMap/c
      jsonpath: .data.v
      equals: "1"
"""


def scenario(root: Path, name: str, text: str) -> None:
    (root / "scenarios" / name).mkdir(parents=True)
    (root / "scenarios" / name / "scenario.yaml").write_text(text)


def test_scenarios_are_collected_and_run(pytester: pytest.Pytester, sandbox: SandboxHandle) -> None:
    scenario(pytester.path, "good", GOOD)
    scenario(pytester.path, "bad", GOOD.replace('equals: "1"', 'equals: "2"'))
    scenario(pytester.path, "needs-gitea", "title: T\nsummary: S\nneeds: [gitea]\nsteps:\n  - narrate: x\n")
    result = pytester.runpytest("scenarios", "--sandbox-reuse", sandbox.name, "-p", "no:cacheprovider", "-rs")
    outcomes = result.parseoutcomes()
    expected_skips = 0 if sandbox.git.backend == "gitea" else 1
    assert outcomes.get("passed") == 2 - expected_skips, result.stdout.str()
    assert outcomes.get("failed") == 1
    assert outcomes.get("skipped", 0) == expected_skips
    text = result.stdout.str()
    assert "scenario 'bad' failed at step 3/3 (expect," in text
    assert ".data.v is '1', expected '2'" in text and "objects:" in text and "recent events:" in text
    assert "Traceback" not in text  # the failure speaks of steps, not of Python frames
    if expected_skips:
        assert "needs gitea" in text


def test_an_invalid_scenario_fails_collection_before_anything_runs(pytester: pytest.Pytester,
                                                                  sandbox: SandboxHandle) -> None:
    scenario(pytester.path, "good", GOOD)
    scenario(pytester.path, "broken", "title: T\nsummary: S\nsteps:\n  - explode: now\n")
    result = pytester.runpytest("scenarios", "--sandbox-reuse", sandbox.name, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*scenarios/broken/scenario.yaml:4: steps[[]0[]].explode: unknown step type "
                                 "'explode'*"])
    assert result.parseoutcomes().get("passed") is None  # nothing ran


def test_tags_select_scenarios(pytester: pytest.Pytester, sandbox: SandboxHandle) -> None:
    scenario(pytester.path, "tagged", GOOD.replace("summary:", "tags: [smoke]\nsummary:"))
    scenario(pytester.path, "untagged", GOOD)
    result = pytester.runpytest("scenarios", "--sandbox-reuse", sandbox.name, "-p", "no:cacheprovider", "-k",
                                "smoke", "--collect-only", "-q")
    assert "scenarios/tagged/scenario.yaml::tagged" in result.stdout.str()
    assert "untagged" not in result.stdout.str()


def own_repo(root: Path, namespace: str, *, broken: bool = False) -> Path:
    """A repository shaped like a bootstrapped Flux repo: clusters/sandbox holds the Flux objects (and the
    bootstrap's flux-system/, which a test must not apply), infrastructure/ and apps/ the workloads."""
    files = {
        "clusters/sandbox/flux-system/gotk-components.yaml": "this is the Flux install: not for the sandbox\n",
        "clusters/sandbox/infrastructure.yaml": f"""\
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {{name: {namespace}-infra, namespace: flux-system}}
            spec:
              interval: 10m
              path: ./infrastructure
              prune: true
              sourceRef: {{kind: GitRepository, name: flux-system}}
            """,
        "clusters/sandbox/apps.yaml": f"""\
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {{name: {namespace}-apps, namespace: flux-system}}
            spec:
              interval: 10m
              dependsOn: [{{name: {namespace}-infra}}]
              path: {"./missing" if broken else "./apps"}
              prune: true
              sourceRef: {{kind: GitRepository, name: flux-system}}
            """,
        "infrastructure/namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n",
        "apps/config.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app, namespace: {namespace}}}\n"
                            "data: {greeting: hello}\n",
    }
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(content))
    return root


def test_your_own_repository_becomes_ready(sandbox: SandboxHandle,
                                           sandbox_apply_repo: Callable[..., GitOpsRepo], tmp_path: Path) -> None:
    namespace = f"own-{secrets.token_hex(3)}"
    folder = own_repo(tmp_path / "repo", namespace)
    repository = sandbox_apply_repo(
        folder, path="./clusters/sandbox", source_name="flux-system", exclude=("clusters/*/flux-system",))
    ready = repository.assert_all_ready(timeout=5)
    assert set(ready) == {f"Kustomization/flux-system/{repository.name}",
                          f"Kustomization/flux-system/{namespace}-infra", f"Kustomization/flux-system/{namespace}-apps"}
    assert all(revision.endswith(repository.head) for revision in ready.values())
    assert sandbox.kube.get("v1", "ConfigMap", "app", namespace)["data"] == {"greeting": "hello"}


def test_a_broken_repository_is_reported_kustomization_by_kustomization(sandbox: SandboxHandle,
                                                                       gitops_repo: GitOpsRepo,
                                                                       tmp_path: Path) -> None:
    namespace = f"own-{secrets.token_hex(3)}"
    folder = own_repo(tmp_path / "repo", namespace, broken=True)
    # The same by hand with gitops_repo: its GitRepository is named after the repo, so point the nested
    # Kustomizations at it.
    for path in folder.joinpath("clusters/sandbox").glob("*.yaml"):
        path.write_text(path.read_text().replace("name: flux-system}", f"name: {gitops_repo.source_name}}}"))
    gitops_repo.push_folder(folder, exclude=("clusters/*/flux-system",))
    gitops_repo.kustomization("root", path="./clusters/sandbox")
    with pytest.raises(SandboxError) as caught:
        # apps depends on infra: as under Flux it looks again after --requeue-dependency, then fails on its path
        gitops_repo.assert_all_ready(timeout=50)
    message = str(caught.value)
    assert f"not every Flux object of repository {gitops_repo.name} became Ready" in message
    assert f"Kustomization/flux-system/{namespace}-apps: Ready=False" in message and "missing" in message
    assert f"  Kustomization/flux-system/{namespace}-infra:" not in message  # the healthy ones are not listed
    assert "(waiting cannot help: a retry of this revision fails the same way" in message, "failed before the timeout"
    assert "      event: Warning ArtifactFailed: kustomization path not found" in message, "its last events are shown"
    # Nothing of the bootstrap folder was pushed.
    assert gitops_repo.push_folder(folder, exclude=("clusters/*/flux-system",)) == gitops_repo.head


def test_kustomizations_of_an_earlier_repository_are_not_judged(sandbox: SandboxHandle,
                                                                sandbox_apply_repo: Callable[..., GitOpsRepo],
                                                                tmp_path: Path) -> None:
    """Leftovers of an earlier test that followed a source of the same name — one still Terminating, one left
    behind and failing — are not this repository's: the check passes on what it pushed."""
    from sandbox.reconciler import ops

    kube = sandbox.kube
    names = [f"leftover-{secrets.token_hex(3)}" for _ in range(2)]
    for name in names:
        manifest = ops.kustomization_manifest(name, "flux-system", source="GitRepository/flux-system",
                                              path="./missing", interval="10m", prune=False, wait=False,
                                              target_namespace=None, depends_on=[], timeout=None)
        manifest["metadata"]["finalizers"] = ["test.gitops-sandbox/hold"]
        kube.apply(manifest, field_manager="test")
    kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", names[0], "flux-system")  # held: Terminating
    try:
        namespace = f"own-{secrets.token_hex(3)}"
        repository = sandbox_apply_repo(own_repo(tmp_path / "repo", namespace), path="./clusters/sandbox",
                                        source_name="flux-system", exclude=("clusters/*/flux-system",), timeout=60)
        ready = repository.assert_all_ready(timeout=5)
        assert not any(name in label for label in ready for name in names)
    finally:
        for name in names:
            kube.patch(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system",
                       {"metadata": {"finalizers": None}})
            kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, "flux-system")
