"""``sandbox diff kustomization|helmrelease`` and ``sandbox build helmrelease``: what reconciling an object now —
with its source's current artifact, or a local folder in its place — would apply, and change in the cluster."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import helm_python as helm

from sandbox.errors import InputError, NotFound, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.helm import offline, render
from sandbox.reconciler.helm import preview as helm_preview
from sandbox.reconciler.helm import values as helm_values
from sandbox.reconciler.kustomize import preview
from sandbox.reconciler.runtime import objectdiff, remote
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
            relative = folder.relative_to(candidate).as_posix()
            return candidate, "./" if relative == "." else f"./{relative}"
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
        target = _remote(kube, obj, scratch / "kubeconfigs", remote.KUSTOMIZE)
        return preview.preview(target.kube if target else kube, obj, objects)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _remote(kube: KubeClient, obj: Obj, directory: Path, messages: remote.Messages) -> remote.Remote | None:
    """The remote cluster of ``obj``'s spec.kubeConfig (None: the sandbox's cluster); InputError when unreadable."""
    try:
        return remote.RemoteClients(directory, messages).resolve(kube, obj)
    except remote.KubeConfigError as err:
        raise InputError(f"{obj.get('kind')}/{obj['metadata'].get('namespace')}/{obj['metadata'].get('name')}: "
                         f"{err}") from err


# --- HelmReleases ----------------------------------------------------------------------------------------------

def _chart_of(kube: KubeClient | None, helmrelease: Obj, chart: Path | None) -> helm.Chart:
    """``--chart`` when given, else the chart artifact the HelmRelease's source publishes in the sandbox."""
    if chart is not None:
        return offline.load_chart(chart)
    if kube is None:
        raise InputError("without a running sandbox, give the chart with --chart DIR|TGZ")
    kind_name, namespace, name = offline.chart_source(helmrelease)
    kind = kinds.by_kind(kind_name)
    source = kube.get_or_none(kind.api_version, kind.kind, name, namespace)
    found = artifacts.Artifact.of(source)
    if found is None:
        raise InputError(f"{kind.kind}/{namespace}/{name} {'has no artifact yet' if source else 'not found'}: the "
                         "chart comes from it in the running sandbox (or give it with --chart DIR|TGZ)")
    return offline.load_chart_archive(download.fetch(found), f"{kind.kind}/{namespace}/{name}")


def _folder(path: Path, name: str, namespace: str, values_files: Sequence[tuple[str, Path]]) -> offline.Folder:
    folder = offline.Folder.read(path, name, namespace)
    for reference, file in values_files:
        folder.add_values_file(reference, file)
    return folder


@contextmanager
def _installed(kubeconfig: Path | None, helmrelease: Obj) -> Iterator[tuple[helm.Config | None, Obj | None]]:
    """A Helm config on the sandbox's cluster (None without ``kubeconfig``) and the installed release of
    ``helmrelease`` (None when there is none): what rendering as the controller's next upgrade needs."""
    if kubeconfig is None:
        yield None, None
        return
    target = render.ReleaseTarget.of(helmrelease)
    config = helm.Config(kubeconfig_path=kubeconfig, namespace=target.storage_namespace, storage_driver="secret")
    try:
        try:
            current: Obj | None = config.status(target.name)
        except helm.HelmNotFoundError:
            current = None
        except helm.HelmError as err:
            raise InputError(f"cannot read release {target.storage_namespace}/{target.name}: {err}") from err
        yield config, current
    finally:
        config.close()


def _manifest(chart: helm.Chart, helmrelease: Obj, lookup: helm_values.Lookup, config: helm.Config | None,
              current: Obj | None) -> tuple[str, helm_values.Values]:
    """Rendered as the controller would now: the next revision of the installed release (an upgrade), else an
    install."""
    revision = int(current["revision"]) + 1 if current else 1
    return helm_preview.build_manifest(chart, helmrelease, lookup, config=config, revision=revision,
                                       upgrade=current is not None)


def build_helmrelease(name: str, namespace: str, path: Path, *, kube: KubeClient | None = None,
                      kubeconfig: Path | None = None, chart: Path | None = None,
                      values_files: Sequence[tuple[str, Path]] = ()) -> str:
    """The manifest the controller would install for HelmRelease ``namespace/name`` of the folder ``path``:
    values from the folder's ConfigMaps and Secrets (or ``values_files``), the chart from ``chart`` or the
    sandbox's source artifact; with ``kubeconfig``, rendered against the cluster (``lookup``, capabilities) as
    the next revision of the installed release, else offline as a first install."""
    folder = _folder(path, name, namespace, values_files)
    with _chart_of(kube, folder.helmrelease, chart) as loaded, \
            _installed(kubeconfig, folder.helmrelease) as (config, current):
        manifest, _ = _manifest(loaded, folder.helmrelease, folder.lookup, config, current)
    return manifest


def diff_helmrelease(kube: KubeClient, kubeconfig: Path, name: str, namespace: str, *, path: Path | None = None,
                     chart: Path | None = None, values_files: Sequence[tuple[str, Path]] = ()) -> DiffReport:
    """What the controller would change in the cluster for HelmRelease ``namespace/name`` (from the cluster, or
    from the folder ``path``): its manifest rendered as an upgrade of the installed release (or an install),
    server-side dry-run against the live objects."""
    if path is not None:
        folder = _folder(path, name, namespace, values_files)
        helmrelease = folder.helmrelease

        def lookup(kind: str, ns: str, ref_name: str) -> Obj | None:
            return folder.lookup(kind, ns, ref_name) or kube.get_or_none("v1", kind, ref_name, ns)
    else:
        try:
            helmrelease = kube.get(kinds.HELMRELEASE.api_version, kinds.HELMRELEASE.kind, name, namespace)
        except NotFound as err:
            raise InputError(f"HelmRelease/{namespace}/{name} not found: check the name and -n/--namespace") from err

        def lookup(kind: str, ns: str, ref_name: str) -> Obj | None:
            return kube.get_or_none("v1", kind, ref_name, ns)
    secrets: frozenset[str] = frozenset()
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-diff-kubeconfig-"))
    try:
        # spec.kubeConfig: the release and its objects live in the remote cluster
        target = _remote(kube, {"kind": "HelmRelease", **helmrelease}, scratch, remote.HELM)
        target_kube, target_kubeconfig = (target.kube, target.kubeconfig) if target else (kube, kubeconfig)
        with _chart_of(kube, helmrelease, chart) as loaded, \
                _installed(target_kubeconfig, helmrelease) as (config, current):
            manifest, composed = _manifest(loaded, helmrelease, lookup, config, current)
            secrets = composed.secrets
            report = helm_preview.preview(target_kube, helmrelease, manifest,
                                          str((current or {}).get("manifest") or ""))
    except SandboxError as err:
        raise InputError(helm_values.scrub_all(str(err), secrets)) from None  # never a Secret's value
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return objectdiff.scrubbed(report, secrets)
