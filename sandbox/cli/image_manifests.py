"""ImageRepository, ImagePolicy and ImageUpdateAutomation objects built from CLI flags the way ``flux create image
repository|policy|update`` builds them (flux2 v2.9.5 cmd/flux): same fields, same defaults, same error messages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sandbox.cli.helm_manifests import _metadata, check_name, interval
from sandbox.errors import InputError

Obj = dict[str, Any]

IMAGE_API = "image.toolkit.fluxcd.io/v1"
SORT_ORDERS = ("asc", "desc")
DIGEST_POLICIES = ("Never", "IfNotPresent", "Always")
SIGNING_KEY_TYPES = ("gpg", "ssh")
_REPOSITORY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-./")


def check_image(image: str) -> None:
    """go-containerregistry's ``name.NewRepository`` as flux applies it: the repository part (after a registry host
    with a dot, a colon or ``localhost``) holds only lowercase letters, digits and ``_-./`` — no tag."""
    first, sep, rest = image.partition("/")
    repository = rest if sep and (any(c in first for c in ".:") or first == "localhost") else image
    if not repository or any(c not in _REPOSITORY_CHARS for c in repository):
        raise InputError("unable to parse image value: repository can only contain the characters "
                         f"`abcdefghijklmnopqrstuvwxyz0123456789_-./`: {repository}")


def image_repository(name: str, namespace: str, *, image: str | None, interval_text: str = "1m",
                     scan_timeout: str | None = None, secret_ref: str | None = None, cert_ref: str | None = None,
                     exclusion_list: Sequence[str] = (), insecure: bool = False,
                     labels: Sequence[str] = ()) -> Obj:
    """``flux create image repository NAME --image IMAGE …``; ``exclusion_list`` and ``insecure`` are the sandbox's
    additions (flux has no flag for them)."""
    check_name(name)
    if not image:
        raise InputError("an image repository (--image) is required")
    check_image(image)
    spec: Obj = {"image": image, "interval": interval(interval_text)}
    if scan_timeout:
        spec["timeout"] = interval(scan_timeout, "--scan-timeout")
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if cert_ref:
        spec["certSecretRef"] = {"name": cert_ref}
    if exclusion_list:
        spec["exclusionList"] = list(exclusion_list)
    if insecure:
        spec["insecure"] = True
    return {"apiVersion": IMAGE_API, "kind": "ImageRepository", "metadata": _metadata(name, namespace, labels),
            "spec": spec}


def _order(flag: str, value: str) -> str:
    if value not in SORT_ORDERS:
        raise InputError(f"{flag} must be one of [\"asc\", \"desc\"]")
    return value


def image_policy(name: str, namespace: str, *, image_ref: str | None, semver: str | None = None,
                 numeric: str | None = None, alpha: str | None = None, filter_regex: str | None = None,
                 filter_extract: str | None = None, reflect_digest: str | None = None,
                 interval_text: str | None = None, labels: Sequence[str] = ()) -> Obj:
    """``flux create image policy NAME --image-ref REPO --select-…``. One difference, on purpose: two ``--select-…``
    flags are an error here, where flux writes an empty ``policy: {}``."""
    check_name(name)
    if not image_ref:
        raise InputError("the name of an ImageRepository in the namespace is required (--image-ref)")
    meta = _metadata(name, namespace, labels)
    chosen = [flag for flag, value in (("--select-semver", semver), ("--select-numeric", numeric),
                                       ("--select-alpha", alpha)) if value]
    if len(chosen) > 1:
        raise InputError(f"only one of --select-semver, --select-numeric and --select-alpha may be given "
                         f"(got {', '.join(chosen)})")
    policy: Obj
    if semver:
        policy = {"semver": {"range": semver}}
    elif alpha:
        policy = {"alphabetical": {"order": _order("--select-alpha", alpha)}}
    elif numeric:
        policy = {"numerical": {"order": _order("--select-numeric", numeric)}}
    else:
        raise InputError("a policy must be provided with either --select-semver or --select-alpha")
    spec: Obj = {"imageRepositoryRef": {"name": image_ref}, "policy": policy}
    if filter_regex:
        try:
            re.compile(filter_regex)
        except re.error as err:
            raise InputError("--filter-regex is an invalid regex pattern") from err
        spec["filterTags"] = {"pattern": filter_regex, "extract": filter_extract or ""}
    elif filter_extract:
        raise InputError("cannot specify --filter-extract without specifying --filter-regex")
    if reflect_digest:
        if reflect_digest not in DIGEST_POLICIES:
            raise InputError("invalid value for --reflect-digest, must be one of 'Never', 'IfNotPresent', 'Always'")
        spec["digestReflectionPolicy"] = reflect_digest
    if interval_text:
        if reflect_digest != "Always":
            raise InputError("the --interval flag can only be used with the 'Always' digest reflection policy, "
                             "use --reflect-digest=Always")
        spec["interval"] = interval(interval_text)
    return {"apiVersion": IMAGE_API, "kind": "ImagePolicy", "metadata": meta, "spec": spec}


def image_update(name: str, namespace: str, *, git_repo_ref: str | None, git_repo_namespace: str | None = None,
                 git_repo_path: str | None = None, checkout_branch: str | None = None,
                 push_branch: str | None = None, author_name: str | None = None, author_email: str | None = None,
                 commit_template: str | None = None, signing_key_secret: str | None = None,
                 signing_key_type: str | None = None, interval_text: str = "1m",
                 labels: Sequence[str] = ()) -> Obj:
    """``flux create image update NAME --git-repo-ref REPO --checkout-branch BRANCH --author-name … ``."""
    check_name(name)
    if not git_repo_ref:
        raise InputError("a reference to a GitRepository is required (--git-repo-ref)")
    if not checkout_branch:
        raise InputError("the Git repository branch is required (--checkout-branch)")
    if not author_name:
        raise InputError("the author name is required (--author-name)")
    if not author_email:
        raise InputError("the author email is required (--author-email)")
    if signing_key_type and not signing_key_secret:
        raise InputError("--signing-key-type requires --signing-key-secret")
    if signing_key_type and signing_key_type not in SIGNING_KEY_TYPES:
        raise InputError("--signing-key-type must be one of: gpg, ssh")
    meta = _metadata(name, namespace, labels)
    source_ref: Obj = {"kind": "GitRepository", "name": git_repo_ref}
    if git_repo_namespace:
        source_ref["namespace"] = git_repo_namespace
    commit: Obj = {"author": {"name": author_name, "email": author_email}}
    if commit_template:
        commit["messageTemplate"] = commit_template
    if signing_key_secret:
        commit["signingKey"] = {"secretRef": {"name": signing_key_secret}}
        if signing_key_type:
            commit["signingKey"]["type"] = signing_key_type
    git: Obj = {"checkout": {"ref": {"branch": checkout_branch}}, "commit": commit}
    if push_branch:
        git["push"] = {"branch": push_branch}
    spec: Obj = {"git": git, "interval": interval(interval_text), "sourceRef": source_ref}
    if git_repo_path:
        spec["update"] = {"path": git_repo_path, "strategy": "Setters"}
    return {"apiVersion": IMAGE_API, "kind": "ImageUpdateAutomation", "metadata": meta, "spec": spec}
