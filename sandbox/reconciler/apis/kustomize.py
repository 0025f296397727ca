"""Schema of Kustomization (kustomize.toolkit.fluxcd.io/v1): build a path of a source with kustomize and apply it."""

from __future__ import annotations

from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.common import (
    common_metadata,
    depends_on,
    health_check_exprs,
    ignore_rules,
    images,
    inventory,
    kube_config,
    local_ref,
    patches,
    reconcile_status,
)
from sandbox.reconciler.apis.definition import AGE, READY, STATUS, Definition
from sandbox.reconciler.apis.schema import (
    array,
    boolean,
    duration,
    int64,
    obj,
    required,
    string,
    string_map,
    strings,
    timestamp,
)

KUSTOMIZATION = Definition(
    kind=kinds.KUSTOMIZATION,
    doc="A path in a source, built with kustomize and applied to the cluster with server-side apply.",
    spec=obj(
        "What to build, how, and how to apply it.",
        buildMetadata=array(string(enum=["originAnnotations", "transformerAnnotations"]),
                            "Kustomize build metadata to add to the objects."),
        commonMetadata=common_metadata("Labels and annotations added to every applied object."),
        components=strings("Kustomize components to include, relative to `path`."),
        decryption=obj(
            "Decrypt SOPS-encrypted manifests before applying them.",
            provider=required(string("Decryption provider.", enum=["sops"])),
            secretRef=local_ref("Secret with the keys: entries ending `.agekey`, `.asc`, or `sops.*` settings."),
            serviceAccountName=string("ServiceAccount whose identity reaches the cloud KMS."),
        ),
        deletionPolicy=string("What happens to the applied objects when the Kustomization is deleted; "
                              "defaults to following `prune`.",
                              enum=["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]),
        dependsOn=depends_on("Kustomizations that must be Ready before this one is applied."),
        force=boolean("Recreate objects whose immutable fields changed.", default=False),
        healthCheckExprs=health_check_exprs(),
        healthChecks=array(obj(
            apiVersion=string("API version of the object."),
            kind=required(string("Kind of the object.")),
            name=required(string("Name of the object.")),
            namespace=string("Namespace of the object."),
        ), "Objects whose health gates Ready (all applied objects when `wait` is true)."),
        ignore=ignore_rules("Fields of the applied objects left to other managers."),
        ignoreMissingComponents=boolean("Skip components that do not exist instead of failing."),
        images=images("Image names, tags or digests to rewrite in the built manifests."),
        interval=required(duration("How often to build and apply, correcting drift.")),
        kubeConfig=kube_config(),
        namePrefix=string("Prefix added to every object's name.", min_length=1, max_length=200),
        nameSuffix=string("Suffix added to every object's name.", min_length=1, max_length=200),
        patches=patches("Strategic merge or JSON6902 patches applied to the built manifests."),
        path=string("Path in the source's artifact to build; defaults to its root."),
        postBuild=obj(
            "Variable substitution after the build: `${var}` bash-style.",
            substitute=string_map("Variables and their values; they win over `substituteFrom`."),
            substituteFrom=array(obj(
                kind=required(string("Kind of the object holding variables.", enum=["Secret", "ConfigMap"])),
                name=required(string("Its name, in the Kustomization's namespace.", min_length=1, max_length=253)),
                optional=boolean("Do not fail when it is missing.", default=False),
            ), "ConfigMaps and Secrets whose entries become variables; later ones win."),
            substituteStrategy=string("Substitute only when a variable is set, or always.",
                                      enum=["WithVariables", "Always"]),
        ),
        prune=required(boolean("Delete objects applied earlier that are no longer in the build.")),
        retryInterval=duration("How soon to retry after a failure; defaults to `interval`."),
        serviceAccountName=string("ServiceAccount to impersonate when applying."),
        sourceRef=required(obj(
            "The source whose artifact holds the manifests.",
            apiVersion=string("API version of the source."),
            kind=required(string("Kind of the source.",
                                 enum=["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"])),
            name=required(string("Name of the source.")),
            namespace=string("Namespace of the source; defaults to the Kustomization's."),
        )),
        suspend=boolean("Stop reconciling this object until set back to false."),
        targetNamespace=string("Namespace set on every namespaced object built.", min_length=1, max_length=63),
        timeout=duration("Time limit for build, apply and health checks; defaults to `interval`."),
        wait=boolean("Wait for every applied object to become healthy (overrides healthChecks)."),
    ),
    status=reconcile_status(
        history=array(obj(
            digest=required(string("Digest of the applied objects.")),
            firstReconciled=required(timestamp("First reconciliation of this digest.")),
            lastReconciled=required(timestamp("Last reconciliation of this digest.")),
            lastReconciledDuration=required(string("How long the last reconciliation took.")),
            lastReconciledStatus=required(string("Outcome of the last reconciliation.")),
            metadata=string_map("Details such as the source revision."),
            totalReconciliations=required(int64("How many times this digest was reconciled.")),
        ), "The last reconciliations, newest first."),
        inventory=inventory(),
        lastAppliedOriginRevision=string("The origin revision (from OCI annotations) last applied."),
        lastAppliedRevision=string("The source revision last applied successfully."),
        lastAttemptedRevision=string("The source revision last attempted."),
    ),
    columns=(AGE, READY, STATUS),
)

DEFINITIONS = (KUSTOMIZATION,)
