"""Stand-ins for the scenarios' public images: which images the scenarios run, which of them need one (the engine
neither has nor can pull them; a real image is never replaced), and what a stand-in holds."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from sandbox.errors import InputError
from sandbox.kindnode import standins
from sandbox.registry.oci import RUN_FOREVER
from sandbox.scenario.catalog import BUILTIN
from sandbox.tools import rootfs


def test_the_builtin_scenarios_images_are_found() -> None:
    images = standins.scenario_images([BUILTIN])
    # manifests (nginx, postgres), the demo chart's defaults (appVersion per chart version), its helm test hook
    assert {"nginx:1.25", "postgres:16", "nginx:1.25.5", "nginx:1.27.3", "busybox:1.36"} <= set(images)
    assert not [image for image in images if "$" in image or "{" in image or "/app" in image]
    assert images == sorted(set(images))


def test_templated_and_sandbox_registry_references_are_not_images_to_stand_in(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "web.yaml").write_text(
        "spec:\n  containers:\n"
        "    - image: ${registry}/app-${run}:1.0.0 # {\"$imagepolicy\": \"x:app\"}\n"
        "    - image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"
        "    - image: redis:7  # a cache\n"
        "    - image: 'quay.io/org/tool:v2'\n"
        "    - image: untagged\n"
        "  images: [nginx:9]\n")
    chart = tmp_path / "charts" / "web" / "1.0.0"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.0.0\nappVersion: \"2.4\"\n")
    (chart / "values.yaml").write_text("image:\n  repository: httpd\n  tag: \"\"\n")
    assert standins.scenario_images([tmp_path]) == ["httpd:2.4", "quay.io/org/tool:v2", "redis:7"]


def test_decide_keeps_real_images_and_stand_ins_and_builds_only_what_cannot_be_pulled() -> None:
    ours = {standins.LABEL: standins.VALUE, standins.LABEL_LAYOUT: standins.LAYOUT}
    engine = {"nginx:1.25": {"maintainer": "NGINX"}, "postgres:16": ours,
              "nginx:1.27.3": {standins.LABEL: standins.VALUE, standins.LABEL_LAYOUT: "1"}}
    pulls: list[str] = []

    def pull(image: str) -> str:
        pulls.append(image)
        return "" if image == "redis:7" else "Get \"https://…/v2/\": dial tcp: lookup: no such host\nmore"

    decide = standins.decide
    assert decide("nginx:1.25", engine.get, pull).action == standins.HAVE_REAL
    assert decide("postgres:16", engine.get, pull).action == standins.HAVE_STANDIN
    assert decide("nginx:1.27.3", engine.get, pull) == standins.Decision("nginx:1.27.3", standins.BUILD,
                                                                         standins.OUTDATED)
    assert decide("redis:7", engine.get, pull).action == standins.PULLED
    built = decide("busybox:1.36", engine.get, pull)
    assert (built.action, built.why) == (standins.BUILD, "Get \"https://…/v2/\": dial tcp: lookup: no such host")
    assert pulls == ["redis:7", "busybox:1.36"]  # present images are never pulled over
    assert decide("busybox:1.36", engine.get, None).action == standins.BUILD  # --no-pull


def test_a_stand_in_is_the_busybox_layer_serving_its_own_page_on_port_80(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake busybox")
    files, symlinks = standins.rootfs_files("nginx:1.25", busybox, ["wget", "httpd", "busybox", "sh"])
    tarball = tmp_path / "rootfs.tar"
    rootfs.write(tarball, files, symlinks=symlinks)
    with tarfile.open(tarball) as archive:
        members = {m.name: m for m in archive.getmembers()}
        page = archive.extractfile("usr/share/nginx/html/index.html")
        assert page is not None
        text = io.TextIOWrapper(page).read()
    assert members["bin/busybox"].mode == 0o755 and members["bin/sh"].linkname == "busybox"
    # a pod's `command: [wget, …]` (the demo chart's helm test) finds its program, as in busybox's own image
    assert members["bin/wget"].linkname == "busybox" and members["bin/httpd"].linkname == "busybox"
    assert members["bin/busybox"].isfile()
    assert "stand-in for nginx:1.25" in text and "not the real image" in text
    # each stand-in its own content, so its own image ID
    assert standins.rootfs_files("nginx:1.27.3", busybox)[0] != files
    changes = standins.changes("nginx:1.25")
    assert f"CMD {json.dumps(RUN_FOREVER)}" in changes and "EXPOSE 80" in changes
    assert (f'LABEL {standins.LABEL}=true {standins.LABEL_FOR}="nginx:1.25" {standins.LABEL_LAYOUT}='
            f'{standins.LAYOUT}') in changes


def test_build_never_replaces_a_real_image(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"x")
    monkeypatch.setattr(standins.docker, "image_labels", lambda name: {"maintainer": "NGINX"})
    monkeypatch.setattr(standins.docker, "import_rootfs", lambda *a: pytest.fail("imported over a real image"))
    with pytest.raises(InputError, match="real image"):
        standins.build("nginx:1.25", busybox)


def test_build_without_busybox_says_which_package(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="busybox-static"):
        standins.build("nginx:1.25", tmp_path / "absent")


def test_the_applets_are_read_from_busybox_list() -> None:
    from sandbox.tools import busybox

    assert busybox.parse("[\n[[\nsh\nwget\n\nnot a name\n../x\n") == ["[", "[[", "sh", "wget"]
    if standins.BUSYBOX.is_file():  # Debian's busybox-static, as the stand-ins use it
        assert {"sh", "wget", "httpd", "sleep"} <= set(busybox.applets(standins.BUSYBOX))
