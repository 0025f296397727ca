"""The writing side of the mirror map (``sandbox.mirrors``): the file is private and written whole, names of the
mirror repository and registry path, offline from ``sandbox up --offline`` before the reconciler starts, and the
CLI's help."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox import mirrors
from sandbox.cli.main import cli
from sandbox.config import UpOptions
from sandbox.errors import InputError, NotFound, SandboxError
from sandbox.reconciler.source.mirrors import GitMirror, MirrorMap, MirrorMapFile, normalise_git_url
from sandbox.reconciler_service import ReconcilerService
from sandbox.state import StateDir
from tests.unit.fake_pytest_config import FakeConfig as FakeSessionConfig


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    made = StateDir("mirrors", root=tmp_path)
    made.create()
    return made


def test_the_map_file_is_0600_and_read_back(state: StateDir) -> None:
    url = "https://git.example.com/org/fleet"
    written = MirrorMap(git={normalise_git_url(url): GitMirror(url, "http://127.0.0.1:1/sandbox/x", "x")})
    mirrors.save(state, written)
    path = mirrors.map_path(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert mirrors.load(state) == written
    assert not list(path.parent.glob(".mirrors.json.*"))  # no temporary file left behind


def test_offline_is_an_option_of_the_map_seen_by_a_running_reader(state: StateDir) -> None:
    reader = MirrorMapFile(mirrors.map_path(state))
    assert reader.current().offline is False
    mirrors.set_offline(state, True)
    assert reader.current().offline is True
    mirrors.set_offline(state, False)
    assert reader.current().offline is False


def test_up_offline_writes_the_map_before_the_reconciler_starts(state: StateDir) -> None:
    plan = ReconcilerService().plan(state, UpOptions(name=state.name, offline=True))
    argv = plan.components[0].argv
    assert argv[argv.index("--mirror-map") + 1] == str(mirrors.map_path(state))
    assert mirrors.load(state).offline is True
    assert stat.S_IMODE(mirrors.map_path(state).stat().st_mode) == 0o600


def test_not_offline_unless_asked(state: StateDir) -> None:
    ReconcilerService().plan(state, UpOptions(name=state.name))
    assert not mirrors.map_path(state).exists()


@pytest.mark.parametrize(("url", "name"), [
    ("https://git.example.com/org/fleet.git", "mirror-git-example-com-org-fleet"),
    ("git@GIT.example.com:org/fleet", "mirror-git-example-com-org-fleet"),
    ("https://git.example.com:8443/a_b/c", "mirror-git-example-com-8443-a_b-c"),
])
def test_repository_names(url: str, name: str) -> None:
    assert mirrors.repository_name_for(url) == name


def test_long_repository_names_end_in_a_hash() -> None:
    name = mirrors.repository_name_for("https://git.example.com/" + "/".join(["segment"] * 20))
    assert len(name) <= 90 and name.startswith("mirror-git-example-com-segment")


@pytest.mark.parametrize(("prefix", "path"), [
    ("oci://registry.example.com/org", "mirrors/registry.example.com/org"),
    ("oci://Registry.example.com:5000/Org/App:v1", "mirrors/registry.example.com-5000/org/app"),
])
def test_registry_paths(prefix: str, path: str) -> None:
    assert mirrors.registry_path_for(prefix) == path


def test_removing_what_is_not_mirrored_says_so(state: StateDir, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("SANDBOX_STATE_HOME", str(tmp_path))
    with pytest.raises(NotFound, match="is not mirrored"):
        mirrors.remove(state.name, "https://git.example.com/org/fleet")


def test_a_map_needs_a_sandbox(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="is not up"):
        mirrors.set_offline(StateDir("absent", root=tmp_path), True)


def test_git_needs_exactly_one_source() -> None:
    with pytest.raises(InputError, match="either --from DIR"):
        mirrors.mirror_git("any", "https://git.example.com/org/fleet")


@pytest.mark.parametrize("command", [["mirror"], ["mirror", "git"], ["mirror", "oci"], ["mirror", "helm"],
                                     ["mirror", "list"], ["mirror", "remove"], ["mirror", "offline"], ["up"]])
def test_help_has_examples(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Example" in result.output
    if command == ["up"]:
        assert "--offline" in result.output


def FakeConfig(flag: bool | None, ini: bool) -> FakeSessionConfig:  # noqa: N802
    return FakeSessionConfig({"--sandbox-offline": flag}, {"sandbox_offline": ini})


@pytest.mark.parametrize(("flag", "ini", "offline"), [(None, False, False), (True, False, True), (None, True, True)],
                         ids=["neither", "flag", "ini"])
def test_the_session_sandbox_starts_offline_from_the_flag_or_the_ini(flag: bool | None, ini: bool,
                                                                     offline: bool) -> None:
    from sandbox.pytest_plugin import session_options

    assert session_options(FakeConfig(flag, ini)).offline is offline  # type: ignore[arg-type]
