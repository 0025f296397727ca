"""Where scenarios are found: ``$SANDBOX_SCENARIOS_PATH`` (folders separated by ':'), ``./scenarios``, and the
built-in ones shipped next to this package; a scenario is a folder holding scenario.yaml, named by the folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sandbox.errors import InputError
from sandbox.scenario.loader import ScenarioInvalid, load
from sandbox.scenario.model import SCENARIO_FILE, Scenario

BUILTIN = Path(__file__).resolve().parents[2] / "scenarios"


def search_path() -> list[Path]:
    roots = [Path(p) for p in os.environ.get("SANDBOX_SCENARIOS_PATH", "").split(os.pathsep) if p]
    roots += [Path.cwd() / "scenarios", BUILTIN]
    unique: list[Path] = []
    for root in roots:
        resolved = root.resolve()
        if resolved.is_dir() and resolved not in unique:
            unique.append(resolved)
    return unique


def discover() -> list[Path]:
    """The scenario.yaml of every scenario on the search path; the first of two with the same name wins."""
    found: dict[str, Path] = {}
    for root in search_path():
        for file in sorted(root.glob(f"*/{SCENARIO_FILE}")):
            found.setdefault(file.parent.name, file)
    return [found[name] for name in sorted(found)]


def find(name: str) -> Path:
    """The scenario.yaml for ``name``: a scenario folder or file given by path, else a name on the search path."""
    given = Path(name)
    if given.is_file():
        return given
    if (given / SCENARIO_FILE).is_file():
        return given / SCENARIO_FILE
    for file in discover():
        if file.parent.name == name:
            return file
    known = ", ".join(f.parent.name for f in discover()) or "none"
    searched = ", ".join(str(p) for p in search_path()) or "nothing"
    raise InputError(f"no scenario named {name!r} (known: {known}; searched {searched}); list them with "
                     "`sandbox scenarios list`, or give the path of a scenario folder")


def get(name: str) -> Scenario:
    return load(find(name))


def summary(scenario: Scenario) -> dict[str, Any]:
    return {"name": scenario.name, "title": scenario.title, "summary": scenario.summary, "tags": list(scenario.tags),
            "needs": list(scenario.needs), "steps": len(scenario.steps), "file": str(scenario.file), "valid": True}


def summaries() -> list[dict[str, Any]]:
    """One row per scenario on the search path; an invalid one is listed with its first problem."""
    rows = []
    for file in discover():
        try:
            rows.append(summary(load(file)))
        except ScenarioInvalid as err:
            first = str(err.issues[0]) if err.issues else str(err)
            rows.append({"name": file.parent.name, "title": "", "summary": "", "tags": [], "needs": [], "steps": 0,
                         "file": str(file), "valid": False, "error": first})
        except InputError as err:
            rows.append({"name": file.parent.name, "title": "", "summary": "", "tags": [], "needs": [], "steps": 0,
                         "file": str(file), "valid": False, "error": str(err)})
    return rows
