"""Building a large plain list of manifests in chunks, with the same result as one ``kustomize build``.

kustomize checks every resource it adds against all those it holds (``resWrangler.Append``), so one build of n
objects costs O(n²): 1,000 ConfigMaps take ~1 s, 5,000 take ~30 s. When a kustomization only lists plain
manifest files (``resources:`` and nothing else — what Flux generates for a path without a kustomization file),
kustomize does nothing to the objects but parse, check and print them in its legacy order. Such a build is done
here in chunks of ``CHUNK_SIZE`` documents, each a real ``kustomize build``, and the results are put in kustomize's
legacy order. Anything else (transformers, directories, an error in a chunk, a possible duplicate across chunks)
answers None, and the caller runs the one build, which gives kustomize's own result or error.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import SandboxError
from sandbox.reconciler.kustomize import manifest
from sandbox.reconciler.kustomize.manifest import Manifest

CHUNK_SIZE = 250  # documents per build: ~0.2 s each, where one build of 5,000 takes ~30 s
MIN_DOCUMENTS = 2 * CHUNK_SIZE  # below this one build is as fast
WORKERS = 2
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources"}
# kustomize's default legacy order (api/.../sortordertransformer: defaultOrderFirst, defaultOrderLast)
ORDER_FIRST = ("Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
               "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
               "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
               "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget")
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_TYPE_ORDER = {kind: index - len(ORDER_FIRST) for index, kind in enumerate(ORDER_FIRST)}
_TYPE_ORDER.update({kind: index + 1 for index, kind in enumerate(ORDER_LAST)})
# Directives and document-end markers would make splitting on ``---`` lines unsafe: leave such files to kustomize.
_UNSPLITTABLE = re.compile(r"^(?:%|\.\.\.)", re.M)

Build = Callable[[Path], str]
Parse = Callable[[str], list[Manifest]]


def plain_documents(kustomization_file: Path) -> list[str] | None:
    """The YAML documents of the manifest files ``kustomization_file`` lists, in kustomize's reading order; None
    unless the kustomization lists plain local files and nothing else."""
    try:
        document = manifest.load(kustomization_file.read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(document, dict) or not set(document) <= KUSTOMIZATION_KEYS:
        return None
    if document.get("kind", "Kustomization") != "Kustomization":
        return None
    resources = document.get("resources")
    if not isinstance(resources, list):
        return None
    directory = kustomization_file.parent
    documents: list[str] = []
    for resource in resources:
        if not isinstance(resource, str) or "://" in resource or resource.startswith("/"):
            return None
        path = directory / resource
        if path.is_symlink() or not path.is_file():
            return None
        data = path.read_bytes()
        if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if _UNSPLITTABLE.search(text):
            return None
        documents += manifest.split_documents(text)
    return documents


def build_in_chunks(documents: Sequence[str], build: Build, parse: Parse,
                    chunk_size: int | None = None) -> list[Manifest] | None:
    """Build ``documents`` in chunks (``build`` runs kustomize on a directory, ``parse`` reads its output) and
    return the objects in kustomize's legacy order; None when a chunk fails or two objects may be the same."""
    size = chunk_size or CHUNK_SIZE
    chunks = [documents[start:start + size] for start in range(0, len(documents), size)]
    with tempfile.TemporaryDirectory(prefix="kustomize-chunks-") as scratch:
        directories = []
        for index, chunk in enumerate(chunks):
            directory = Path(scratch) / f"chunk-{index:04d}"
            directory.mkdir()
            (directory / "objects.yaml").write_text("---\n".join(text if text.endswith("\n") else text + "\n"
                                                                 for text in chunk))
            (directory / "kustomization.yaml").write_text(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- objects.yaml\n")
            directories.append(directory)

        def one(directory: Path) -> list[Manifest] | None:
            try:
                return parse(build(directory))
            except SandboxError:
                return None

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            results = list(pool.map(one, directories))
    built: list[Manifest] = []
    for result in results:
        if result is None:
            return None
        built += result
    if _may_collide(built):
        return None
    ordered = sorted(built, key=functools.cmp_to_key(_legacy_compare))
    # As split from one output: every document but the first starts with the newline after its ``---``.
    return [Manifest(text=("\n" if index else "") + item.text.removeprefix("\n"), obj=item.obj)
            for index, item in enumerate(ordered)]


def _may_collide(built: Sequence[Manifest]) -> bool:
    """Whether two objects could share kustomize's resource id (it would refuse the build): same group, kind and
    name, and a namespace that could be the same (an empty one may mean ``default``)."""
    seen: set[tuple[str, str, str, str]] = set()
    for item in built:
        meta = manifest.metadata(item.obj)
        key = (manifest.api_group(manifest.api_version_of(item.obj)), str(item.obj.get("kind", "")),
               str(meta.get("name") or ""), str(meta.get("namespace") or "default"))
        if key in seen:
            return True
        seen.add(key)
    return False


def _gvk(obj: dict[str, Any]) -> tuple[str, str, str]:
    group, slash, version = manifest.api_version_of(obj).partition("/")
    if not slash:
        group, version = "", group
    return group, version, str(obj.get("kind", ""))


def _gvk_string(gvk: tuple[str, str, str]) -> str:
    group, version, kind = gvk
    return "_".join((group or "~G", version or "~V", kind or "~K"))


def _id_string(item: Manifest) -> str:
    meta = manifest.metadata(item.obj)
    return "|".join((_gvk_string(_gvk(item.obj)), str(meta.get("namespace") or "~X"), str(meta.get("name") or "~N")))


def _legacy_compare(left: Manifest, right: Manifest) -> int:
    """kustomize's legacyIDSorter.Less, as a comparison."""
    first, second = _gvk(left.obj), _gvk(right.obj)
    if first != second:
        rank1, rank2 = _TYPE_ORDER.get(first[2], 0), _TYPE_ORDER.get(second[2], 0)
        if rank1 != rank2:
            return -1 if rank1 < rank2 else 1
        key1, key2 = _gvk_string(first), _gvk_string(second)
        if first[2] == second[2] == "Namespace" and (not first[0] or not second[0]):
            key1, key2 = key2, key1
        return -1 if key1 < key2 else (1 if key1 > key2 else 0)
    id1, id2 = _id_string(left), _id_string(right)
    return -1 if id1 < id2 else (1 if id1 > id2 else 0)
