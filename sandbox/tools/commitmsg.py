"""gitops-sandbox-commitmsg: the one module that runs the Go helper rendering ImageUpdateAutomation commit message
templates (Go text/template with Sprig's hermetic functions, as image-automation-controller renders them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import binaries
from sandbox.errors import SandboxError
from sandbox.tools.run import run

PROGRAM = "gitops-sandbox-commitmsg"


@dataclass(frozen=True)
class Rendered:
    """The message, or the template's error (``removed_field`` set when it uses a field upstream removed)."""

    message: str | None
    error: str = ""
    removed_field: str = ""


def find() -> Path | None:
    found = binaries.find(PROGRAM)
    return found.path if found else None


def render(template: str, data: dict[str, Any], *, program: Path | None = None, timeout: float = 30) -> Rendered:
    """Render ``template`` over ``data`` ({automationObject, fileChanges, values}; see sandbox.gohelpers)."""
    binary = program or binaries.require(PROGRAM)
    completed = run([binary], input_text=json.dumps({"template": template, "data": data}), timeout=timeout)
    try:
        answer = json.loads(completed.stdout)
    except ValueError as err:
        raise SandboxError(f"{PROGRAM} answered something that is not JSON: {completed.stdout[:200]!r}") from err
    if answer.get("message") is not None:
        return Rendered(str(answer["message"]))
    return Rendered(None, str(answer.get("error", "")), str(answer.get("removedField", "")))
