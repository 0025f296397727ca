"""One kind's definition (names, schemas, printer columns) and its rendering as a CustomResourceDefinition."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sandbox.reconciler.apis.kinds import Kind
from sandbox.reconciler.apis.schema import Schema, object_of, string

LABELS = {"app.kubernetes.io/part-of": "gitops-sandbox", "app.kubernetes.io/component": "reconciler"}


@dataclass(frozen=True)
class Column:
    """A column `kubectl get` prints for the kind."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0  # 1 = only with `-o wide`

    def render(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            column["priority"] = self.priority
        return column


READY = Column("Ready", '.status.conditions[?(@.type=="Ready")].status')
STATUS = Column("Status", '.status.conditions[?(@.type=="Ready")].message')
AGE = Column("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class Definition:
    """What the apiserver needs to serve a kind: its names, the spec and status schemas, and printer columns.

    ``status=None`` means the kind has no status subresource (Flux's static Provider and Alert).
    """

    kind: Kind
    doc: str
    spec: Schema
    status: Schema | None
    columns: tuple[Column, ...] = field(default_factory=tuple)

    def schema(self) -> Schema:
        """The whole object's OpenAPI schema, a fresh copy."""
        properties: dict[str, Schema] = {
            "apiVersion": string("Versioned schema of this representation of an object."),
            "kind": string("REST resource this object represents."),
            "metadata": {"type": "object"},
            "spec": copy.deepcopy(self.spec),
        }
        if self.status is not None:
            properties["status"] = copy.deepcopy(self.status)
        return object_of(self.doc, properties)

    def crd(self) -> dict[str, Any]:
        """The CustomResourceDefinition (apiextensions.k8s.io/v1) as a plain dict."""
        kind = self.kind
        names: dict[str, Any] = {"kind": kind.kind, "listKind": kind.list_kind, "plural": kind.plural,
                                 "singular": kind.singular}
        if kind.short_names:
            names["shortNames"] = list(kind.short_names)
        if kind.categories:
            names["categories"] = list(kind.categories)
        version: dict[str, Any] = {
            "name": kind.version,
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": self.schema()},
            "subresources": {"status": {}} if self.status is not None else {},
        }
        if self.columns:
            version["additionalPrinterColumns"] = [column.render() for column in self.columns]
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": kind.crd_name, "labels": dict(LABELS)},
            "spec": {"group": kind.group, "names": names, "scope": "Namespaced", "versions": [version]},
        }
