"""Schema of HelmRelease (helm.toolkit.fluxcd.io/v2): install and upgrade a Helm chart, with remediation."""

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
    oci_verify,
    patches,
    reconcile_status,
)
from sandbox.reconciler.apis.definition import AGE, READY, STATUS, Definition
from sandbox.reconciler.apis.schema import (
    Schema,
    array,
    boolean,
    duration,
    free_form,
    int64,
    integer,
    map_of,
    obj,
    required,
    string,
    strings,
    timestamp,
)

_CRDS = ["Skip", "Create", "CreateReplace"]
_SSA_MODES = ["enabled", "disabled", "auto"]


def _strategy() -> Schema:
    return obj(
        "What to do when the action fails.",
        name=required(string("`RemediateOnFailure` (remediate, then wait for a change) or `RetryOnFailure` (retry "
                             "at `retryInterval`).", enum=["RemediateOnFailure", "RetryOnFailure"])),
        retryInterval=duration("How soon to retry with RetryOnFailure."),
    )


def _name(doc: str, max_length: int = 253) -> Schema:
    return string(doc, min_length=1, max_length=max_length)


_CHART_TEMPLATE = obj(
    "A HelmChart the controller creates in the source's namespace, named `<namespace>-<name>`.",
    metadata=common_metadata("Labels and annotations of the HelmChart."),
    spec=required(obj(
        "The HelmChart's spec.",
        chart=required(_name("Chart name, or its path in a GitRepository or Bucket.", 2048)),
        ignoreMissingValuesFiles=boolean("Do not fail when a file in `valuesFiles` is missing."),
        interval=duration("How often to check for a new chart; defaults to the HelmRelease's interval."),
        reconcileStrategy=string("Build a new chart on a new version, or on every new source revision.",
                                 enum=["ChartVersion", "Revision"], default="ChartVersion"),
        sourceRef=required(obj(
            "The source holding the chart.",
            apiVersion=string("API version of the source."),
            kind=required(string("Kind of the source.", enum=["HelmRepository", "GitRepository", "Bucket"])),
            name=required(_name("Name of the source.")),
            namespace=_name("Namespace of the source; defaults to the HelmRelease's.", 63),
        )),
        valuesFiles=strings("Values files merged into the chart's defaults, in order."),
        verify=oci_verify("Verify the chart's signature (OCI HelmRepositories only).", keyless=False),
        version=string("Semantic version range of the chart.", default="*"),
    )),
)

_REMEDIATION_DOC = "How to react when the action fails."

_INSTALL = obj(
    "How to install the release.",
    crds=string("What to do with the chart's CRDs on install (default Create).", enum=_CRDS),
    createNamespace=boolean("Create the target namespace when it does not exist."),
    disableHooks=boolean("Do not run the chart's hooks."),
    disableOpenAPIValidation=boolean("Do not validate rendered manifests against the cluster's OpenAPI schema."),
    disableSchemaValidation=boolean("Do not validate values against the chart's JSON schema."),
    disableTakeOwnership=boolean("Refuse to adopt objects that exist already."),
    disableWait=boolean("Do not wait for the objects to become ready."),
    disableWaitForJobs=boolean("Do not wait for Jobs to complete."),
    remediation=obj(
        _REMEDIATION_DOC,
        ignoreTestFailures=boolean("Do not remediate on failed tests."),
        remediateLastFailure=boolean("Remediate the last failure too when retries run out."),
        retries=integer("Retries before giving up; negative means forever."),
    ),
    replace=boolean("Reuse the name of a deleted release that is still in the history."),
    serverSideApply=boolean("Apply with server-side apply."),
    skipCRDs=boolean("Deprecated: use `crds: Skip`."),
    strategy=_strategy(),
    timeout=duration("Time limit for the install; defaults to `spec.timeout`."),
)

_UPGRADE = obj(
    "How to upgrade the release.",
    chartNameChangeStrategy=string("What to do when the chart's name changes.",
                                   enum=["InPlaceUpdate", "Reinstall"]),
    cleanupOnFail=boolean("Delete objects created by a failed upgrade."),
    crds=string("What to do with the chart's CRDs on upgrade (default Skip).", enum=_CRDS),
    disableHooks=boolean("Do not run the chart's hooks."),
    disableOpenAPIValidation=boolean("Do not validate rendered manifests against the cluster's OpenAPI schema."),
    disableSchemaValidation=boolean("Do not validate values against the chart's JSON schema."),
    disableTakeOwnership=boolean("Refuse to adopt objects that exist already."),
    disableWait=boolean("Do not wait for the objects to become ready."),
    disableWaitForJobs=boolean("Do not wait for Jobs to complete."),
    force=boolean("Replace objects instead of patching them."),
    preserveValues=boolean("Reuse the values of the last release."),
    remediation=obj(
        _REMEDIATION_DOC,
        ignoreTestFailures=boolean("Do not remediate on failed tests."),
        remediateLastFailure=boolean("Remediate the last failure too when retries run out."),
        retries=integer("Retries before giving up; negative means forever."),
        strategy=string("Roll back or uninstall on failure.", enum=["rollback", "uninstall"]),
    ),
    serverSideApply=string("Apply with server-side apply.", enum=_SSA_MODES),
    strategy=_strategy(),
    timeout=duration("Time limit for the upgrade; defaults to `spec.timeout`."),
)

_ROLLBACK = obj(
    "How to roll back.",
    cleanupOnFail=boolean("Delete objects created by a failed rollback."),
    disableHooks=boolean("Do not run the chart's hooks."),
    disableWait=boolean("Do not wait for the objects to become ready."),
    disableWaitForJobs=boolean("Do not wait for Jobs to complete."),
    force=boolean("Replace objects instead of patching them."),
    recreate=boolean("Restart the pods of the release."),
    serverSideApply=string("Apply with server-side apply.", enum=_SSA_MODES),
    timeout=duration("Time limit for the rollback; defaults to `spec.timeout`."),
)

_UNINSTALL = obj(
    "How to uninstall.",
    deletionPropagation=string("How dependents of deleted objects are deleted.",
                               enum=["background", "foreground", "orphan"], default="background"),
    disableHooks=boolean("Do not run the chart's hooks."),
    disableWait=boolean("Do not wait for the objects to be deleted."),
    keepHistory=boolean("Keep the release history."),
    timeout=duration("Time limit for the uninstall; defaults to `spec.timeout`."),
)

_TEST = obj(
    "Run the chart's tests after install and upgrade.",
    enable=boolean("Run the tests."),
    filters=array(obj(
        exclude=boolean("Skip this test instead of running only it."),
        name=required(_name("Name of the test.")),
    ), "Which tests to run or skip."),
    ignoreFailures=boolean("Do not fail the release when tests fail."),
    timeout=duration("Time limit for each test; defaults to `spec.timeout`."),
)

_SNAPSHOT = obj(
    name=required(string("Release name.")),
    namespace=required(string("Release namespace.")),
    version=required(integer("Release version.")),
    status=required(string("Release status.")),
    chartName=required(string("Chart name.")),
    chartVersion=required(string("Chart version.")),
    appVersion=string("App version of the chart."),
    configDigest=required(string("Digest of the values.")),
    digest=required(string("Digest of the release.")),
    firstDeployed=required(timestamp("First deployment.")),
    lastDeployed=required(timestamp("Last deployment.")),
    deleted=timestamp("When the release was uninstalled."),
    action=string("The Helm action of this release."),
    apiVersion=string("Version of the snapshot format."),
    ociDigest=string("Digest of the OCI artifact the chart came from."),
    testHooks=map_of(obj(
        lastCompleted=timestamp("When the test last finished."),
        lastStarted=timestamp("When the test last started."),
        phase=string("The test's outcome."),
    ), "The test hooks of the release, by name."),
)

HELM_RELEASE = Definition(
    kind=kinds.HELMRELEASE,
    doc="A Helm release: a chart installed with values, kept upgraded and remediated.",
    spec=obj(
        "The chart, its values, and how to install, upgrade, test, roll back and uninstall it.",
        chart=_CHART_TEMPLATE,
        chartRef=obj(
            "An OCIRepository, HelmChart or ExternalArtifact holding the chart (instead of `chart`).",
            apiVersion=string("API version of the referent."),
            kind=required(string("Kind of the referent.", enum=["OCIRepository", "HelmChart", "ExternalArtifact"])),
            name=required(_name("Name of the referent.")),
            namespace=_name("Namespace of the referent; defaults to the HelmRelease's.", 63),
        ),
        commonMetadata=common_metadata("Labels and annotations added to every object of the release."),
        dependsOn=depends_on("HelmReleases that must be Ready before this one is installed."),
        driftDetection=obj(
            "Detect and correct changes made to the release's objects outside Helm.",
            ignore=ignore_rules("Fields excluded from drift detection."),
            mode=string("`enabled` corrects drift, `warn` only reports it.", enum=["enabled", "warn", "disabled"]),
        ),
        healthCheckExprs=health_check_exprs(),
        install=_INSTALL,
        interval=required(duration("How often to check the release for changes and drift.")),
        kubeConfig=kube_config("Install into a remote cluster whose kubeconfig is in this Secret or ConfigMap."),
        maxHistory=integer("Release versions kept; 0 keeps all (default 5)."),
        persistentClient=boolean("Reuse one Kubernetes client across actions (default true)."),
        postRenderStrategy=string("Which manifests post-renderers see: without hooks, all together, or "
                                  "separately.", enum=["nohooks", "combined", "separate"]),
        postRenderers=array(obj(kustomize=obj(
            "Kustomize patches and image rewrites of the rendered manifests.",
            images=images("Image rewrites."),
            patches=patches("Strategic merge or JSON6902 patches."),
        )), "Transformations of the rendered manifests, in order."),
        releaseName=_name("Helm release name; defaults to `[<targetNamespace>-]<name>`.", 53),
        rollback=_ROLLBACK,
        serviceAccountName=_name("ServiceAccount to impersonate for Helm actions."),
        storageNamespace=_name("Namespace of the Helm storage; defaults to the HelmRelease's.", 63),
        suspend=boolean("Stop reconciling this object until set back to false."),
        targetNamespace=_name("Namespace the release is installed into; defaults to the HelmRelease's.", 63),
        test=_TEST,
        timeout=duration("Time limit for each Helm action (default 5m)."),
        uninstall=_UNINSTALL,
        upgrade=_UPGRADE,
        values=free_form("Values for the chart, on top of `valuesFrom`."),
        valuesFrom=array(obj(
            kind=required(string("Kind of the object holding values.", enum=["Secret", "ConfigMap"])),
            literal=boolean("Use the value as a literal string at `targetPath`, not parsed as YAML."),
            name=required(_name("Its name, in the HelmRelease's namespace.")),
            optional=boolean("Do not fail when it is missing."),
            targetPath=string("Values path to set the value at instead of merging it.",
                              pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$", max_length=250),
            valuesKey=string("Data key holding the values; defaults to `values.yaml`.",
                             pattern=r"^[\-._a-zA-Z0-9]+$", max_length=253),
        ), "ConfigMaps and Secrets whose values are merged in order."),
        waitStrategy=obj(
            "How readiness is awaited.",
            name=required(string("`poller` (kstatus) or `legacy` (Helm 3's wait).", enum=["poller", "legacy"])),
        ),
    ),
    status=reconcile_status(
        failures=int64("Failures since the last success."),
        helmChart=string("The HelmChart made from `spec.chart`, as `<namespace>/<name>`."),
        history=array(_SNAPSHOT, "The latest releases, newest first."),
        installFailures=int64("Failed installs since the last success."),
        inventory=inventory(),
        lastAttemptedConfigDigest=string("Digest of the values last attempted."),
        lastAttemptedGeneration=int64("Generation of the spec last attempted."),
        lastAttemptedReleaseAction=string("The last release action attempted.", enum=["install", "upgrade"]),
        lastAttemptedReleaseActionDuration=string("How long the last release action took."),
        lastAttemptedRevision=string("The chart version last attempted."),
        lastAttemptedRevisionDigest=string("Digest of the chart artifact last attempted."),
        lastAttemptedValuesChecksum=string("Deprecated checksum of the values last attempted."),
        lastHandledForceAt=string("The last `reconcile.fluxcd.io/forceAt` annotation value acted upon."),
        lastHandledResetAt=string("The last `reconcile.fluxcd.io/resetAt` annotation value acted upon."),
        lastReleaseRevision=integer("Deprecated: the last release version."),
        observedCommonMetadataDigest=string("Digest of the `commonMetadata` last applied."),
        observedPostRenderersDigest=string("Digest of the `postRenderers` last applied."),
        storageNamespace=_name("Namespace of the Helm storage of the release.", 63),
        upgradeFailures=int64("Failed upgrades since the last success."),
    ),
    columns=(AGE, READY, STATUS),
)

DEFINITIONS = (HELM_RELEASE,)
