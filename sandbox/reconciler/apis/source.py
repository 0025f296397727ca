"""Schemas of the source kinds (source.toolkit.fluxcd.io/v1): GitRepository, HelmRepository, HelmChart and
OCIRepository."""

from __future__ import annotations

from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.common import (
    access_from,
    artifact,
    git_ref,
    local_ref,
    oci_verify,
    reconcile_status,
)
from sandbox.reconciler.apis.definition import AGE, READY, STATUS, Column, Definition
from sandbox.reconciler.apis.schema import (
    Schema,
    array,
    boolean,
    duration,
    obj,
    required,
    string,
    strings,
    timeout,
)

URL = Column("URL", ".spec.url")

_PROVIDER_DOC = "Cloud provider whose workload identity authenticates to the registry."


def _include() -> Schema:
    return obj(
        fromPath=string("Path in the included artifact to copy from; defaults to its root."),
        repository=required(local_ref("The GitRepository whose artifact is included.")),
        toPath=string("Path to copy to; defaults to the included repository's name."),
    )


GIT_REPOSITORY = Definition(
    kind=kinds.GITREPOSITORY,
    doc="A Git repository the reconciler fetches at an interval and packages as an artifact.",
    spec=obj(
        "Where and how to fetch the repository.",
        ignore=string("Paths to leave out of the artifact, in .gitignore syntax (replaces the default exclusions)."),
        include=array(_include(), "Other GitRepositories' artifacts to copy into this one."),
        interval=required(duration("How often to check the repository for new commits.")),
        provider=string("Provider used to authenticate with a cloud identity; defaults to `generic`.",
                        enum=["generic", "aws", "azure", "github"]),
        proxySecretRef=local_ref("Secret with `address`, `username`, `password` of an HTTP/S proxy."),
        recurseSubmodules=boolean("Also clone the repository's submodules."),
        ref=git_ref("Which branch, tag, semver range, ref name or commit to check out."),
        secretRef=local_ref("Secret with credentials: `username`/`password`, `bearerToken`, or an SSH `identity` "
                            "and `known_hosts`."),
        serviceAccountName=string("ServiceAccount whose identity authenticates to the cloud provider."),
        sparseCheckout=strings("Only check out these directories."),
        suspend=boolean("Stop reconciling this object until set back to false."),
        timeout=timeout("Time limit for Git operations.", default="60s"),
        url=required(string("Repository address: `http://`, `https://` or `ssh://`.",
                            pattern=r"^(http|https|ssh)://.*$")),
        verify=obj(
            "Verify the OpenPGP or SSH signature of the commit or tag checked out.",
            mode=string("What to verify: the HEAD commit, the tag, or both.",
                        enum=["head", "HEAD", "Tag", "TagAndHEAD"], default="HEAD"),
            secretRef=required(local_ref("Secret with the trusted public keys.")),
        ),
    ),
    status=reconcile_status(
        artifact=artifact(),
        includedArtifacts=array(artifact("An included artifact."), "The artifacts of `spec.include`."),
        observedIgnore=string("The `spec.ignore` the artifact was built with."),
        observedInclude=array(_include(), "The `spec.include` the artifact was built with."),
        observedRecurseSubmodules=boolean("The `spec.recurseSubmodules` the artifact was built with."),
        observedSparseCheckout=strings("The `spec.sparseCheckout` the artifact was built with."),
        sourceVerificationMode=string("The verification mode last applied."),
    ),
    columns=(URL, AGE, READY, STATUS),
)

HELM_REPOSITORY = Definition(
    kind=kinds.HELMREPOSITORY,
    doc="A Helm chart repository (an HTTP index, or an OCI registry) charts are fetched from.",
    spec=obj(
        "Where the repository is and how to reach it.",
        accessFrom=access_from(),
        certSecretRef=local_ref("Secret with `ca.crt`, `tls.crt` and `tls.key` for TLS."),
        insecure=boolean("Allow plain HTTP to an OCI registry."),
        interval=duration("How often to download the repository index (ignored for OCI)."),
        passCredentials=boolean("Send the credentials also to hosts other than the repository's."),
        provider=string(_PROVIDER_DOC, enum=["generic", "aws", "azure", "gcp"], default="generic"),
        secretRef=local_ref("Secret with `username`/`password` (and TLS keys)."),
        suspend=boolean("Stop reconciling this object until set back to false."),
        timeout=timeout("Time limit for index downloads and OCI operations."),
        type=string("`default` for an HTTP repository, `oci` for an OCI registry.", enum=["default", "oci"]),
        url=required(string("Repository address.", pattern=r"^(http|https|oci)://.*$")),
    ),
    status=reconcile_status(
        artifact=artifact("The downloaded repository index."),
        url=string("Address the index artifact is served at."),
    ),
    columns=(URL, AGE, READY, STATUS),
)

HELM_CHART = Definition(
    kind=kinds.HELMCHART,
    doc="A Helm chart taken from a HelmRepository, GitRepository or Bucket and packaged as an artifact.",
    spec=obj(
        "Which chart, in which version, from which source.",
        chart=required(string("Chart name in a HelmRepository, or its path in a GitRepository or Bucket.")),
        ignoreMissingValuesFiles=boolean("Do not fail when a file in `valuesFiles` is missing."),
        interval=required(duration("How often to check the source for a new chart.")),
        reconcileStrategy=string("When to build a new artifact from a Git or Bucket source: on a new chart "
                                 "version, or on every new source revision.",
                                 enum=["ChartVersion", "Revision"], default="ChartVersion"),
        sourceRef=required(obj(
            "The source holding the chart.",
            apiVersion=string("API version of the source."),
            kind=required(string("Kind of the source.", enum=["HelmRepository", "GitRepository", "Bucket"])),
            name=required(string("Name of the source.")),
        )),
        suspend=boolean("Stop reconciling this object until set back to false."),
        valuesFiles=strings("Values files to merge into the chart's default values, in order."),
        verify=oci_verify("Verify the chart's signature (OCI HelmRepositories only)."),
        version=string("Semantic version range of the chart (HelmRepository sources only).", default="*"),
    ),
    status=reconcile_status(
        artifact=artifact("The packaged chart."),
        observedChartName=string("The chart name last resolved."),
        observedSourceArtifactRevision=string("The source's artifact revision the chart was built from."),
        observedValuesFiles=strings("The values files found and merged."),
        url=string("Address the chart artifact is served at."),
    ),
    columns=(Column("Chart", ".spec.chart"), Column("Version", ".spec.version"),
             Column("Source Kind", ".spec.sourceRef.kind"), Column("Source Name", ".spec.sourceRef.name"),
             AGE, READY, STATUS),
)


def _layer_selector(doc: str) -> Schema:
    return obj(
        doc,
        mediaType=string("Media type of the layer to take; defaults to the first layer."),
        operation=string("`extract` the layer's tarball, or `copy` it as is.", enum=["extract", "copy"]),
    )


OCI_REPOSITORY = Definition(
    kind=kinds.OCIREPOSITORY,
    doc="An OCI artifact (manifests or a chart in a container registry) fetched at an interval.",
    spec=obj(
        "Which artifact, and how to pull it.",
        certSecretRef=local_ref("Secret with `ca.crt`, `tls.crt` and `tls.key` for TLS."),
        ignore=string("Paths to leave out of the artifact, in .gitignore syntax."),
        insecure=boolean("Allow plain HTTP to the registry."),
        interval=required(duration("How often to check the registry for a new artifact.")),
        layerSelector=_layer_selector("Which layer of the artifact to use, and how."),
        provider=string(_PROVIDER_DOC, enum=["generic", "aws", "azure", "gcp"], default="generic"),
        proxySecretRef=local_ref("Secret with `address`, `username`, `password` of an HTTP/S proxy."),
        ref=obj(
            "Which tag, semver range or digest to pull; defaults to the `latest` tag.",
            digest=string("Digest to pull; takes precedence over the rest."),
            semver=string("Semantic version range over the tags."),
            semverFilter=string("Regular expression the tags considered by `semver` must match."),
            tag=string("Tag to pull."),
        ),
        secretRef=local_ref("Secret of type kubernetes.io/dockerconfigjson with registry credentials."),
        serviceAccountName=string("ServiceAccount whose image pull secrets authenticate to the registry."),
        suspend=boolean("Stop reconciling this object until set back to false."),
        timeout=timeout("Time limit for registry operations.", default="60s"),
        url=required(string("Artifact address, `oci://<host>/<repository>`.", pattern=r"^oci://.*$")),
        verify=oci_verify("Verify the artifact's signature with cosign or notation.", trusted_root=True),
    ),
    status=reconcile_status(
        artifact=artifact(),
        observedIgnore=string("The `spec.ignore` the artifact was built with."),
        observedLayerSelector=_layer_selector("The `spec.layerSelector` the artifact was built with."),
        url=string("Address the artifact is served at."),
    ),
    columns=(URL, READY, STATUS, AGE),
)

DEFINITIONS = (GIT_REPOSITORY, HELM_REPOSITORY, HELM_CHART, OCI_REPOSITORY)
