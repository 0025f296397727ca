"""From a source directory to the objects to apply: the build half of a Kustomization reconcile.

The order is Flux's: prepare the kustomization file, run kustomize, substitute ``postBuild`` variables, set
``commonMetadata``, then the owner labels. Any failure raises a ``BuildError`` before anything is applied, so
a broken revision leaves the cluster untouched.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.reconciler.kustomize import (
    build,
    common_metadata,
    decrypt,
    inventory,
    remote_bases,
    substitute,
    workspace,
)
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.manifest import Obj
from sandbox.reconciler.kustomize.substitute import STRICT_BY_DEFAULT
from sandbox.tools.run import mask
from sandbox.tools.sops import Keys


@dataclass(frozen=True)
class Rendered:
    """The objects of one revision, ready for ``staging.stages``."""

    objects: list[Obj]
    directory: Path
    substituted: bool


def render(source_root: Path, kustomization: Obj, workdir: Path, *,
           fetched: Mapping[tuple[str, str], Obj | None] | None = None,
           strict: bool = STRICT_BY_DEFAULT, keys: Keys | None = None, allow_remote_bases: bool = True) -> Rendered:
    """Build ``kustomization`` (a Kustomization object) from the source at ``source_root``.

    ``fetched`` holds the ConfigMaps and Secrets of ``spec.postBuild.substituteFrom`` as read from the
    cluster (``substitute.references`` lists which); ``keys`` the SOPS keys of ``spec.decryption`` (see
    ``decrypt``); ``workdir`` is an empty scratch directory the caller removes afterwards (decrypted files are
    in it while the build runs).
    """
    spec: Mapping[str, Any] = kustomization.get("spec") or {}
    metadata = kustomization.get("metadata") or {}
    directory = workspace.prepare(source_root, str(spec.get("path") or ""), spec, workdir)
    if not allow_remote_bases:  # --no-remote-bases
        remote_bases.refuse(directory, workdir / workspace.SOURCE_DIR)
    decrypting = decrypt.configured(spec)
    revealed = decrypt.Decrypted()
    if decrypting:
        revealed = decrypt.decrypt_sources(workdir / workspace.SOURCE_DIR, directory, keys or Keys())
    try:
        manifests = build.build_manifests(directory, workdir / workspace.SOURCE_DIR)
    except BuildError as err:
        if not revealed.values:
            raise
        # kustomize quotes the lines it cannot read: never those of a decrypted file
        raise type(err)(mask(str(err), revealed.values)) from None
    if decrypting:
        manifests = decrypt.decrypt_manifests(manifests, keys or Keys())
    variables = substitute.load_variables(spec, fetched or {}) if spec.get("postBuild") else substitute.Variables()
    substituted = substitute.should_substitute(spec, variables)
    objects = substitute.substitute(manifests, spec, variables, strict=strict)
    objects = common_metadata.apply_common_metadata(objects, spec)
    objects = inventory.set_owner_labels(objects, str(metadata.get("name", "")), str(metadata.get("namespace", "")))
    return Rendered(objects=objects, directory=directory, substituted=substituted)


class RenderCache:
    """The last objects rendered for each Kustomization, with what they were rendered from.

    Rendering is a function of the artifact (its extracted copy, a read-only directory named by its digest), the
    Kustomization (name, namespace and spec), the ConfigMaps and Secrets it substitutes from, the SOPS keys and the
    strictness of substitution: while all of these are the same,
    the next reconcile — a drift check — takes the objects from here instead of copying and building the source
    again (5,000 objects: ~3-5 s). Each caller gets its own copy. Thread-safe.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(source_root: Path, kustomization: Obj, fetched: Mapping[tuple[str, str], Obj | None],
            strict: bool, keys: Keys | None = None) -> str:
        metadata = kustomization.get("metadata") or {}
        inputs = {"source": str(source_root), "name": metadata.get("name"), "namespace": metadata.get("namespace"),
                  "spec": kustomization.get("spec") or {}, "strict": strict,
                  "fetched": [[kind, name, None if found is None else
                               {"data": found.get("data"), "stringData": found.get("stringData")}]
                              for (kind, name), found in sorted(fetched.items())],
                  "keys": [list(keys.age), list(keys.pgp)] if keys else None}
        return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()

    def get(self, owner: tuple[str, str], key: str) -> list[Obj] | None:
        with self._lock:
            last = self._last.get(owner)
        if last is None or last[0] != key:
            return None
        objects: list[Obj] = json.loads(last[1])
        return objects

    def put(self, owner: tuple[str, str], key: str, objects: list[Obj]) -> None:
        serialized = json.dumps(objects)
        with self._lock:
            self._last[owner] = (key, serialized)

    def forget(self, owner: tuple[str, str]) -> None:
        with self._lock:
            self._last.pop(owner, None)
