"""``sandbox diff kustomization``: what reconciling a Kustomization now — with its source's current artifact, or a
local folder in its place — would change in the cluster."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sandbox.errors import InputError, NotFound
from sandbox.kube.client import KubeClient
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.kustomize import preview
from sandbox.reconciler.runtime.objectdiff import DiffReport
from sandbox.reconciler.source import artifact as artifacts
from sandbox.reconciler.source import download

Obj = dict[str, Any]


def kustomization(kube: KubeClient, name: str, namespace: str) -> Obj:
    try:
        return kube.get(kinds.KUSTOMIZATION.api_version, kinds.KUSTOMIZATION.kind, name, namespace)
    except NotFound as err:
        raise InputError(f"Kustomization/{namespace}/{name} not found: check the name and -n/--namespace") from err


def source_artifact(kube: KubeClient, owner: Obj) -> artifacts.Artifact:
    """The artifact the ``sourceRef`` of ``owner`` (a Kustomization or HelmRelease) points at."""
    kind_name, namespace, name = artifacts.reference(owner.get("spec", {}).get("sourceRef") or {},
                                                     owner["metadata"]["namespace"])
    kind = kinds.by_kind(kind_name)
    source = kube.get_or_none(kind.api_version, kind.kind, name, namespace)
    if source is None:
        raise InputError(f"{kind.kind}/{namespace}/{name} not found (the source of {owner['kind']}/"
                         f"{owner['metadata']['namespace']}/{owner['metadata']['name']})")
    found = artifacts.Artifact.of(source)
    if found is None:
        raise InputError(f"{kind.kind}/{namespace}/{name} has no artifact yet: wait for it to be Ready "
                         f"(sandbox get sources all -n {namespace})")
    return found


def local_source(path: Path) -> tuple[Path, str]:
    """The source root and the Kustomization path for a local folder given with ``--path``: the folder within
    its git work tree (so ``../`` references resolve as in the repository), else the folder itself."""
    folder = path.resolve()
    if not folder.is_dir():
        raise InputError(f"invalid resource path {str(path)!r}: not a directory")
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate, "./" + folder.relative_to(candidate).as_posix()
    return folder, "./"


def diff_kustomization(kube: KubeClient, name: str, namespace: str, *, path: Path | None = None) -> DiffReport:
    """What reconciling Kustomization ``namespace/name`` would change: built from its source's current artifact,
    or from the local folder ``path`` (which stands for ``spec.path``). Raises InputError (build, source or
    reference problems) or ApplyError (the server refuses an object: nothing would be applied)."""
    obj = kustomization(kube, name, namespace)
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-diff-source-"))
    try:
        if path is not None:
            root, spec_path = local_source(path)
            obj = {**obj, "spec": {**obj.get("spec", {}), "path": spec_path}}
        else:
            root = download.unpack(source_artifact(kube, obj), scratch / "artifact")
        objects = preview.render(kube, obj, root)
        return preview.preview(kube, obj, objects)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
