"""The tofu/provider cache: mirror layout, CLI configuration, cache hits, which binary runs modules."""

from __future__ import annotations

import json
from pathlib import Path

import hcl2
import pytest

from sandbox import terraform

OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SANDBOX_TOFU", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    return tmp_path / "cache"


def test_provider_laid_out_as_an_unpacked_filesystem_mirror_under_both_hosts(cache: Path) -> None:
    provider = terraform.Provider("gavinbunney", "kubectl", "1.19.0",
                                  "github.com/gavinbunney/terraform-provider-kubectl")
    paths = terraform.provider_paths(provider)
    arch = terraform.platform_dir()
    assert [p.relative_to(cache / "terraform" / "mirror").as_posix() for p in paths] == [
        f"registry.opentofu.org/gavinbunney/kubectl/1.19.0/{arch}/terraform-provider-kubectl_v1.19.0",
        f"registry.terraform.io/gavinbunney/kubectl/1.19.0/{arch}/terraform-provider-kubectl_v1.19.0",
    ]


def test_cli_config_is_hcl_pointing_the_built_providers_at_the_mirror(tmp_path: Path) -> None:
    text = terraform.cli_config(tmp_path / "mirror")
    parsed = hcl2.loads(text, serialization_options=OPTIONS)
    installation = parsed["provider_installation"][0]
    mirror = installation["filesystem_mirror"][0]
    assert mirror["path"] == str(tmp_path / "mirror")
    expected = [f"{host}/{p.source}" for p in terraform.PROVIDERS for host in terraform.REGISTRY_HOSTS]
    assert mirror["include"] == expected
    assert installation["direct"][0]["exclude"] == expected  # never fetched from the registry instead


def test_build_tofu_is_a_cache_hit_when_the_recipe_matches(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    def fake_build(module: str, version: str, package: str, target: Path, ldflags: str, progress: object) -> None:
        calls.append((module, package))
        target.write_text("#!/bin/sh\n")

    monkeypatch.setattr(terraform, "_build_in_module", fake_build)
    first = terraform.build_tofu(lambda phase, detail: None)
    assert calls == [(terraform.TOFU_MODULE, "./cmd/tofu")]
    assert json.loads((first.parent / terraform.STAMP).read_text())["version"] == terraform.TOFU_VERSION
    assert terraform.build_tofu(lambda phase, detail: None) == first
    assert len(calls) == 1  # second run: the cache
    (first.parent / terraform.STAMP).write_text(json.dumps({"version": "v1.10.6"}))
    terraform.build_tofu(lambda phase, detail: None)
    assert len(calls) == 2  # another recipe's build is not reused


def test_ensure_writes_the_cli_config_and_mirror(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terraform, "_build_in_module",
                        lambda module, version, package, target, ldflags, progress: target.write_text("x"))
    assert not terraform.mirror_complete()
    installed = terraform.ensure(lambda phase, detail: None)
    assert terraform.mirror_complete()
    assert installed.cli_config.read_text() == terraform.cli_config(terraform.mirror_dir())
    assert all(p.read_text() == "x" for paths in installed.providers.values() for p in paths)
    assert terraform.run_env()["TF_CLI_CONFIG_FILE"] == str(installed.cli_config)


def test_run_env_without_a_mirror_leaves_the_cli_config_alone(cache: Path) -> None:
    assert "TF_CLI_CONFIG_FILE" not in terraform.run_env()


def test_binary_precedence_explicit_cache_tofu_terraform(cache: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert terraform.find_binary() is None
    path_dir = tmp_path / "path"
    path_dir.mkdir()
    for name in ("terraform", "tofu"):
        (path_dir / name).write_text("#!/bin/sh\n")
        (path_dir / name).chmod(0o755)
        found = terraform.find_binary()
        assert found == terraform.Binary(path_dir / name, "PATH")  # tofu, once there, before terraform
    terraform.tofu_path().parent.mkdir(parents=True)
    terraform.tofu_path().write_text("")
    assert terraform.find_binary() == terraform.Binary(terraform.tofu_path(), "cache")
    monkeypatch.setenv("SANDBOX_TOFU", "/opt/tofu")
    assert terraform.find_binary() == terraform.Binary(Path("/opt/tofu"), "SANDBOX_TOFU")


def test_a_tofu_build_failure_keeps_the_provider_mirror(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_build(module: str, version: str, package: str, target: Path, ldflags: str, progress: object) -> None:
        if module == terraform.TOFU_MODULE:
            raise terraform.SandboxError("the Go module proxy does not serve example.com/dep@v1.0.0")
        target.write_text("x")

    monkeypatch.setattr(terraform, "_build_in_module", fake_build)
    installed = terraform.ensure(lambda phase, detail: None)
    assert installed.tofu is None and "example.com/dep@v1.0.0" in installed.tofu_error
    assert terraform.mirror_complete()


@pytest.mark.parametrize("tofu_builds", [True, False])
def test_setup_terraform_reports_the_mirror_and_tofu_or_why_not(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                                tofu_builds: bool) -> None:
    from click.testing import CliRunner

    from sandbox.cli import setup as setup_cli
    from sandbox.cli.main import cli

    monkeypatch.setattr(setup_cli, "_control_plane", lambda source, version, force: None)
    monkeypatch.setattr(setup_cli, "_helpers", lambda force: None)

    def fake_build(module: str, version: str, package: str, target: Path, ldflags: str, progress: object) -> None:
        if module == terraform.TOFU_MODULE and not tofu_builds:
            raise terraform.SandboxError("go build: undefined: something")
        target.write_text("x")

    monkeypatch.setattr(terraform, "_build_in_module", fake_build)
    result = CliRunner().invoke(cli, ["setup", "--terraform"])
    assert f"TF_CLI_CONFIG_FILE={terraform.cli_config_path()}" in result.output.replace("\n", "")
    assert terraform.mirror_complete()
    if tofu_builds:
        assert result.exit_code == 0 and terraform.tofu_path().is_file()
    else:
        assert result.exit_code != 0 and "undefined: something" in result.output
