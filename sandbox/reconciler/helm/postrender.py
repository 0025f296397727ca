"""A HelmRelease's post-renderers, as helm-controller v1.6 builds them (internal/postrender): each
``spec.postRenderers[].kustomize`` (patches — strategic merge or JSON 6902 — and images, through kustomize), then
``spec.commonMetadata`` labels and annotations, then the origin labels ``helm.toolkit.fluxcd.io/name|namespace``
(always, and last, so they win over common labels). Hooks go through them with the templates (Flux 2.9's default
``postRenderStrategy: combined``), or apart (``separate``), or not at all (``nohooks``).

The Helm SDK of this project has no post-renderer hook on install and upgrade, so the post-rendered manifests are
installed as a chart of their own (``rendered_chart``): the original chart's metadata and default values, its
CRDs, and one template per rendered template holding the post-rendered text with ``{{``/``}}`` escaped. Helm then
renders it to exactly that text, and recognises hooks and tests by their annotations as it would have; history,
rollback and ``helm test`` work on the stored release as on any other.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import CommandError, InputError
from sandbox.reconciler.kustomize import manifest
from sandbox.tools import kubectl

Obj = dict[str, Any]
HELM_GROUP = "helm.toolkit.fluxcd.io"
HOOK_ANNOTATION = "helm.sh/hook"
# As Helm 4 tags each object with the template it came from before post-rendering, to split the output back.
SOURCE_ANNOTATION = "postrenderer.helm.sh/postrender-filename"
COMBINED, SEPARATE, NO_HOOKS = "combined", "separate", "nohooks"
NOTES_SUFFIX = "NOTES.txt"


class PostRenderError(InputError):
    """A post-renderer failed; the message is kustomize's (or says which object could not be read)."""


def origin_labels(namespace: str, name: str) -> dict[str, str]:
    return {f"{HELM_GROUP}/name": name, f"{HELM_GROUP}/namespace": namespace}


def is_hook(obj: Obj) -> bool:
    return bool(((obj.get("metadata") or {}).get("annotations") or {}).get(HOOK_ANNOTATION))


def _set_metadata(objects: list[Obj], field: str, values: Mapping[str, str]) -> list[Obj]:
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        current = meta.get(field)
        meta[field] = {**(current if isinstance(current, dict) else {}), **values}
    return objects


def kustomize(objects: list[Obj], post_renderer: Mapping[str, Any]) -> list[Obj]:
    """One ``kustomize`` post-renderer: the objects as a kustomization's only resource, with its patches and
    images (kubectl's kustomize, plugins off, as helm-controller's krusty options)."""
    if not objects:
        return objects
    config: Obj = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                   "resources": ["helm-output.yaml"]}
    images = [{key: image[key] for key in ("name", "newName", "newTag", "digest") if image.get(key)}
              for image in post_renderer.get("images") or []]
    if images:
        config["images"] = images
    patches = [{"patch": str(p.get("patch", "")), **({"target": p["target"]} if p.get("target") else {})}
               for p in post_renderer.get("patches") or []]
    if patches:
        config["patches"] = patches
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-postrender-"))
    try:
        (scratch / "helm-output.yaml").write_text("".join(f"---\n{manifest.dump(obj)}" for obj in objects))
        (scratch / "kustomization.yaml").write_text(manifest.dump(config))
        try:
            output = kubectl.kustomize_build(scratch, load_restrictor="LoadRestrictionsNone")
        except CommandError as err:
            raise PostRenderError(f"post-renderer kustomize failed: {err.stderr_tail.strip()}") from err
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [doc for doc in manifest.load_all(output) if isinstance(doc, dict)]


def run(objects: list[Obj], helmrelease: Obj) -> list[Obj]:
    """The post-renderers of ``helmrelease`` over ``objects`` (rendered templates and hooks), in helm-controller's
    order; the strategy decides what the hooks go through."""
    spec, meta = helmrelease.get("spec") or {}, helmrelease.get("metadata") or {}
    strategy = str(spec.get("postRenderStrategy") or COMBINED)
    if strategy not in (COMBINED, SEPARATE, NO_HOOKS):
        raise PostRenderError(f"spec.postRenderStrategy {strategy!r} is not one of {COMBINED}, {SEPARATE}, "
                              f"{NO_HOOKS}")
    if strategy == COMBINED:
        return _chain(objects, spec, meta)
    hooks = [o for o in objects if is_hook(o)]
    templates = [o for o in objects if not is_hook(o)]
    return _chain(templates, spec, meta) + (_chain(hooks, spec, meta) if strategy == SEPARATE else hooks)


def _chain(objects: list[Obj], spec: Mapping[str, Any], meta: Mapping[str, Any]) -> list[Obj]:
    for post_renderer in spec.get("postRenderers") or []:
        if (post_renderer or {}).get("kustomize"):
            objects = kustomize(objects, post_renderer["kustomize"])
    common = spec.get("commonMetadata") or {}
    if common.get("labels"):
        objects = _set_metadata(objects, "labels", common["labels"])
    if common.get("annotations"):
        objects = _set_metadata(objects, "annotations", common["annotations"])
    return _set_metadata(objects, "labels", origin_labels(str(meta.get("namespace", "")), str(meta.get("name", ""))))


# --- rendered templates in, rendered templates out --------------------------------------------------------

def split_templates(rendered: Mapping[str, str]) -> tuple[list[Obj], dict[str, str]]:
    """The objects of rendered templates (path → text), each tagged with its template; and the texts that are
    not objects to post-render (NOTES.txt)."""
    objects: list[Obj] = []
    others: dict[str, str] = {}
    for path, text in sorted(rendered.items()):
        if path.endswith(NOTES_SUFFIX):
            others[path] = text
            continue
        try:
            documents = list(manifest.load_all(text))
        except yaml.YAMLError as err:
            raise PostRenderError(f"{path}: the rendered template is not valid YAML: {err}") from err
        for document in documents:
            if not isinstance(document, dict):
                continue
            document.setdefault("metadata", {}).setdefault("annotations", {})[SOURCE_ANNOTATION] = path
            objects.append(document)
    return objects, others


def join_templates(objects: Sequence[Obj]) -> dict[str, str]:
    """Post-rendered objects back into their templates (the tag removed)."""
    templates: dict[str, list[str]] = {}
    for obj in objects:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        path = str(annotations.pop(SOURCE_ANNOTATION, "") or "post-rendered.yaml")
        if not annotations:
            obj["metadata"].pop("annotations", None)
        templates.setdefault(path, []).append(f"---\n{manifest.dump(obj)}")
    return {path: "".join(texts) for path, texts in templates.items()}


def post_render_templates(rendered: Mapping[str, str], helmrelease: Obj) -> dict[str, str]:
    """Rendered templates (path → text, as ``Chart.render`` gives them) after the post-renderers."""
    objects, others = split_templates(rendered)
    return {**join_templates(run(objects, helmrelease)), **others}


_DELIMITER = re.compile(r"\{\{|\}\}")


def escape_template(text: str) -> str:
    """Text a Go template renders to itself: each ``{{`` and ``}}`` printed by an action of its own."""
    return _DELIMITER.sub(lambda found: '{{"{{"}}' if found.group() == "{{" else '{{"}}"}}', text)


def rendered_chart(metadata: Mapping[str, Any], default_values: Mapping[str, Any] | None,
                   crds: Sequence[Mapping[str, str]], templates: Mapping[str, str], destination: Path, *,
                   schema: Mapping[str, Any] | None = None) -> Path:
    """Write a chart that renders to ``templates`` (path → text) with the original chart's ``metadata`` (its
    Chart.yaml, dependencies dropped: they are rendered already), default values, values schema and CRDs; returns
    its directory (``destination``, created)."""
    destination.mkdir(parents=True)
    chart_yaml = {key: value for key, value in metadata.items() if key != "dependencies"}
    (destination / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml, sort_keys=False))
    (destination / "values.yaml").write_text(json.dumps(dict(default_values or {})))
    if schema:
        (destination / "values.schema.json").write_text(json.dumps(dict(schema)))
    for index, crd in enumerate(crds):  # the chart's and its subcharts' CRDs, numbered: names may repeat
        target = destination / "crds" / f"{index:03d}-{Path(str(crd.get('filename') or crd.get('name'))).name}"
        target.parent.mkdir(exist_ok=True)
        target.write_text(str(crd.get("data", "")))
    for path, text in templates.items():
        # "<chart>/templates/x.yaml" and "<chart>/charts/<sub>/templates/x.yaml" keep their place under templates/
        relative = path.split("/", 1)[1] if "/" in path else path
        relative = relative[len("templates/"):] if relative.startswith("templates/") else relative
        target = destination / "templates" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(escape_template(text))
    return destination


# --- digests: a change of post-renderers or common metadata upgrades the release ------------------------------

_SELECTOR_FIELDS = ("group", "version", "kind", "namespace", "name", "annotationSelector", "labelSelector")
_IMAGE_FIELDS = ("newName", "newTag", "digest")


def _go_json(value: Any) -> str:
    """``json.NewEncoder(...).Encode(value)`` for the values here: compact, HTML characters escaped, a newline."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text + "\n"


def _go_post_renderer(post_renderer: Mapping[str, Any]) -> Obj:
    """A post-renderer with the fields in the order (and omissions) of helm-controller's Go types."""
    kustomization = post_renderer.get("kustomize")
    if kustomization is None:
        return {}
    out: Obj = {}
    patches = []
    for patch in kustomization.get("patches") or []:
        item: Obj = {"patch": str(patch.get("patch", ""))}
        target = patch.get("target")
        if target is not None:
            item["target"] = {key: str(target[key]) for key in _SELECTOR_FIELDS if target.get(key)}
        patches.append(item)
    if patches:
        out["patches"] = patches
    images = [{"name": str(image.get("name", "")), **{key: str(image[key]) for key in _IMAGE_FIELDS if image.get(key)}}
              for image in kustomization.get("images") or []]
    if images:
        out["images"] = images
    return {"kustomize": out}


def post_renderers_digest(spec: Mapping[str, Any]) -> str:
    """helm-controller's ``postrender.Digest`` of ``spec.postRenderers`` ("" when unset), the value of
    ``status.observedPostRenderersDigest``."""
    renderers = spec.get("postRenderers")
    if renderers is None:
        return ""
    encoded = _go_json([_go_post_renderer(r or {}) for r in renderers])
    return "sha256:" + hashlib.sha256(encoded.encode()).hexdigest()


def common_metadata_digest(spec: Mapping[str, Any]) -> str:
    """helm-controller's ``CommonMetadataDigest`` of ``spec.commonMetadata`` ("" when unset)."""
    common = spec.get("commonMetadata")
    if common is None:
        return ""
    out = {key: dict(sorted((str(k), str(v)) for k, v in common[key].items()))
           for key in ("annotations", "labels") if common.get(key)}
    return "sha256:" + hashlib.sha256(_go_json(out).encode()).hexdigest()


def record_observed_digests(spec: Mapping[str, Any], status: dict[str, Any]) -> None:
    """``status.observedPostRenderersDigest`` and ``observedCommonMetadataDigest`` for ``spec`` (absent when
    unset), as helm-controller's summarize records them."""
    for key, value in (("observedPostRenderersDigest", post_renderers_digest(spec)),
                       ("observedCommonMetadataDigest", common_metadata_digest(spec))):
        if value:
            status[key] = value
        else:
            status.pop(key, None)
