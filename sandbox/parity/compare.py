"""Every difference between two normalised runs of one scenario (see ``snapshot``), by kind: outcome, condition,
revision, inventory, label, field-manager, event, object. Pure: the runs are plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("outcome", "object", "condition", "revision", "inventory", "label", "field-manager", "event")


@dataclass(frozen=True)
class Difference:
    scenario: str
    step: int | None  # None: the run as a whole
    kind: str  # one of KINDS
    subject: str  # Kind/name, or the event / field concerned
    field: str
    ours: str
    flux: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "(none)"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "(none)"
    return str(value)


def compare_runs(scenario: str, ours: dict[str, Any], flux: dict[str, Any]) -> list[Difference]:
    """Differences between our run and upstream Flux's of ``scenario`` (each: {"steps": [...], "outcome": {...}})."""
    found: list[Difference] = []
    for field in ("passed", "failed_step", "error"):
        if ours.get("outcome", {}).get(field) != flux.get("outcome", {}).get(field):
            found.append(Difference(scenario, None, "outcome", "scenario", field,
                                    _show(ours.get("outcome", {}).get(field)),
                                    _show(flux.get("outcome", {}).get(field))))
    flux_steps = {s["step"]: s for s in flux.get("steps", [])}
    seen: set[tuple[str, str, str, str, str]] = set()
    for step in ours.get("steps", []):
        other = flux_steps.get(step["step"])
        if other is None:
            continue
        for each in compare_step(scenario, step["step"], step, other):
            # A difference that persists (an event stays listed, a message stays the same) is reported once, at
            # the first step that shows it.
            key = (each.kind, each.subject, each.field, each.ours, each.flux)
            if key not in seen:
                seen.add(key)
                found.append(each)
    return found


def compare_step(scenario: str, index: int, ours: dict[str, Any], flux: dict[str, Any]) -> list[Difference]:
    found: list[Difference] = []

    def add(kind: str, subject: str, field: str, left: Any, right: Any) -> None:
        if left != right:
            found.append(Difference(scenario, index, kind, subject, field, _show(left), _show(right)))

    ours_objects, flux_objects = ours.get("objects", {}), flux.get("objects", {})
    for key in sorted(set(ours_objects) | set(flux_objects)):
        left, right = ours_objects.get(key), flux_objects.get(key)
        if left is None or right is None:
            add("object", key, "exists", left is not None, right is not None)
            continue
        conditions = sorted(set(left["conditions"]) | set(right["conditions"]))
        for ctype in conditions:
            a, b = left["conditions"].get(ctype), right["conditions"].get(ctype)
            if a is None or b is None:
                add("condition", key, ctype, a, b)
                continue
            for part in ("status", "reason", "message"):
                add("condition", key, f"{ctype}.{part}", a.get(part), b.get(part))
        for field in sorted(set(left["revisions"]) | set(right["revisions"])):
            add("revision", key, field, left["revisions"].get(field), right["revisions"].get(field))
        if "inventory" in left or "inventory" in right:
            add("inventory", key, "entries", left.get("inventory"), right.get("inventory"))
    ours_applied, flux_applied = ours.get("applied", {}), flux.get("applied", {})
    for key in sorted(set(ours_applied) & set(flux_applied)):
        add("label", key, "labels", ours_applied[key]["labels"], flux_applied[key]["labels"])
        add("field-manager", key, "managers", ours_applied[key]["field_managers"],
            flux_applied[key]["field_managers"])
    ours_events, flux_events = set(ours.get("events", [])), set(flux.get("events", []))
    for event in sorted(ours_events - flux_events):
        found.append(Difference(scenario, index, "event", event.split(" | ")[0], "only ours", event, "(absent)"))
    for event in sorted(flux_events - ours_events):
        found.append(Difference(scenario, index, "event", event.split(" | ")[0], "only flux", "(absent)", event))
    return found


def counts(differences: list[Difference]) -> dict[str, int]:
    """How many differences of each kind (every kind listed, zero included)."""
    result = dict.fromkeys(KINDS, 0)
    for each in differences:
        result[each.kind] = result.get(each.kind, 0) + 1
    return result
