"""The commit message: ``spec.git.commit.messageTemplate`` rendered by Go's text/template with Sprig (the
gitops-sandbox-commitmsg helper), over the data image-automation-controller gives it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sandbox.errors import InputError
from sandbox.reconciler.image.automation.result import Result
from sandbox.tools import commitmsg

DEFAULT_MESSAGE = "Update from image update automation"
REMOVED_TEMPLATE_FIELD = "RemovedTemplateField"
_SEE = "See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template"
REMOVED_MESSAGES = {
    ".Updated": f"template uses removed '.Updated' field. Please use '.Changed' instead. {_SEE}",
    ".Changed.ImageResult": "template uses removed '.Changed.ImageResult' field. Please use '.Changed.FileChanges' "
                            f"or '.Changed.Objects' instead. {_SEE}",
}

Renderer = Callable[[str, dict[str, Any]], commitmsg.Rendered]


class TemplateError(InputError):
    """The template does not render; ``removed_field`` when it uses a field upstream removed."""

    def __init__(self, message: str, removed_field: str = "") -> None:
        super().__init__(message)
        self.removed_field = removed_field


class HelperMissing(InputError):
    """No gitops-sandbox-commitmsg binary: a message template cannot be rendered faithfully (NotSupported)."""


HELPER_MISSING = (
    f"spec.git.commit.messageTemplate needs the {commitmsg.PROGRAM} helper (Go text/template with Sprig, as Flux "
    "renders it), which is not installed: run `sandbox setup` (it builds it with Go), or remove the template to use "
    "the default message")


def template_data(namespace: str, name: str, result: Result, values: Mapping[str, str] | None) -> dict[str, Any]:
    return {"automationObject": {"Namespace": namespace, "Name": name}, "fileChanges": result.template_data(),
            "values": dict(values or {})}


def helper_renderer(program: Path | None = None) -> Renderer | None:
    """The Go helper as a renderer, or None when it is not installed."""
    found = program or commitmsg.find()
    if found is None:
        return None
    return lambda template, data: commitmsg.render(template, data, program=found)


def commit_message(template: str | None, data: dict[str, Any], renderer: Renderer | None) -> str:
    """The message; the default one needs no helper. Raises TemplateError or HelperMissing."""
    if not template:
        return DEFAULT_MESSAGE
    if renderer is None:
        raise HelperMissing(HELPER_MISSING)
    rendered = renderer(template, data)
    if rendered.message is not None:
        return rendered.message
    if rendered.removed_field:
        raise TemplateError(REMOVED_MESSAGES.get(rendered.removed_field, rendered.error), rendered.removed_field)
    raise TemplateError(rendered.error)
