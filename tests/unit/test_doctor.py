"""sandbox doctor's Docker-side checks: pure logic with their inputs given, and the command's exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox import binaries, config, terraform
from sandbox import doctor as checks
from sandbox.cli.main import cli

HOST = "unix:///var/run/docker.sock"


def test_docker_engine_answering_is_ok_with_its_version() -> None:
    row = checks.docker_check({"version": "27.3.1", "podman": False, "rootless": False}, "", HOST)
    assert (row.status, row.version, row.where, row.todo) == (checks.OK, "27.3.1", HOST, "")


def test_docker_engine_absent_says_how_to_get_it_and_is_not_required() -> None:
    row = checks.docker_check(None, "Docker is not available: no engine socket", HOST)
    assert row.status == checks.MISSING and not row.required
    assert "no engine socket" in row.todo and "docker.io" in row.todo


@pytest.mark.parametrize(("facts", "source", "advice"), [
    ({"version": "5.2.0", "podman": True, "rootless": True}, "Podman", "KIND_EXPERIMENTAL_PROVIDER=podman"),
    ({"version": "27.0.0", "podman": False, "rootless": True}, "rootless", "cgroup v2"),
])
def test_podman_and_rootless_warn_with_the_reaper_setting(facts: dict[str, object], source: str,
                                                          advice: str) -> None:
    row = checks.docker_check(facts, "", HOST)
    assert (row.status, row.source) == (checks.WARN, source)
    assert advice in row.todo and "TESTCONTAINERS_RYUK_DISABLED=true" in row.todo


def test_kind_found_or_how_to_get_it() -> None:
    found = checks.kind_check(Path("/opt/kind"), "SANDBOX_KIND", "0.33.0")
    assert (found.status, found.where, found.source, found.version) == (checks.OK, "/opt/kind", "SANDBOX_KIND",
                                                                        "0.33.0")
    missing = checks.kind_check(None, "", "")
    assert missing.status == checks.MISSING and "sandbox setup --kind" in missing.todo


def test_node_image_is_the_contract_tag_unless_overridden() -> None:
    assert checks.node_image_name({}) == f"sandbox.local/kind-node:{config.DEFAULT_K8S_VERSION}"
    assert checks.node_image_name({"SANDBOX_KIND_NODE_IMAGE": "kindest/node:v1.33.1"}) == "kindest/node:v1.33.1"


def test_node_image_present_absent_or_unknown() -> None:
    image = "sandbox.local/kind-node:v1.37.2"
    assert checks.node_image_check(image, True).status == checks.OK
    absent = checks.node_image_check(image, False)
    assert absent.status == checks.MISSING and image in absent.todo and "SANDBOX_KIND_NODE_IMAGE" in absent.todo
    unknown = checks.node_image_check(image, None, "Docker is not usable: permission denied")
    assert unknown.status == checks.MISSING and "permission denied" in unknown.todo


@pytest.mark.parametrize(("watches", "instances", "status"), [
    (524288, 512, checks.OK),
    (1048576, 8192, checks.OK),
    (8192, 512, checks.WARN),   # Debian's default watches
    (524288, 128, checks.WARN),  # the common default instances
])
def test_inotify_limits_below_kinds_needs_warn_with_the_sysctl(watches: int, instances: int, status: str) -> None:
    row = checks.inotify_check(watches, instances)
    assert row.status == status and row.version == f"watches={watches} instances={instances}"
    if status == checks.WARN:
        assert ("sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512"
                in row.todo)
    assert not row.required and row.ok


def test_inotify_unreadable_warns() -> None:
    assert checks.inotify_check(None, 512).status == checks.WARN


def test_gitea_image_explicit_or_any_local_tag() -> None:
    assert checks.gitea_check(None, ["sandbox.local/gitea:1.27.3"], None).where == "sandbox.local/gitea:1.27.3"
    assert checks.gitea_check(None, [], None).status == checks.MISSING
    explicit = checks.gitea_check("gitea/gitea:1.24", [], False)
    assert explicit.status == checks.MISSING and "SANDBOX_GITEA_IMAGE=gitea/gitea:1.24" in explicit.todo
    assert checks.gitea_check("gitea/gitea:1.24", [], True).source == "SANDBOX_GITEA_IMAGE"
    assert checks.gitea_check(None, None, None, "no engine").status == checks.MISSING


def test_tofu_with_and_without_the_provider_mirror() -> None:
    binary = terraform.Binary(Path("/cache/terraform/bin/tofu"), "cache")
    assert checks.terraform_check(binary, "1.12.6", True).status == checks.OK
    no_mirror = checks.terraform_check(binary, "1.12.6", False)
    assert no_mirror.status == checks.WARN and "sandbox setup --terraform" in no_mirror.todo
    assert checks.terraform_check(None, "", False).status == checks.MISSING


def _binary_rows(missing_required: bool) -> list[binaries.DoctorRow]:
    return [
        binaries.DoctorRow("kube-apiserver", True, "" if missing_required else "/c/kube-apiserver",
                           "" if missing_required else "cache", "", "`sandbox setup`"),
        binaries.DoctorRow("kind", False, "", "", "", "a kind release binary"),
    ]


@pytest.mark.parametrize("missing_required", [False, True])
def test_cli_fails_only_when_something_required_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                           missing_required: bool) -> None:
    monkeypatch.setattr(checks.binaries, "doctor", lambda bin_dir=None: _binary_rows(missing_required))
    monkeypatch.setattr(checks, "gather", lambda: [
        checks.docker_check(None, "no engine socket", HOST),
        checks.kind_check(None, "", ""),
        checks.inotify_check(8192, 128),
    ])
    result = CliRunner().invoke(cli, ["doctor", "-o", "json"])
    rows = json.loads(result.stdout[result.stdout.index("["):])
    names = [r["name"] for r in rows]
    assert names == ["kube-apiserver", "docker engine", "kind", "inotify limits"]  # kind's row: the fuller one
    assert {r["name"]: r["status"] for r in rows}["inotify limits"] == "warn"
    assert result.exit_code == (1 if missing_required else 0), result.output
