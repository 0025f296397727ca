"""The registry on both backends (the distribution binary; the registry image through Docker) and the chart
repository: real pushes, tag lists, manifests, charts pulled and rendered with the Helm SDK."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import helm_python as helm
import pytest
import yaml

from sandbox import helmrepo
from sandbox.config import UpOptions
from sandbox.errors import InputError
from sandbox.helmrepo import ChartError, ChartRepoService
from sandbox.ports import free_ports
from sandbox.registry import container, oci
from sandbox.registry.base import RegistryEndpoint, endpoint_of
from sandbox.registry.service import RegistryService
from sandbox.state import StateDir
from tests.integration.helpers import running_services


def skip_unless_backend_available(backend: str) -> None:
    if backend == "container":
        ok, why = container.availability(container.image_name())
        if not ok:
            pytest.skip(f"container registry backend unavailable: {why}")


@pytest.fixture(scope="module", params=["local", "container"])
def sandbox_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A registry and a chart repository (no cluster), on each registry backend."""
    backend = request.param
    skip_unless_backend_available(backend)
    name = f"it-registry-{backend}-{os.getpid()}"
    with running_services(name, [RegistryService(), ChartRepoService()], UpOptions(name=name, registry=backend)):
        yield name


@pytest.fixture
def registry(sandbox_name: str) -> RegistryEndpoint:
    return endpoint_of(sandbox_name)


def blob(registry: RegistryEndpoint, repository: str, digest: str) -> bytes:
    with urllib.request.urlopen(f"{registry.url}/v2/{repository}/blobs/{digest}", timeout=5) as response:
        return bytes(response.read())


def test_backend_is_the_one_asked_for(sandbox_name: str, registry: RegistryEndpoint) -> None:
    assert registry.backend in sandbox_name
    assert registry.hosts == (f"127.0.0.1:{registry.port}", f"localhost:{registry.port}")


def test_push_list_tags_and_pull_manifest(registry: RegistryEndpoint) -> None:
    first = oci.push_synthetic_image(registry.host, "team/app", "v1")
    second = oci.push_synthetic_image(registry.host, "team/app", "v2")
    assert oci.list_tags(registry.host, "team/app") == ["v1", "v2"]
    assert first.reference == f"{registry.host}/team/app:v1" and first.digest != second.digest

    image = oci.synthetic_image("team/app", "v1")
    manifest = oci.get_manifest(registry.host, "team/app", "v1")
    assert manifest == image.manifest()
    assert oci.resolve_digest(registry.host, "team/app", "v1") == first.digest
    # The digest is the manifest's own: fetch it by digest, and every blob it names, and check them.
    assert oci.get_manifest(registry.host, "team/app", first.digest) == manifest
    config = blob(registry, "team/app", manifest["config"]["digest"])
    assert config == image.config.data
    layer = blob(registry, "team/app", manifest["layers"][0]["digest"])
    assert "sha256:" + hashlib.sha256(layer).hexdigest() == manifest["layers"][0]["digest"]


def test_pushing_the_same_tag_again_changes_nothing(registry: RegistryEndpoint) -> None:
    first = oci.push_synthetic_image(registry.host, "same/app", "v1")
    again = oci.push_synthetic_image(registry.host, "same/app", "v1")
    assert first.digest == again.digest
    assert oci.list_tags(registry.host, "same/app") == ["v1"]


def test_delete_tag_removes_only_that_tag(registry: RegistryEndpoint) -> None:
    pushed = oci.push_synthetic_image(registry.host, "del/app", "v1")
    # "stable" points at the very same manifest: distribution deletes manifests, so it must be put back.
    oci.push_image(registry.host, "del/app", "stable", oci.synthetic_image("del/app", "v1"))
    oci.push_synthetic_image(registry.host, "del/app", "v2")
    assert oci.delete_tag(registry.host, "del/app", "v1") == pushed.digest
    assert oci.list_tags(registry.host, "del/app") == ["stable", "v2"]
    assert oci.resolve_digest(registry.host, "del/app", "stable") == pushed.digest
    with pytest.raises(oci.ArtifactNotFound, match="del/app:v1 is not in the sandbox registry"):
        oci.resolve_digest(registry.host, "del/app", "v1")


def test_unknown_repository_and_tag_are_clear_errors(registry: RegistryEndpoint) -> None:
    with pytest.raises(oci.ArtifactNotFound, match="repository 'never/pushed' is not in the sandbox registry"):
        oci.list_tags(registry.host, "never/pushed")
    oci.push_synthetic_image(registry.host, "known/app", "v1")
    with pytest.raises(oci.ArtifactNotFound, match="known/app:v9 is not in the sandbox registry"):
        oci.get_manifest(registry.host, "known/app", "v9")
    with pytest.raises(InputError, match="invalid image reference 'Bad/Name'"):
        oci.push_synthetic_image(registry.host, "Bad/Name", "v1")


def test_registry_that_is_down_fails_fast_with_its_address() -> None:
    (port,) = free_ports(1)
    started = time.monotonic()
    with pytest.raises(oci.RegistryUnavailable, match=f"127.0.0.1:{port} is not reachable"):
        oci.list_tags(f"127.0.0.1:{port}", "app")
    assert time.monotonic() - started < 5


# --- charts -------------------------------------------------------------------------------------------------------

def write_chart(root: Path, name: str = "greeter", version: str = "0.1.0") -> Path:
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version,
                                                      "appVersion": "1.0"}))
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n  version: {{ .Chart.Version | quote }}\n")
    return chart


def rendered_configmap(archive: Path, release: str) -> dict[str, str]:
    with helm.Chart.load(archive) as chart:
        manifests = chart.render({"greeting": "hi from the test"}, name=release, namespace="default")
    (document,) = [yaml.safe_load(text) for path, text in manifests.items() if path.endswith("configmap.yaml")]
    assert document["metadata"]["name"] == f"{release}-greeting"
    return dict(document["data"])


def test_chart_push_serves_it_over_http_and_oci_and_helm_renders_both(sandbox_name: str, registry: RegistryEndpoint,
                                                                      tmp_path: Path) -> None:
    result = helmrepo.push_chart(sandbox_name, write_chart(tmp_path / "src"))
    url = helmrepo.repository_url(sandbox_name)
    assert result["http"]["url"] == f"{url}/greeter-0.1.0.tgz"
    assert result["oci"]["reference"] == f"oci://{registry.host}/charts/greeter:0.1.0"

    from_http = tmp_path / "http"
    from_http.mkdir()
    helm.pull("greeter", repo_url=url, version="0.1.0", destination=from_http)
    archive = from_http / "greeter-0.1.0.tgz"
    assert "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest() == result["digest"]
    assert rendered_configmap(archive, "web") == {"greeting": "hi from the test", "version": "0.1.0"}

    from_oci = oci.pull_chart(registry.host, "greeter", "0.1.0", tmp_path / "oci")
    assert rendered_configmap(from_oci, "api") == {"greeting": "hi from the test", "version": "0.1.0"}
    assert oci.chart_versions(registry.host, "greeter") == ["0.1.0"]

    listed = helmrepo.list_charts(sandbox_name)
    assert [(c["name"], c["version"], c["oci"]) for c in listed] == [
        ("greeter", "0.1.0", f"oci://{registry.host}/charts/greeter:0.1.0")]


def test_new_version_joins_the_index_and_keeps_the_old_one(sandbox_name: str, registry: RegistryEndpoint,
                                                            tmp_path: Path) -> None:
    helmrepo.push_chart(sandbox_name, write_chart(tmp_path / "a", "versioned", "1.0.0"))
    helmrepo.push_chart(sandbox_name, write_chart(tmp_path / "b", "versioned", "1.1.0"))
    index = helm.repo_index(helmrepo.repository_url(sandbox_name))
    assert [e["version"] for e in index["entries"]["versioned"]] == ["1.1.0", "1.0.0"]
    assert oci.chart_versions(registry.host, "versioned") == ["1.1.0", "1.0.0"]


def test_chart_dir_without_chart_yaml_is_refused_and_nothing_changes(sandbox_name: str, registry: RegistryEndpoint,
                                                                     tmp_path: Path) -> None:
    before = helmrepo.list_charts(sandbox_name)
    not_a_chart = tmp_path / "not-a-chart"
    (not_a_chart / "templates").mkdir(parents=True)
    (not_a_chart / "values.yaml").write_text("a: 1\n")
    with pytest.raises(ChartError, match=re.escape(f"{not_a_chart} has no Chart.yaml") + ".*helm create"):
        helmrepo.push_chart(sandbox_name, not_a_chart)
    broken = write_chart(tmp_path / "broken", "broken")
    (broken / "Chart.yaml").write_text("apiVersion: v2\nversion: 0.1.0\n")  # no name
    with pytest.raises(ChartError, match=r"Chart\.yaml is not a loadable chart"):
        helmrepo.push_chart(sandbox_name, broken)
    with pytest.raises(ChartError, match="is not a directory"):
        helmrepo.push_chart(sandbox_name, tmp_path / "missing")
    assert helmrepo.list_charts(sandbox_name) == before
    with pytest.raises(oci.ArtifactNotFound):
        oci.chart_versions(registry.host, "broken")


def test_chart_repository_serves_no_listing_or_staging_files(sandbox_name: str) -> None:
    url = helmrepo.repository_url(sandbox_name)
    for path in ("/", "/.lock", "/../sandbox.json"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url + path, timeout=5)
        assert info.value.code == 404, path
    with urllib.request.urlopen(f"{url}/index.yaml", timeout=5) as response:
        assert yaml.safe_load(response.read())["apiVersion"] == "v1"


def test_record_and_state_files(sandbox_name: str, registry: RegistryEndpoint) -> None:
    state = StateDir(sandbox_name)
    record = state.read_record()
    assert record["registry"]["host"] == registry.host and record["registry"]["url"] == registry.url
    assert record["charts"]["url"].startswith("http://127.0.0.1:")
    config_file = state.path / "registry" / "config.yml"
    assert config_file.stat().st_mode & 0o777 == 0o600
    assert json.loads((state.path / "registry" / "settings.json").read_text())["backend"] == registry.backend
    # blobs live under the state dir's data directory, whichever backend serves them
    assert any((state.data / "registry").rglob("data"))


def test_failure_to_index_takes_a_new_chart_back_out_of_the_registry(sandbox_name: str, registry: RegistryEndpoint,
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(self: helmrepo.ChartRepository, archive: Path) -> helmrepo.ChartEntry:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(helmrepo.ChartRepository, "add", disk_full)
    with pytest.raises(OSError, match="No space left"):
        helmrepo.push_chart(sandbox_name, write_chart(tmp_path, "half", "1.0.0"))
    with pytest.raises(oci.ArtifactNotFound):
        oci.resolve_digest(registry.host, "charts/half", "1.0.0")
    monkeypatch.undo()
    assert all(c["name"] != "half" for c in helmrepo.list_charts(sandbox_name))
