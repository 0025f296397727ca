"""The chart's CRDs (its ``crds/`` folders) as helm-controller handles them: Helm itself never installs them (its
SkipCRDs is always set); before an install or upgrade they are applied by ``spec.install.crds`` /
``spec.upgrade.crds`` — ``Create`` (the default for both: new CRDs created, existing ones left alone),
``CreateReplace`` (new created, existing replaced) or ``Skip`` — labelled with the HelmRelease, and waited for
until Established."""

from __future__ import annotations

import gzip
import io
import tarfile
from typing import Any

import yaml

from sandbox.errors import APIError, Conflict, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.waiting import wait_until

Obj = dict[str, Any]
SKIP, CREATE, CREATE_REPLACE = "Skip", "Create", "CreateReplace"
CRD_API = "apiextensions.k8s.io/v1"
CRD_KIND = "CustomResourceDefinition"
FIELD_MANAGER = "helm-controller"


class CRDError(SandboxError):
    """The CRDs could not be applied: the action fails before Helm runs."""


def policy(obj: Obj, action: str) -> str:
    """The CRD policy of ``action`` (install or upgrade): ``spec.<action>.crds``, Create by default."""
    return str(((obj.get("spec") or {}).get(action) or {}).get("crds") or CREATE)


def definitions(crd_files: list[dict[str, str]]) -> list[Obj]:
    """The CustomResourceDefinitions in the chart's ``crds/`` files (other kinds there are ignored, as upstream)."""
    found = []
    for crd_file in crd_files:
        for document in yaml.safe_load_all(str(crd_file.get("data") or "")):
            if isinstance(document, dict) and document.get("kind") == CRD_KIND and \
                    str(document.get("apiVersion", "")).startswith("apiextensions.k8s.io/"):
                found.append(document)
    return found


def without_crds(archive: bytes) -> bytes:
    """The chart archive without its ``crds/`` folders (the chart's and its subcharts', packed or not), so that
    Helm's own install never touches them."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as source, \
            gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as target:
        for member in source.getmembers():
            parts = member.name.split("/")
            if "crds" in parts[1:] and _in_chart_root(parts[1:parts[1:].index("crds") + 1]):
                continue
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None and len(parts) == 3 and parts[1] == "charts" and parts[2].endswith(".tgz"):
                data = without_crds(data)
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def _in_chart_root(path: list[str]) -> bool:
    """Whether ``path`` (below the chart's folder) leads to a chart root: the chart itself or ``charts/<sub>``."""
    while path:
        if len(path) >= 2 and path[0] == "charts":
            path = path[2:]
            continue
        return False
    return True


def apply(kube: KubeClient, crds: list[Obj], chosen: str, owner: tuple[str, str], timeout: float) -> None:
    """Apply ``crds`` by the policy ``chosen``, labelled for the HelmRelease ``owner`` (name, namespace), and
    wait until they are Established. Raises CRDError worded as helm-controller."""
    if chosen == SKIP or not crds:
        return
    labels = {"helm.toolkit.fluxcd.io/name": owner[0], "helm.toolkit.fluxcd.io/namespace": owner[1]}
    names = []
    for crd in crds:
        meta = crd.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        name = str(meta.get("name", ""))
        names.append(name)
        try:
            if chosen == CREATE:
                if kube.get_or_none(CRD_API, CRD_KIND, name) is None:
                    kube.create(crd)
            else:
                kube.apply(crd, field_manager=FIELD_MANAGER)
        except Conflict:
            continue  # created meanwhile: Create leaves an existing CRD alone
        except APIError as err:
            verb = "create" if chosen == CREATE else "update"
            raise CRDError(f"failed to apply CustomResourceDefinitions: failed to {verb} CustomResourceDefinition "
                           f"{name}: {err}") from err

    def established() -> bool:
        for name in names:
            live = kube.get_or_none(CRD_API, CRD_KIND, name)
            conditions = ((live or {}).get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                return False
        return True

    try:
        wait_until(established, timeout=max(timeout, 1.0), what="CustomResourceDefinitions to be established",
                   interval=0.1, max_interval=1.0)
    except SandboxError as err:
        raise CRDError(f"failed to apply CustomResourceDefinitions: {err}") from err
