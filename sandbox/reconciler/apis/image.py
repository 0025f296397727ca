"""Schemas of the image automation kinds (image.toolkit.fluxcd.io/v1): ImageRepository, ImagePolicy,
ImageUpdateAutomation."""

from __future__ import annotations

from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.common import access_from, git_ref, local_ref, reconcile_status
from sandbox.reconciler.apis.definition import AGE, READY, STATUS, Column, Definition
from sandbox.reconciler.apis.schema import (
    Schema,
    array,
    boolean,
    duration,
    integer,
    map_of,
    obj,
    required,
    string,
    string_map,
    strings,
    timeout,
    timestamp,
)

_SUSPEND = "Stop reconciling this object until set back to false."


def _image_ref(doc: str) -> Schema:
    return obj(
        doc,
        digest=string("Image digest, when the policy reflects digests."),
        name=required(string("Image name, e.g. `registry.local/app`.")),
        tag=required(string("Image tag.")),
    )


def _order(doc: str) -> Schema:
    return obj(doc, order=string("`asc` picks the last, `desc` the first.", enum=["asc", "desc"], default="asc"))


IMAGE_REPOSITORY = Definition(
    kind=kinds.IMAGEREPOSITORY,
    doc="A container image repository whose tags are scanned at an interval.",
    spec=obj(
        "Which image to scan, and how to reach its registry.",
        accessFrom=access_from(),
        certSecretRef=local_ref("Secret with `ca.crt`, `tls.crt` and `tls.key` for TLS."),
        exclusionList=strings("Regular expressions; matching tags are ignored.", default=[r"^.*\.sig$"],
                              max_items=25),
        image=required(string("Image name without tag, e.g. `registry.local/app`.")),
        insecure=boolean("Allow plain HTTP to the registry."),
        interval=required(duration("How often to scan the tags.")),
        provider=string("Cloud provider whose workload identity authenticates to the registry.",
                        enum=["generic", "aws", "azure", "gcp"], default="generic"),
        proxySecretRef=local_ref("Secret with `address`, `username`, `password` of an HTTP/S proxy."),
        secretRef=local_ref("Secret of type kubernetes.io/dockerconfigjson with registry credentials."),
        serviceAccountName=string("ServiceAccount whose image pull secrets authenticate to the registry.",
                                  max_length=253),
        suspend=boolean(_SUSPEND),
        timeout=timeout("Time limit for a scan; defaults to `interval`."),
    ),
    status=reconcile_status(
        canonicalImageName=string("The image name in canonical form."),
        lastScanResult=obj(
            "The outcome of the last scan.",
            latestTags=strings("The first ten tags in descending alphabetical order."),
            revision=string("Digest of the tag list."),
            scanTime=timestamp("When the scan ran."),
            tagCount=required(integer("How many tags were found.")),
        ),
        observedExclusionList=strings("The exclusion list the last scan used."),
    ),
    columns=(Column("Image", ".spec.image"), Column("Tags", ".status.lastScanResult.tagCount"), READY, STATUS,
             Column("Last scan", ".status.lastScanResult.scanTime", priority=1), AGE),
)

IMAGE_POLICY = Definition(
    kind=kinds.IMAGEPOLICY,
    doc="A rule choosing the latest image tag from an ImageRepository's scan.",
    spec=obj(
        "Which repository, which tags, and how to order them.",
        digestReflectionPolicy=string("When to look up the chosen tag's digest.",
                                      enum=["Always", "IfNotPresent", "Never"], default="Never"),
        filterTags=obj(
            "Consider only tags matching a pattern, optionally ordering by a part of them.",
            extract=string("Replacement (e.g. `$ts`) whose result is ordered instead of the tag."),
            pattern=string("Regular expression the tags must match."),
        ),
        imageRepositoryRef=required(obj(
            "The ImageRepository whose tags are considered.",
            name=required(string("Name of the ImageRepository.")),
            namespace=string("Its namespace; defaults to the policy's."),
        )),
        interval=duration("How often to look up the digest (only with `digestReflectionPolicy: Always`)."),
        policy=required(obj(
            "How tags are ordered: exactly one of semver, alphabetical, numerical.",
            alphabetical=_order("Order tags alphabetically."),
            numerical=_order("Order tags as numbers."),
            semver=obj("Pick the highest version in a range.",
                       range=required(string("Semantic version range, e.g. `>=1.0.0`."))),
        )),
        suspend=boolean(_SUSPEND),
    ),
    status=reconcile_status(
        latestRef=_image_ref("The image chosen by the policy."),
        observedPreviousRef=_image_ref("The image chosen before the latest one."),
    ),
    columns=(Column("Image", ".status.latestRef.name"), Column("Tag", ".status.latestRef.tag"), READY, STATUS, AGE),
)


def _label_selector(doc: str) -> Schema:
    selector = obj(
        doc,
        map_type="atomic",
        matchExpressions=array(obj(
            key=required(string("Label key.")),
            operator=required(string("In, NotIn, Exists or DoesNotExist.")),
            values=array(string(), "Values for In and NotIn.", list_type="atomic"),
        ), "Set-based requirements.", list_type="atomic"),
        matchLabels=string_map("Labels that must all match."),
    )
    return selector


IMAGE_UPDATE_AUTOMATION = Definition(
    kind=kinds.IMAGEUPDATEAUTOMATION,
    doc="Write the images chosen by ImagePolicies into a Git repository, commit and push.",
    spec=obj(
        "Which repository to update, where, and how to commit.",
        git=obj(
            "How to check out, commit and push.",
            checkout=obj("Which ref to check out; defaults to the GitRepository's.",
                         ref=required(git_ref("The ref to check out."))),
            commit=required(obj(
                "How commits are written.",
                author=required(obj("The commit author.",
                                    email=required(string("Author e-mail.")),
                                    name=string("Author name."))),
                messageTemplate=string("Go template for the commit message."),
                messageTemplateValues=string_map("Extra values for the message template."),
                signingKey=obj(
                    "Sign commits with this key.",
                    secretRef=required(local_ref("Secret with the private key.")),
                    type=string("Key type.", enum=["gpg", "ssh"]),
                ),
            )),
            push=obj(
                "Where to push; defaults to the checked-out branch.",
                branch=string("Branch to push to."),
                options=string_map("Git push options."),
                refspec=string("Refspec to push, e.g. `refs/heads/main:refs/heads/auto`."),
            ),
        ),
        interval=required(duration("How often to run the automation.")),
        policySelector=_label_selector("Which ImagePolicies of this namespace to use; all when empty."),
        sourceRef=required(obj(
            "The GitRepository to update.",
            apiVersion=string("API version of the source."),
            kind=required(string("Kind of the source.", enum=["GitRepository"], default="GitRepository")),
            name=required(string("Name of the source.")),
            namespace=string("Its namespace; defaults to the automation's."),
        )),
        suspend=boolean(_SUSPEND),
        update=obj(
            "What to update, and how.",
            default={"strategy": "Setters"},
            path=string("Path in the repository to update; defaults to its root."),
            strategy=string("How images are found: `Setters` markers in YAML comments.", enum=["Setters"],
                            default="Setters"),
        ),
    ),
    status=reconcile_status(
        lastAutomationRunTime=timestamp("When the automation last ran."),
        lastPushCommit=string("SHA of the last commit pushed."),
        lastPushTime=timestamp("When the last commit was pushed."),
        observedPolicies=map_of(_image_ref("An image chosen by a policy."),
                                "The images of the policies last applied, by policy name."),
        observedSourceRevision=string("The source revision last checked out."),
    ),
    columns=(READY, STATUS, Column("Last run", ".status.lastAutomationRunTime", priority=1), AGE),
)

DEFINITIONS = (IMAGE_REPOSITORY, IMAGE_POLICY, IMAGE_UPDATE_AUTOMATION)
