"""The one table of what the sandbox's reconciler does with each Flux kind and field: a controller, or
``NotSupported`` with the reason. Objects of a kind without a controller, and objects that set a field the
controller does not implement, get ``Ready=False``/``Stalled=True`` with reason ``NotSupported`` naming it and a
Warning event — never a silent store. docs/reconciler-apis.md is checked against this table by a test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox import __version__
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.kinds import Kind

NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True)
class Support:
    kind: Kind
    upstream: str  # the Flux controller that serves the kind
    ours: bool  # the sandbox's reconciler has a controller for it
    # spec fields (dotted; ``[]`` for "in any list item") the CRD accepts but the controller does not implement
    unsupported_fields: tuple[str, ...] = ()
    note: str = ""  # why, or what to do instead
    # (field, value) pairs of an unsupported field that the controller does implement (``spec.provider: generic``)
    accepted_values: tuple[tuple[str, str], ...] = ()


TABLE: tuple[Support, ...] = (
    Support(kinds.GITREPOSITORY, "source-controller", True,
            ("spec.provider", "spec.proxySecretRef"),
            "cloud providers' identities (provider aws, azure, github) and HTTP proxies are not implemented: the "
            "sandbox's git server needs neither — use spec.secretRef",
            accepted_values=(("spec.provider", "generic"),)),
    Support(kinds.KUSTOMIZATION, "kustomize-controller", True,
            ("spec.decryption.serviceAccountName",),
            "cloud KMS identities for SOPS are not implemented yet: SOPS decrypts with the age and PGP keys of "
            "spec.decryption.secretRef"),
    Support(kinds.RECEIVER, "notification-controller", True,
            ("spec.type",),
            "the generic, generic-hmac, generic-oidc, github, gitlab, bitbucket, harbor, dockerhub, quay, nexus and "
            "acr receiver types are implemented (Gitea sends GitHub's headers: use github); gcr is not "
            "(notification-controller verifies Pub/Sub's ID token with Google's signing keys, which the sandbox "
            "cannot reach), nor cdevents (it validates each CDEvent against the CDEvents v0.4 JSON schemas the "
            "cdevents SDK embeds, which the sandbox does not carry)",
            accepted_values=(("spec.type", "generic"), ("spec.type", "generic-hmac"), ("spec.type", "generic-oidc"),
                             ("spec.type", "github"), ("spec.type", "gitlab"), ("spec.type", "bitbucket"),
                             ("spec.type", "harbor"), ("spec.type", "dockerhub"), ("spec.type", "quay"),
                             ("spec.type", "nexus"), ("spec.type", "acr"))),
    Support(kinds.HELMREPOSITORY, "source-controller", True,
            ("spec.provider",),
            "cloud providers' identities (provider aws, azure, gcp) are not implemented: the sandbox's chart "
            "repository and registry need none — use spec.secretRef and spec.certSecretRef",
            accepted_values=(("spec.provider", "generic"),)),
    Support(kinds.HELMCHART, "source-controller", True,
            ("spec.verify",),
            "signature verification of OCI charts (cosign and notation are not available here) is not "
            "implemented"),
    Support(kinds.OCIREPOSITORY, "source-controller", True,
            ("spec.verify", "spec.provider", "spec.serviceAccountName", "spec.proxySecretRef"),
            "signature verification (cosign and notation are not available here), cloud providers' identities "
            "(provider aws, azure, gcp), ServiceAccount pull secrets and HTTP proxies are not implemented: the "
            "sandbox's registry needs none of them — use spec.insecure, spec.secretRef and spec.certSecretRef",
            accepted_values=(("spec.provider", "generic"),)),
    Support(kinds.HELMRELEASE, "helm-controller", True,
            ("spec.install.replace", "spec.install.disableHooks",
             "spec.install.disableOpenAPIValidation", "spec.install.disableSchemaValidation",
             "spec.upgrade.force",
             "spec.upgrade.disableHooks", "spec.upgrade.disableOpenAPIValidation",
             "spec.upgrade.disableSchemaValidation",
             "spec.upgrade.chartNameChangeStrategy", "spec.upgrade.serverSideApply", "spec.rollback.cleanupOnFail",
             "spec.rollback.disableHooks", "spec.rollback.force", "spec.rollback.serverSideApply",
             "spec.uninstall.disableHooks", "spec.uninstall.deletionPropagation"),
            "hook and validation switches, forced replacement and client-side apply are not implemented: the Helm "
            "SDK here installs, upgrades, tests, rolls back and uninstalls with Helm's defaults for them",
            accepted_values=(("spec.upgrade.chartNameChangeStrategy", "Reinstall"),
                             ("spec.upgrade.serverSideApply", "enabled"), ("spec.upgrade.serverSideApply", "auto"),
                             ("spec.rollback.serverSideApply", "enabled"), ("spec.rollback.serverSideApply", "auto"),
                             ("spec.uninstall.deletionPropagation", "background"))),
    Support(kinds.IMAGEREPOSITORY, "image-reflector-controller", True,
            ("spec.provider", "spec.serviceAccountName", "spec.proxySecretRef"),
            "cloud providers' identities (provider aws, azure, gcp), ServiceAccount image pull secrets and HTTP "
            "proxies are not implemented: the sandbox's registry needs none of them — use spec.secretRef "
            "(a kubernetes.io/dockerconfigjson Secret), spec.certSecretRef and spec.insecure",
            accepted_values=(("spec.provider", "generic"),)),
    Support(kinds.IMAGEPOLICY, "image-reflector-controller", True),
    Support(kinds.IMAGEUPDATEAUTOMATION, "image-automation-controller", True,
            ("spec.git.commit.signingKey.type",),
            "SSH commit signing is not implemented: sign with an OpenPGP key (signingKey.type gpg, the default; "
            "the Secret's git.asc and passphrase)",
            accepted_values=(("spec.git.commit.signingKey.type", "gpg"),)),
    Support(kinds.PROVIDER, "notification-controller", True,
            ("spec.type", "spec.proxy", "spec.proxySecretRef", "spec.serviceAccountName", "spec.commitStatusExpr"),
            "only the generic, generic-hmac, slack, discord, msteams, alertmanager, github, gitlab, gitea, "
            "giteapullrequestcomment, githubpullrequestcomment and gitlabmergerequestcomment provider types are "
            "implemented (the other chats and cloud services are not), and neither HTTP proxies, ServiceAccount "
            "identities nor commitStatusExpr are: no event would be sent",
            accepted_values=tuple(("spec.type", t) for t in ("generic", "generic-hmac", "slack", "discord",
                                                             "msteams", "alertmanager", "github", "gitlab",
                                                             "gitea", "giteapullrequestcomment",
                                                             "githubpullrequestcomment",
                                                             "gitlabmergerequestcomment"))),
    Support(kinds.ALERT, "notification-controller", True),
    # ExternalArtifact has no controller upstream either: source-controller serves the kind, its producer (an
    # ArtifactGenerator here) writes its status, and consumers read it as a source.
    Support(kinds.EXTERNALARTIFACT, "source-controller", True),
    Support(kinds.ARTIFACTGENERATOR, "source-watcher", True,
            ("spec.pathPattern", "spec.artifacts[].copy[].strategy"),
            "path patterns with captures and the Extract copy strategy (tarballs) are not implemented: list the "
            "artifacts one by one and copy unpacked files",
            accepted_values=(("spec.artifacts[].copy[].strategy", "Overwrite"),
                             ("spec.artifacts[].copy[].strategy", "Merge"))),
)
BY_KIND = {support.kind.kind: support for support in TABLE}

UPSTREAM_HINT = "upstream Flux runs it with `sandbox up --reconciler flux` where its controller is available"


def unsupported_kind_message(kind: Kind, note: str = "") -> str:
    return (f"{kind.kind} ({kind.api_version}) is not supported by the gitops-sandbox {__version__} reconciler: "
            f"{note or BY_KIND[kind.kind].note}; {UPSTREAM_HINT}")


def _is_set(value: Any) -> bool:
    return value not in (None, "", [], {}, False)


def _values(obj: Any, path: list[str]) -> list[Any]:
    """The values at ``path`` (``name`` or ``name[]`` for every item of a list) under ``obj``."""
    if not path:
        return [obj]
    head, rest = path[0], path[1:]
    if not isinstance(obj, dict):
        return []
    if head.endswith("[]"):
        items = obj.get(head[:-2])
        return [value for item in items for value in _values(item, rest)] if isinstance(items, list) else []
    return _values(obj.get(head), rest) if head in obj else []


def unsupported_fields_set(obj: dict[str, Any]) -> list[str]:
    """The fields of ``obj`` that are set but not implemented here (empty when it is fully supported)."""
    support = BY_KIND.get(str(obj.get("kind", "")))
    if support is None:
        return []
    return [field for field in support.unsupported_fields
            if any(_is_set(value) and (field, value) not in support.accepted_values
                   for value in _values(obj, field.split(".")))]


def unsupported_fields_message(obj: dict[str, Any], fields: list[str]) -> str:
    support = BY_KIND[str(obj["kind"])]
    names = ", ".join(fields)
    return (f"{names} {'is' if len(fields) == 1 else 'are'} set but not supported by the gitops-sandbox "
            f"{__version__} reconciler ({support.note}); nothing was done: remove "
            f"{'it' if len(fields) == 1 else 'them'}, or run upstream Flux (`sandbox up --reconciler flux`)")
