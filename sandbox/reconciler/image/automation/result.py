"""What an update changed, shaped as image-automation-controller's ``update.Result``: file → object → changes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class ObjectIdentifier:
    """The object a change was made in (kyaml's ResourceIdentifier); a kustomization.yaml may have no name."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""


@dataclass(frozen=True)
class Change:
    old_value: str
    new_value: str
    setter: str  # the marker's policy reference, e.g. ``apps:podinfo:tag``


@dataclass
class Result:
    """``file_changes``: path (relative to the update path) → object → the changes made in it, in file order."""

    file_changes: dict[str, dict[ObjectIdentifier, list[Change]]] = field(default_factory=dict)

    def add(self, file: str, obj: ObjectIdentifier, change: Change) -> None:
        self.file_changes.setdefault(file, {}).setdefault(obj, []).append(change)

    def changes(self) -> list[Change]:
        """Every distinct change, whatever file or object it was made in."""
        seen: list[Change] = []
        for objects in self.file_changes.values():
            for changes in objects.values():
                seen += [change for change in changes if change not in seen]
        return seen

    def objects(self) -> dict[ObjectIdentifier, list[Change]]:
        """The changes of every object, whatever file it is in (a later file wins, as upstream's map)."""
        merged: dict[ObjectIdentifier, list[Change]] = {}
        for objects in self.file_changes.values():
            merged.update(objects)
        return merged

    def template_data(self) -> dict[str, list[dict[str, object]]]:
        """``fileChanges`` as the commit-message helper reads it (object keys cannot be JSON map keys)."""
        return {file: [{"object": {"apiVersion": obj.api_version, "kind": obj.kind, "name": obj.name,
                                   "namespace": obj.namespace},
                        "changes": [{"OldValue": c.old_value, "NewValue": c.new_value, "Setter": c.setter}
                                    for c in changes]}
                       for obj, changes in objects.items()]
                for file, objects in self.file_changes.items()}
