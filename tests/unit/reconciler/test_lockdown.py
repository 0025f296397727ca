"""Flux's multi-tenancy lockdown flags: parsing, what --tenancy-lockdown sets, the record, upstream's ACL messages,
and the remote bases --no-remote-bases refuses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from sandbox.cli.lifecycle import _lockdown
from sandbox.errors import InputError
from sandbox.reconciler import lockdown
from sandbox.reconciler.kustomize import remote_bases
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.lockdown import Lockdown
from sandbox.reconciler_service import lockdown_in_record


def _parse(*argv: str) -> Lockdown:
    parser = argparse.ArgumentParser()
    Lockdown.add_arguments(parser)
    return Lockdown.from_arguments(parser.parse_args(list(argv)))


def test_the_process_flags_round_trip() -> None:
    assert _parse() == Lockdown() and not Lockdown().any and Lockdown().argv() == []
    flags = _parse("--default-service-account=default", "--no-cross-namespace-refs", "--no-remote-bases")
    assert flags == Lockdown.full()
    assert _parse(*flags.argv()) == flags
    assert _parse("--no-remote-bases") == Lockdown(no_remote_bases=True)


def test_a_default_service_account_must_be_a_name() -> None:
    with pytest.raises(InputError, match="'Bad_Name' is not a ServiceAccount name"):
        Lockdown("Bad_Name")


@pytest.mark.parametrize(("flags", "expected"), [
    ((False, "", False, False), Lockdown()),
    ((True, "", False, False), Lockdown("default", True, True)),
    ((True, "tenant-sa", False, False), Lockdown("tenant-sa", True, True)),
    ((False, "", True, False), Lockdown(no_cross_namespace_refs=True)),
    ((False, "ops", False, True), Lockdown("ops", no_remote_bases=True)),
])
def test_sandbox_up_flags(flags: tuple[bool, str, bool, bool], expected: Lockdown) -> None:
    assert Lockdown(**_lockdown(*flags)) == expected


def test_the_record_gives_the_flags_back_and_an_older_record_none() -> None:
    assert lockdown_in_record({"reconciler": {"lockdown": Lockdown.full().record()}}) == Lockdown.full()
    assert lockdown_in_record({"reconciler": {}}) == Lockdown()
    assert lockdown.of({}) == Lockdown() and lockdown.of({lockdown.SERVICE: Lockdown.full()}) == Lockdown.full()


def test_upstreams_access_denied_messages() -> None:
    assert lockdown.cross_namespace_kustomization("GitRepository", "flux-system", "platform") == \
        "can't access 'GitRepository/flux-system/platform', cross-namespace references have been blocked"
    assert lockdown.cross_namespace_helmrelease("OCIRepository", "flux-system", "charts") == \
        "cross-namespace references are not allowed: cannot access OCIRepository flux-system/charts"


def _kustomization(directory: Path, *resources: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(yaml.safe_dump({"resources": list(resources)}))


def test_remote_bases_are_found_through_local_directories_only(tmp_path: Path) -> None:
    _kustomization(tmp_path / "apps", "base", "cm.yaml")
    (tmp_path / "apps" / "cm.yaml").write_text("kind: ConfigMap\n")
    _kustomization(tmp_path / "apps" / "base", "github.com/org/repo//deploy?ref=v1")
    _kustomization(tmp_path / "unrelated", "https://example.com/x.yaml")
    assert remote_bases.find(tmp_path / "apps", tmp_path) == [("apps/base/kustomization.yaml",
                                                              "github.com/org/repo//deploy?ref=v1")]
    with pytest.raises(BuildError, match=r"accumulating resources from 'github.com/org/repo//deploy\?ref=v1' "
                                         r"\(apps/base/kustomization.yaml\)"):
        remote_bases.refuse(tmp_path / "apps", tmp_path)
    _kustomization(tmp_path / "plain", "cm.yaml")
    remote_bases.refuse(tmp_path / "plain", tmp_path)  # nothing remote: no error


@pytest.mark.parametrize(("entry", "remote"), [
    ("https://github.com/org/repo//deploy?ref=v1", True), ("github.com/org/repo/deploy", True),
    ("git@github.com:org/repo.git", True), ("ssh://git@host/repo", True), ("../base", False), ("cm.yaml", False),
])
def test_what_looks_remote(entry: str, remote: bool) -> None:
    assert remote_bases.looks_remote(entry) is remote
