"""Small Go programs the sandbox builds for what Python cannot do faithfully (Go's text/template with Sprig for
ImageUpdateAutomation commit messages), built with ``sandbox setup`` through the module proxy into
``~/.cache/gitops-sandbox/bin/helpers/`` (``binaries.helpers_bin_dir``), where ``binaries.find`` looks for them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sandbox import binaries, gobuild
from sandbox.gohelpers import commitmsg_go

COMMITMSG = "gitops-sandbox-commitmsg"
# The Sprig release image-automation-controller builds with (its go.mod), and the last the module proxy serves.
SPRIG_MODULE = "github.com/Masterminds/sprig/v3"
SPRIG_VERSION = "v3.3.0"
# Bump when the helper's source changes, so that `sandbox setup` builds it again.
RECIPE = 1


@dataclass(frozen=True)
class Helper:
    binary: str
    recipe: gobuild.Recipe


def commitmsg_recipe() -> gobuild.Recipe:
    return gobuild.Recipe(SPRIG_MODULE, SPRIG_VERSION, (gobuild.Program(COMMITMSG, "."),),
                          main_go=commitmsg_go.SOURCE)


HELPERS = (Helper(COMMITMSG, commitmsg_recipe()),)


def _stamp(helper: Helper) -> Path:
    return binaries.helpers_bin_dir() / f".{helper.binary}.json"


def _wanted(helper: Helper) -> dict[str, object]:
    return {"recipe": RECIPE, "module": helper.recipe.module, "version": helper.recipe.version,
            "source": hashlib.sha256(helper.recipe.main_go.encode()).hexdigest()[:16]}


def is_current(helper: Helper) -> bool:
    """The helper is in the cache, built from this source and module version."""
    binary = binaries.helpers_bin_dir() / helper.binary
    stamp = _stamp(helper)
    if not binary.is_file() or not stamp.is_file():
        return False
    try:
        return bool(json.loads(stamp.read_text()) == _wanted(helper))
    except ValueError:
        return False


def build(progress: gobuild.Progress, *, force: bool = False) -> list[Path]:
    """Build every helper that is missing or stale into ``binaries.helpers_bin_dir()``; returns those built."""
    out_dir = binaries.helpers_bin_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for helper in HELPERS:
        if not force and is_current(helper):
            continue
        result = gobuild.build(helper.recipe, out_dir, progress)
        _stamp(helper).write_text(json.dumps(_wanted(helper)))
        built += result.binaries
    return built
