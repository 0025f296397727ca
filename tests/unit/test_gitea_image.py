"""The local Gitea image's recipe and rootfs (pure parts), the image choice, and gobuild's build-as-main-module path."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from sandbox import gobuild
from sandbox.git import gitea, gitea_image
from sandbox.tools import go as gotool
from sandbox.tools import rootfs


def test_image_name_and_recipe() -> None:
    assert gitea_image.image_name("v1.27.3") == "sandbox.local/gitea:1.27.3"
    made = gitea_image.recipe("v1.27.3")
    assert made.as_main and made.module == "code.gitea.io/gitea" and made.version == "v1.27.3"
    assert made.tags == ("sqlite", "sqlite_unlock_notify")
    assert [p.package for p in made.programs] == ["."]
    # /api/v1/version answers what main.Version says
    assert "-X main.Version=1.27.3" in made.ldflags


def _module(tmp_path: Path) -> Path:
    module = tmp_path / "module"
    for rel, text in {"docker/rootless/usr/local/bin/docker-entrypoint.sh": "#!/bin/sh\n",
                      "docker/rootless/etc/templates/app.ini": "APP_NAME = $APP_NAME\n",
                      "templates/base/head.tmpl": "<head>",
                      "options/license/MIT": "MIT",
                      "public/img/logo.svg": "<svg/>"}.items():
        (module / rel).parent.mkdir(parents=True, exist_ok=True)
        (module / rel).write_text(text)
        (module / rel).chmod(0o444)  # read-only, as in the module cache
    return module


def test_rootfs_holds_the_binary_scripts_assets_programs_and_user(tmp_path: Path) -> None:
    binary = tmp_path / "gitea"
    binary.write_bytes(b"ELF")
    git = tmp_path / "git"
    git.write_bytes(b"git")
    libc = tmp_path / "lib" / "libc.so.6"
    libc.parent.mkdir()
    libc.write_bytes(b"libc")
    inputs = gitea_image.Inputs(binary, _module(tmp_path), {"/usr/bin/git": git}, [libc], None)
    files = gitea_image.rootfs_files(inputs)
    assert files["/app/gitea/gitea"] == (binary, 0o755)
    assert files["/usr/local/bin/docker-entrypoint.sh"][1] == 0o755
    assert files["/etc/templates/app.ini"][1] == 0o644
    for asset in ("templates/base/head.tmpl", "options/license/MIT", "public/img/logo.svg"):
        assert f"/usr/share/gitea/{asset}" in files
    assert files["/usr/bin/git"] == (git, 0o755) and str(libc) in files
    passwd = files["/etc/passwd"][0]
    assert isinstance(passwd, bytes) and b"git:x:1000:1000:" in passwd


def test_work_and_config_directories_belong_to_the_image_user(tmp_path: Path) -> None:
    tarball = tmp_path / "rootfs.tar"
    rootfs.write(tarball, {"/etc/passwd": (b"", 0o644)}, directories={"/var/lib/gitea": 0o755},
                 owners={"/var/lib/gitea": (1000, 1000)})
    with tarfile.open(tarball) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert (members["var/lib/gitea"].uid, members["var/lib/gitea"].gid) == (1000, 1000)
    assert members["var/lib"].uid == 0 and members["etc"].uid == 0


def test_docker_changes_mirror_the_rootless_image() -> None:
    changes = gitea_image.docker_changes("v1.27.3")
    assert "USER 1000:1000" in changes
    assert 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' in changes
    assert "ENV GITEA_APP_INI=/etc/gitea/app.ini" in changes
    assert "ENV GITEA__server__STATIC_ROOT_PATH=/usr/share/gitea" in changes


def test_cached_binary_needs_the_current_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path))
    assert gitea_image.cached_binary("v1.27.3") is None
    target = gitea_image.cache_dir("v1.27.3")
    target.mkdir(parents=True)
    (target / "gitea").write_bytes(b"ELF")
    (target / "recipe.json").write_text('{"older": "recipe"}')
    assert gitea_image.cached_binary("v1.27.3") is None
    (target / "recipe.json").write_text(gitea_image._stamp("v1.27.3"))
    assert gitea_image.cached_binary("v1.27.3") == target / "gitea"


def test_configured_image_prefers_the_variable_then_the_local_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_GITEA_IMAGE", "mine/gitea:1")
    monkeypatch.setattr(gitea_image, "present", lambda version=gitea_image.VERSION: True)
    assert gitea.configured_image() == "mine/gitea:1"
    monkeypatch.delenv("SANDBOX_GITEA_IMAGE")
    assert gitea.configured_image() == gitea_image.image_name()
    monkeypatch.setattr(gitea_image, "present", lambda version=gitea_image.VERSION: False)
    assert gitea.configured_image() == gitea.DEFAULT_IMAGE


def test_webhooks_may_reach_the_host_gateway() -> None:
    allowed = gitea.container_env(3000)["GITEA__webhook__ALLOWED_HOST_LIST"].split(",")
    assert {"loopback", "private", "host.docker.internal"} <= set(allowed)


def test_gobuild_builds_a_module_as_the_main_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """as_main: the module's own go.mod and go.sum in a writable copy, no wrapper, no tidy, tags passed."""
    module = tmp_path / "modcache"
    module.mkdir()
    (module / "go.mod").write_text("module gitea.dev\n\ngo 1.26.4\n")
    (module / "go.sum").write_text("example.com/x v1.0.0 h1:abc=\n")
    (module / "go.mod").chmod(0o444)
    upstream = gobuild.Upstream(Path("go"), {}, gotool.ModuleInfo("code.gitea.io/gitea", "v1.27.3", module,
                                                                 module / "go.mod"), {"Go": "1.26.4"})
    monkeypatch.setattr(gobuild, "fetch", lambda *_: upstream)
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(gotool, "mod_tidy", lambda *a, **k: calls.append(("tidy", a)))

    def fake_build(go: Path, module_dir: Path, package: str, output: Path, **kwargs: Any) -> None:
        calls.append(("build", (module_dir, package, kwargs["tags"])))
        assert (module_dir / "go.sum").read_text().startswith("example.com/x")
        assert (module_dir / "go.mod").read_text().startswith("module gitea.dev")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(b"ELF")

    monkeypatch.setattr(gotool, "build", fake_build)
    recipe = gobuild.Recipe("code.gitea.io/gitea", "v1.27.3", (gobuild.Program("gitea", "."),), as_main=True,
                            tags=("sqlite",))
    built = gobuild.build(recipe, tmp_path / "out", lambda *_: None, work_root=tmp_path / "work")
    copy = tmp_path / "work" / recipe.key / gobuild.LOCAL_COPY
    assert calls == [("build", (copy, ".", ("sqlite",)))]
    assert built.binaries == [tmp_path / "out" / "gitea"] and not built.substitutions
    assert not (tmp_path / "work" / recipe.key / "go.mod").exists()  # no wrapper module


def test_a_merge_step_finds_an_agit_pull_request_as_gitea_1_27_reports_it() -> None:
    """Gitea 1.27 gives an AGit pull request head label "" and ref refs/pull/N/head: its head commit names it."""
    from sandbox.scenario import gitsteps

    pull = {"number": 1, "title": "Image updates", "state": "open", "base": {"ref": "main"},
            "head": {"label": "", "ref": "refs/pull/1/head", "sha": "c0ffee"}}
    assert gitsteps.matches(pull, base="main", head="flux-image-updates", title=None, head_sha="c0ffee")
    assert not gitsteps.matches(pull, base="main", head="flux-image-updates", title=None, head_sha="beef")
    assert not gitsteps.matches(pull, base="main", head="flux-image-updates", title=None)


def test_auto_does_not_switch_to_the_local_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the image must not change what a plain `sandbox up` (--git auto) starts; --git gitea runs it."""
    from sandbox.git import service

    monkeypatch.delenv("SANDBOX_GITEA_IMAGE", raising=False)
    monkeypatch.setattr(gitea_image, "present", lambda version=gitea_image.VERSION: True)
    asked: list[str] = []

    def usable(image: str) -> tuple[bool, str]:
        asked.append(image)
        return image == gitea_image.image_name(), ""

    monkeypatch.setattr(gitea, "docker_usable", usable)
    assert service.choose_backend("auto", gitea.configured_image()) == "local"
    assert asked == [gitea.DEFAULT_IMAGE]
    assert service.choose_backend("gitea", gitea.configured_image()) == "gitea"
    monkeypatch.setenv("SANDBOX_GITEA_IMAGE", gitea_image.image_name())
    assert service.choose_backend("auto", gitea.configured_image()) == "gitea"
