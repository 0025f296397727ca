"""Schema pieces every Flux kind shares: references, conditions, artifacts, the reconcile status, kustomize bits."""

from __future__ import annotations

from sandbox.reconciler.apis.schema import (
    Required,
    Schema,
    array,
    int64,
    obj,
    object_of,
    required,
    string,
    string_map,
    strings,
    timestamp,
)

# Kinds Flux lets Receivers and Alerts point at (some are served by later issues, or by Flux only).
EVENT_SOURCE_KINDS = [
    "Bucket", "GitRepository", "Kustomization", "HelmRelease", "HelmChart", "HelmRepository", "ImageRepository",
    "ImagePolicy", "ImageUpdateAutomation", "OCIRepository", "ArtifactGenerator", "ExternalArtifact",
]

# metav1.Condition's own validation, as Kubernetes declares it.
_CONDITION_TYPE_PATTERN = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                           r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")
_CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
# "<algorithm>:<encoded>", e.g. sha256:…
DIGEST_PATTERN = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"


def local_ref(doc: str = "") -> Schema:
    """A reference to an object in the same namespace, by name."""
    return obj(doc, name=required(string("Name of the referent.")))


def secret_key_ref(doc: str = "") -> Schema:
    return obj(doc, name=required(string("Name of the Secret.")),
               key=string("Key in the Secret; defaults to `value`, then `value.yaml`."))


def kube_config(doc: str = "Apply to a remote cluster whose kubeconfig is in this Secret or ConfigMap.") -> Schema:
    return obj(doc,
               configMapRef=local_ref("ConfigMap with a kubeconfig for workload identity providers."),
               secretRef=secret_key_ref("Secret holding the kubeconfig."))


def condition() -> Schema:
    return obj(
        "One aspect of the object's state (Ready, Reconciling, Stalled, …).",
        lastTransitionTime=required(timestamp("When the status last changed.")),
        message=required(string("Human-readable detail.", max_length=32768)),
        observedGeneration=int64("The .metadata.generation the condition was set for.", minimum=0),
        reason=required(string("CamelCase reason for the last transition.", pattern=_CONDITION_REASON_PATTERN,
                               min_length=1, max_length=1024)),
        status=required(string("True, False or Unknown.", enum=["True", "False", "Unknown"])),
        type=required(string("Condition type in CamelCase.", pattern=_CONDITION_TYPE_PATTERN, max_length=316)),
    )


def conditions() -> Schema:
    return array(condition(), "The latest observations of the object's state.")


def artifact(doc: str = "The artifact produced by the last successful reconciliation.") -> Schema:
    return obj(
        doc,
        digest=required(string("Digest of the artifact file, `<algorithm>:<checksum>`.", pattern=DIGEST_PATTERN)),
        lastUpdateTime=required(timestamp("When the artifact was last updated.")),
        metadata=string_map("Metadata of the artifact (e.g. OCI annotations)."),
        path=required(string("Path of the artifact file relative to the storage root.")),
        revision=required(string("Human-readable identifier, e.g. `main@sha1:<commit>` or a chart version.")),
        size=int64("Size of the artifact file in bytes."),
        url=required(string("HTTP address the artifact is served at.")),
    )


def reconcile_status(doc: str = "What the controller last observed and did.", **extra: Schema) -> Schema:
    """The status every reconciled kind shares; ``observedGeneration`` starts at -1 so kstatus sees it unreconciled."""
    return object_of(doc, {
        "conditions": conditions(),
        "lastHandledReconcileAt": string("The last `reconcile.fluxcd.io/requestedAt` annotation value acted upon."),
        "observedGeneration": int64("The last generation reconciled."),
        **extra,
    }, default={"observedGeneration": -1})


def access_from() -> Schema:
    return obj(
        "Namespaces allowed to reference this object (only under multi-tenancy lockdown).",
        namespaceSelectors=required(array(
            obj(matchLabels=string_map("Labels a namespace must carry.")),
            "Selectors of namespaces granted access.",
        )),
    )


def dependency() -> Schema:
    return obj(
        name=required(string("Name of the object depended on.")),
        namespace=string("Its namespace; defaults to this object's namespace."),
        readyExpr=string("A CEL expression deciding readiness instead of the Ready condition."),
    )


def depends_on(doc: str) -> Schema:
    return array(dependency(), doc)


def selector() -> Schema:
    """Kustomize's target selector for patches and ignore rules."""
    return obj(
        "Which objects this applies to; every given field must match.",
        annotationSelector=string("Annotation selector expression."),
        group=string("API group."),
        kind=string("Kind."),
        labelSelector=string("Label selector expression."),
        name=string("Name (regular expression)."),
        namespace=string("Namespace (regular expression)."),
        version=string("API version."),
    )


def patches(doc: str) -> Schema:
    return array(obj(patch=required(string("A strategic merge or JSON6902 patch, as YAML.")), target=selector()), doc)


def images(doc: str) -> Schema:
    return array(obj(
        digest=string("Digest replacing the tag (takes precedence over newTag)."),
        name=required(string("Image name as written in the manifests.")),
        newName=string("Replacement image name."),
        newTag=string("Replacement tag."),
    ), doc)


def common_metadata(doc: str) -> Schema:
    return obj(doc, annotations=string_map("Annotations to add."), labels=string_map("Labels to add."))


def ignore_rules(doc: str) -> Schema:
    return array(obj(
        paths=required(strings("JSON Pointers to the fields to leave alone.")),
        target=selector(),
    ), doc)


def health_check_exprs() -> Schema:
    return array(obj(
        apiVersion=required(string("apiVersion of the custom resource.")),
        current=required(string("CEL expression: true when the object is healthy.")),
        failed=string("CEL expression: true when the object has failed."),
        inProgress=string("CEL expression: true while the object progresses."),
        kind=string("Kind of the custom resource."),
    ), "CEL expressions deciding the health of custom resources kstatus does not know.")


def inventory() -> Schema:
    return obj(
        "The objects applied by the last successful reconciliation.",
        entries=required(array(obj(
            id=required(string("`<namespace>_<name>_<group>_<kind>`.")),
            v=required(string("API version of the object.")),
        ), "One entry per applied object.")),
    )


def git_ref(doc: str) -> Schema:
    """Which commit to check out; precedence commit > name > semver > tag > branch."""
    return obj(
        doc,
        branch=string("Branch to check out; defaults to `master` when no ref is given."),
        commit=string("Commit SHA to check out; with a branch, it must be on that branch."),
        name=string("Full reference name, e.g. `refs/pull/42/head`."),
        semver=string("Semantic version range over the tags."),
        tag=string("Tag to check out."),
    )


def event_source(doc: str, *, with_filter: bool = False) -> Schema:
    """A reference to Flux objects by name (or `*` with matchLabels), possibly in another namespace."""
    fields: dict[str, Schema | Required] = {
        "apiVersion": string("API version of the referent."),
        "kind": required(string("Kind of the referent.", enum=EVENT_SOURCE_KINDS)),
        "matchLabels": string_map("Labels the referents must carry when name is `*`."),
        "name": required(string("Name of the referent, or `*` for all.", min_length=1, max_length=253)),
        "namespace": string("Namespace of the referent; defaults to this object's namespace.", min_length=1,
                            max_length=253),
    }
    if with_filter:
        fields["filter"] = string("CEL expression an object must pass to be notified.")
    return object_of(doc, fields)


def oci_verify(doc: str, *, keyless: bool = True, trusted_root: bool = False) -> Schema:
    """Signature verification of OCI artifacts and charts with cosign or notation."""
    fields: dict[str, Schema | Required] = {
        "provider": required(string("Verification provider.", enum=["cosign", "notation"], default="cosign")),
        "secretRef": local_ref("Secret with the trusted public keys."),
    }
    if keyless:
        fields["matchOIDCIdentity"] = array(obj(
            issuer=required(string("Regular expression the OIDC issuer must match.")),
            subject=required(string("Regular expression the OIDC subject must match.")),
        ), "Keyless identities accepted for the signature.")
    if trusted_root:
        fields["trustedRootSecretRef"] = local_ref("Secret with a custom Sigstore trusted root.")
    return object_of(doc, fields)
