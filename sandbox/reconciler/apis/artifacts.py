"""Schemas of the generated-artifact kinds: ExternalArtifact (source.toolkit.fluxcd.io/v1) and source-watcher's
ArtifactGenerator (source.extensions.fluxcd.io/v1beta1), which builds ExternalArtifacts from other sources."""

from __future__ import annotations

from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.common import artifact, conditions
from sandbox.reconciler.apis.definition import AGE, READY, STATUS, Column, Definition
from sandbox.reconciler.apis.schema import Schema, array, obj, object_of, required, string, string_map

# An "@<alias>" reference to a source of the generator.
_ALIAS_REF = r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$"
# "@artifact/<path>" with no "." or ".." segment (upstream's pattern).
_DESTINATION = r"^@artifact/([^/]{0,1}|[^./][^/]|[.][^./]|[^/]{3,})(/([^/]{0,1}|[^./][^/]|[.][^./]|[^/]{3,}))*$"

EXTERNAL_ARTIFACT = Definition(
    kind=kinds.EXTERNALARTIFACT,
    doc="An artifact produced outside source-controller (e.g. by an ArtifactGenerator), consumed like a source.",
    spec=obj(
        "Which object the artifact is generated for.",
        sourceRef=obj(
            "The custom resource for which the artifact is generated.",
            apiVersion=string("API version of the referent."),
            kind=required(string("Kind of the referent.")),
            name=required(string("Name of the referent.")),
            namespace=string("Namespace of the referent; defaults to this object's namespace."),
        ),
    ),
    status=object_of("The artifact and its readiness.", {
        "artifact": artifact("The artifact the producer published."),
        "conditions": conditions(),
    }),
    columns=(AGE, READY, STATUS, Column("Source", ".spec.sourceRef.name")),
)


def _copy() -> Schema:
    return object_of("One copy operation.", {
        "exclude": array(string(max_length=1024), "Glob patterns of files and directories matched by `from` to "
                         "leave out; a pattern without `/` matches the name at any depth.", max_items=100),
        "from": required(string("`@<alias>/<glob>`: the files of a source to copy.",
                                pattern=r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$", min_length=1, max_length=1024)),
        "strategy": string("`Overwrite` (the default) replaces existing files, `Merge` merges YAML as Helm merges "
                           "values, `Extract` unpacks tarballs.", enum=["Overwrite", "Merge", "Extract"]),
        "to": required(string("`@artifact/<path>`: where in the generated artifact; a trailing `/` means a "
                              "directory.", pattern=_DESTINATION, min_length=1, max_length=1024)),
    })


ARTIFACT_GENERATOR = Definition(
    kind=kinds.ARTIFACTGENERATOR,
    doc="Composes or splits source artifacts into ExternalArtifacts.",
    spec=obj(
        "The sources and the artifacts to build from them.",
        artifacts=required(array(obj(
            "One ExternalArtifact to generate.",
            copy=required(array(_copy(), "Copy operations, applied in order (later files overwrite earlier ones).",
                                min_items=1)),
            name=required(string("Name of the ExternalArtifact.", min_length=1, max_length=253)),
            originRevision=string("`@<alias>`: the source whose origin revision (or revision) is recorded as the "
                                  "artifact's `org.opencontainers.image.revision`.", pattern=_ALIAS_REF,
                                  max_length=64),
            revision=string("`@<alias>`: use that source's revision; defaults to `latest@<digest>`.",
                            pattern=_ALIAS_REF, max_length=64),
        ), "The ExternalArtifacts to generate.", min_items=1, max_items=1000)),
        commonMetadata=obj("Labels and annotations for every generated ExternalArtifact.",
                           annotations=string_map("Annotations to add."), labels=string_map("Labels to add.")),
        pathPattern=string("`@<alias>/<pattern>` with named captures usable in the artifacts' fields.",
                           pattern=r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$", max_length=1024),
        sources=required(array(obj(
            "A source whose artifact is an input.",
            alias=required(string("Name of the source in `@<alias>` references.",
                                  pattern=r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$", max_length=63)),
            kind=required(string("Kind of the source.", enum=["Bucket", "GitRepository", "OCIRepository",
                                                              "HelmChart", "ExternalArtifact"])),
            name=required(string("Name of the source.", pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
                                 max_length=253)),
            namespace=string("Namespace of the source; defaults to the generator's.",
                             pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length=1, max_length=63),
        ), "The sources the artifacts are built from.", min_items=1, max_items=1000)),
    ),
    status=object_of("What the generator last observed and produced.", {
        "conditions": conditions(),
        "inventory": array(obj(
            "A generated ExternalArtifact and its digest.",
            digest=required(string("Digest of the artifact.")),
            filename=required(string("File name of the artifact in storage.")),
            name=required(string("Name of the ExternalArtifact.")),
            namespace=required(string("Namespace of the ExternalArtifact.")),
        ), "The generated ExternalArtifacts."),
        "lastHandledReconcileAt": string("The last `reconcile.fluxcd.io/requestedAt` annotation value acted upon."),
        "observedSourcesDigest": string("Digest of the state of every source, as last built."),
    }),
    columns=(AGE, READY, STATUS),
)

DEFINITIONS = (EXTERNAL_ARTIFACT, ARTIFACT_GENERATOR)
