"""The schema of Sealed Secrets' SealedSecret (bitnami.com/v1alpha1), field for field as upstream's CRD.

Not a Flux kind: it is kept out of ``kinds.ALL`` and ``crds.DEFINITIONS`` (which mirror Flux's CRDs) and installed
beside them.
"""

from __future__ import annotations

from typing import Any

from sandbox.reconciler.apis.definition import AGE, Column, Definition
from sandbox.reconciler.apis.kinds import Kind
from sandbox.reconciler.apis.schema import (
    Schema,
    array,
    boolean,
    int64,
    map_of,
    obj,
    required,
    string,
    string_map,
    strings,
    timestamp,
)

SEALEDSECRET = Kind("bitnami.com", "v1alpha1", "SealedSecret", "sealedsecrets")

# Upstream's columns read the first condition, which is the only one (Synced).
STATUS = Column("Status", ".status.conditions[0].message")
SYNCED = Column("Synced", ".status.conditions[0].status")


def _template() -> Schema:
    metadata: Schema = obj(
        "Metadata of the Secret to create: labels, annotations (name and namespace are the SealedSecret's).",
        annotations=string_map(), finalizers=strings(), labels=string_map(), name=string(), namespace=string(),
    )
    metadata.update({"nullable": True, "x-kubernetes-preserve-unknown-fields": True})
    data = map_of(string(), "Keys templated from the decrypted data (Go templates); `null` drops a key.")
    data["nullable"] = True
    return obj(
        "The Secret to create from this SealedSecret.",
        data=data,
        immutable=boolean("Create the Secret immutable."),
        metadata=metadata,
        type=string("The Secret's type (`Opaque` when empty)."),
    )


def _spec() -> Schema:
    encrypted = map_of(string(), "Each key's value sealed with the controller's public key (base64).")
    encrypted["x-kubernetes-preserve-unknown-fields"] = True
    return obj(
        "The sealed values and the Secret to make of them.",
        data=string("Deprecated: the whole Secret sealed as one value; use encryptedData.", format="byte"),
        encryptedData=required(encrypted),
        template=_template(),
    )


def _status() -> Schema:
    condition = obj(
        "One condition (upstream sets only `Synced`).",
        lastTransitionTime=timestamp("When the status last changed."),
        lastUpdateTime=timestamp("When the condition was last written."),
        message=string("Why unsealing failed; empty when it worked."),
        reason=string("Machine-readable reason."),
        status=required(string("True, False or Unknown.")),
        type=required(string("The condition's type.")),
    )
    return obj("What the controller last did.",
               conditions=array(condition, "The conditions; `Synced` tells whether the Secret was written."),
               observedGeneration=int64("The generation last reconciled."))


DEFINITION = Definition(
    kind=SEALEDSECRET,
    doc="A Secret sealed (encrypted) with the controller's key; the controller unseals it into a Secret.",
    spec=_spec(),
    status=_status(),
    columns=(STATUS, SYNCED, AGE),
)


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition (``spec`` required, as upstream's)."""
    result = DEFINITION.crd()
    result["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["required"] = ["spec"]
    return result
