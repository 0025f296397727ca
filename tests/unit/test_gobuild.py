"""The wrapper module that builds a program from its published Go module (pure parts: go.mod, tools.go, env)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox import gobuild
from sandbox.errors import InputError

KUBERNETES_GO_MOD: dict[str, Any] = {
    "Module": {"Path": "k8s.io/kubernetes"},
    "Go": "1.26.0",
    "Require": [
        {"Path": "k8s.io/api", "Version": "v0.0.0"},
        {"Path": "k8s.io/client-go", "Version": "v0.0.0"},
        {"Path": "k8s.io/kube-openapi", "Version": "v0.0.0-20260721132016-d427ff9ee9ad"},
        {"Path": "go.etcd.io/etcd/server/v3", "Version": "v3.7.0"},
    ],
    "Replace": [
        {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
        {"Old": {"Path": "k8s.io/client-go"}, "New": {"Path": "./staging/src/k8s.io/client-go"}},
        # replaced but never required (sample code): nothing of it is built, so it is left out
        {"Old": {"Path": "k8s.io/sample-cli-plugin"}, "New": {"Path": "./staging/src/k8s.io/sample-cli-plugin"}},
    ],
}

FLUX_CONTROLLER_GO_MOD: dict[str, Any] = {
    "Go": "1.26.0",
    "Require": [{"Path": "github.com/fluxcd/kustomize-controller/api", "Version": "v1.9.5"}],
    "Replace": [
        {"Old": {"Path": "github.com/fluxcd/kustomize-controller/api"}, "New": {"Path": "./api"}},
        {"Old": {"Path": "github.com/opencontainers/go-digest"},
         "New": {"Path": "github.com/opencontainers/go-digest", "Version": "v1.0.1-0.20220411205349-bde1400a84be"}},
        {"Old": {"Path": "gopkg.in/yaml.v3", "Version": "v3.0.0"},
         "New": {"Path": "gopkg.in/yaml.v3", "Version": "v3.0.1"}},
    ],
    "Exclude": [{"Path": "github.com/example/broken", "Version": "v1.2.3"}],
}


def kubernetes_recipe() -> gobuild.Recipe:
    return gobuild.Recipe("k8s.io/kubernetes", "v1.37.2",
                          (gobuild.Program("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"),))


def test_staging_modules_are_replaced_by_their_published_versions() -> None:
    text = gobuild.wrapper_go_mod(kubernetes_recipe(), KUBERNETES_GO_MOD, name="example.test/wrapper")
    assert "module example.test/wrapper" in text
    assert "go 1.26.0" in text
    assert "\tk8s.io/kubernetes v1.37.2" in text
    assert "\tk8s.io/api => k8s.io/api v0.37.2" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.37.2" in text
    assert "sample-cli-plugin" not in text
    assert "./staging" not in text


def test_local_replacements_take_the_version_the_module_requires_and_others_are_carried_over() -> None:
    recipe = gobuild.Recipe("github.com/fluxcd/kustomize-controller", "v1.9.5",
                            (gobuild.Program("kustomize-controller", "github.com/fluxcd/kustomize-controller"),))
    text = gobuild.wrapper_go_mod(recipe, FLUX_CONTROLLER_GO_MOD, name="example.test/wrapper")
    assert ("\tgithub.com/fluxcd/kustomize-controller/api => github.com/fluxcd/kustomize-controller/api v1.9.5"
            in text)
    assert ("\tgithub.com/opencontainers/go-digest => github.com/opencontainers/go-digest "
            "v1.0.1-0.20220411205349-bde1400a84be") in text
    assert "\tgopkg.in/yaml.v3 v3.0.0 => gopkg.in/yaml.v3 v3.0.1" in text
    assert "exclude (\n\tgithub.com/example/broken v1.2.3\n)" in text
    assert "./api" not in text


def test_extra_requirements_are_written() -> None:
    recipe = gobuild.Recipe("go.etcd.io/etcd/server/v3", "v3.7.0", (gobuild.Program("etcd", "."),),
                            extra_requires={"example.test/extra": "v1.0.0"})
    text = gobuild.wrapper_go_mod(recipe, {"Go": "1.25.0"}, name="example.test/wrapper")
    assert "\tgo.etcd.io/etcd/server/v3 v3.7.0\n\texample.test/extra v1.0.0" in text
    assert "replace" not in text and "go 1.25.0" in text


@pytest.mark.parametrize(("version", "expected"), [("v1.37.2", "v0.37.2"), ("v1.34.0", "v0.34.0"),
                                                   ("v1.36.0-rc.1", "v0.36.0-rc.1")])
def test_staging_version(version: str, expected: str) -> None:
    assert gobuild.staging_version(version) == expected


def test_staging_version_rejects_what_is_not_a_kubernetes_version() -> None:
    with pytest.raises(InputError, match=r"v1\.37\.2"):
        gobuild.staging_version("1.37")


def test_tools_go_imports_the_main_packages_behind_a_build_tag() -> None:
    text = gobuild.tools_go(kubernetes_recipe())
    assert text.startswith("//go:build tools\n")
    assert '\t_ "k8s.io/kubernetes/cmd/kube-apiserver"' in text
    own_main = gobuild.Recipe("go.etcd.io/etcd/server/v3", "v3.7.0", (gobuild.Program("etcd", "."),))
    assert gobuild.tools_go(own_main) == ""


def test_go_caches_live_under_the_sandbox_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GOTOOLCHAIN", raising=False)
    env = gobuild.go_env()
    assert env["GOMODCACHE"] == str(tmp_path / "go" / "mod")
    assert env["GOCACHE"] == str(tmp_path / "go" / "build-cache")
    assert env["CGO_ENABLED"] == "0" and env["GOTOOLCHAIN"] == "auto"
    monkeypatch.setenv("GOTOOLCHAIN", "go1.27.3")
    assert gobuild.go_env()["GOTOOLCHAIN"] == "go1.27.3", "a toolchain the user exported is kept"


def test_a_recipe_that_generates_files_builds_a_local_copy_of_the_module() -> None:
    recipe = gobuild.Recipe("github.com/fluxcd/flux2/v2", "v2.9.5",
                            (gobuild.Program("flux", "github.com/fluxcd/flux2/v2/cmd/flux"),),
                            generate=lambda source: None)
    text = gobuild.wrapper_go_mod(recipe, {"Go": "1.26.0"}, name="example.test/wrapper")
    assert f"\tgithub.com/fluxcd/flux2/v2 => ./{gobuild.LOCAL_COPY}" in text
    assert "\tgithub.com/fluxcd/flux2/v2 v2.9.5" in text, "still required at the version, for go mod tidy"


def test_refused_module_versions_are_read_from_go_output() -> None:
    output = "\n".join([
        "go: example imports",
        "        github.com/fluxcd/pkg/artifact/server: github.com/fluxcd/pkg/artifact@v0.18.3: reading "
        "https://proxy.example/github.com/fluxcd/pkg/artifact/@v/v0.18.3.zip: 403 Forbidden",
        "        server response: This module version is not available.",
        "go: github.com/x/y@v1.2.3-0.20240101000000-abcdef123456: reading "
        "https://proxy.example/github.com/x/y/@v/v1.2.3-0.20240101000000-abcdef123456.info: 404 Not Found",
        "go: downloading github.com/fine/module v1.0.0"])
    assert gobuild.not_served(output) == {"github.com/fluxcd/pkg/artifact": "v0.18.3",
                                          "github.com/x/y": "v1.2.3-0.20240101000000-abcdef123456"}


@pytest.mark.parametrize(("required", "listed", "expected"), [
    ("v0.18.3", ["v0.3.0", "v0.5.0", "v0.8.0", "v0.18.0", "v0.18.1"], ["v0.18.1", "v0.18.0", "v0.8.0", "v0.5.0",
                                                                       "v0.3.0"]),
    ("v1.4.0", ["v1.3.9", "v1.4.1", "v2.0.0", "v1.4.0-rc.1"], ["v1.3.9"]),  # never newer, no pre-release, no v2
    ("v1.0.0", ["v1.0.1"], []),
])
def test_substitutes_are_older_versions_of_the_same_major_nearest_first(required: str, listed: list[str],
                                                                       expected: list[str]) -> None:
    assert gobuild.substitute_candidates(required, listed) == expected
