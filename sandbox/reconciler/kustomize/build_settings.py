"""The Kustomization's build settings (``targetNamespace``, ``namePrefix``/``nameSuffix``, ``patches``,
``images``, ``components``, ``buildMetadata``) written into the kustomization file, as kustomize-controller's
generator does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from sandbox.reconciler.kustomize import manifest
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.references import is_local_relative_path
from sandbox.reconciler.kustomize.source_files import KUSTOMIZE_API_VERSION, read_text, shown_path, yaml_problem

_SELECTOR_FIELDS = ("group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector")
_IMAGE_FIELDS = ("name", "newName", "newTag", "digest")


def apply_spec(kfile: Path, spec: Mapping[str, Any], root: Path) -> None:
    """Write the Kustomization's ``targetNamespace``, ``namePrefix``/``nameSuffix``, ``patches``, ``images``,
    ``components`` and ``buildMetadata`` into ``kfile``, as kustomize-controller's generator does.

    ``commonMetadata`` is not a kustomize setting: Flux sets it on the built objects' own metadata after the
    build (``common_metadata.apply_common_metadata``), so selectors and pod templates stay untouched.
    """
    settings = _settings(spec, kfile.parent, root)
    if not settings:
        return
    shown = shown_path(kfile, root)
    text = read_text(kfile, shown)
    try:
        document = manifest.load(text)
    except yaml.YAMLError as err:
        raise BuildError(f"{shown}: {yaml_problem(err)}") from err
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise BuildError(f"{shown} must be a YAML mapping (a kustomization), found a {type(document).__name__}")
    document.setdefault("apiVersion", KUSTOMIZE_API_VERSION)
    document.setdefault("kind", "Kustomization")
    for key, value in settings.items():
        if key in ("patches", "components"):
            document[key] = list(document.get(key) or []) + value
        elif key == "images":
            document[key] = _merge_images(document.get(key) or [], value)
        else:
            document[key] = value
    kfile.write_text(manifest.dump(document))


def _settings(spec: Mapping[str, Any], directory: Path, root: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for field, key in (("targetNamespace", "namespace"), ("namePrefix", "namePrefix"),
                       ("nameSuffix", "nameSuffix")):
        if spec.get(field):
            settings[key] = str(spec[field])
    patches = [_patch(index, item) for index, item in enumerate(spec.get("patches") or [])]
    if patches:
        settings["patches"] = patches
    images = [_image(index, item) for index, item in enumerate(spec.get("images") or [])]
    if images:
        settings["images"] = images
    components = _components(spec, directory, root)
    if components:
        settings["components"] = components
    if spec.get("buildMetadata"):
        settings["buildMetadata"] = [str(option) for option in spec["buildMetadata"]]
    return settings


def _patch(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("patch"), str) or not item["patch"].strip():
        raise BuildError(f"spec.patches[{index}] needs a 'patch' string (an inline strategic-merge or JSON6902 "
                         "patch)")
    result: dict[str, Any] = {"patch": item["patch"]}
    target = item.get("target")
    if isinstance(target, dict):
        # Without a target kustomize matches a strategic-merge patch to the object it names.
        result["target"] = {field: target[field] for field in _SELECTOR_FIELDS if target.get(field)}
    return result


def _image(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not item.get("name"):
        raise BuildError(f"spec.images[{index}] needs a 'name' (the image name without tag)")
    return {field: str(item[field]) for field in _IMAGE_FIELDS if item.get(field)}


def _merge_images(existing: Iterable[Any], overrides: list[dict[str, Any]]) -> list[Any]:
    """The Kustomization's images replace the kustomization file's entry of the same name."""
    merged = list(existing)
    for image in overrides:
        for position, current in enumerate(merged):
            if isinstance(current, dict) and current.get("name") == image["name"]:
                merged[position] = image
                break
        else:
            merged.append(image)
    return merged


def _components(spec: Mapping[str, Any], directory: Path, root: Path) -> list[str]:
    components: list[str] = []
    for component in spec.get("components") or []:
        component = str(component)
        if not is_local_relative_path(component):
            raise BuildError(f"component path {component!r} must be local and relative to spec.path")
        if not (directory / component).exists():
            if spec.get("ignoreMissingComponents"):
                continue
            raise BuildError(f"component {component!r} not found in the source (looked for "
                             f"{shown_path(directory / component, root)}); set ignoreMissingComponents: true "
                             "to skip missing components")
        components.append(component)
    return components
