"""Errors of the Kustomization pipeline; each carries the Flux reason the controller puts on Ready=False."""

from __future__ import annotations

from sandbox.errors import InputError


class BuildError(InputError):
    """The revision cannot be built: the message names the file or object and the problem."""

    reason = "BuildFailed"


class PathNotFound(BuildError):
    """``spec.path`` does not exist in the source (Flux reports this as an artifact problem)."""

    reason = "ArtifactFailed"


class SubstitutionError(BuildError):
    """``postBuild`` variable substitution failed; the message never contains a variable's value."""
