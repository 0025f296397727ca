"""GitRepository: resolve the ref on the remote, fetch that commit into a local mirror, and store the tree
(filtered by the ignore rules) as a tar.gz artifact with revision ``<ref>@sha1:<sha>``."""

from __future__ import annotations

import base64
import logging
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sandbox.errors import CommandError, InputError, NotFound, SandboxError
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Result, interval_of
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.timeutil import parse_duration, rfc3339
from sandbox.reconciler.source import refs as refmod
from sandbox.reconciler.source.storage import Storage
from sandbox.reconciler.unsupported import refuse_unsupported_fields
from sandbox.tools import git

log = logging.getLogger(__name__)

Obj = dict[str, Any]
API_VERSION = "source.toolkit.fluxcd.io/v1"
KIND = "GitRepository"
RETRY_AFTER_FAILURE = 30.0


class SecretError(InputError):
    pass


def auth_from_secret(kube: Any, namespace: str, name: str) -> git.Auth:
    """Basic auth (``username``/``password``) or ``bearerToken`` from the Secret named by spec.secretRef."""
    try:
        secret = kube.get("v1", "Secret", name, namespace)
    except NotFound as err:
        raise SecretError(f"failed to get secret '{namespace}/{name}': secret not found") from err
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    if data.get("bearerToken"):
        return git.BearerAuth(data["bearerToken"])
    if "username" in data or "password" in data:
        return git.BasicAuth(data.get("username", ""), data.get("password", ""))
    raise SecretError(f"secret '{namespace}/{name}' has neither 'username'/'password' nor 'bearerToken' "
                      "(SSH keys are not supported by the sandbox reconciler)")


class RefMoved(InputError):
    """The fetched ref points past the commit ls-remote resolved (a push in between)."""


class GitRepositoryReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = "source-controller"
    status_manager = "gotk-source-controller"

    def __init__(self, storage: Storage, mirrors: Path) -> None:
        self.storage = storage
        self.mirrors = mirrors

    def resource_info(self, obj: Obj) -> dict[str, str]:
        artifact = obj.get("status", {}).get("artifact") or {}
        return {"revision": artifact.get("revision", ""), "url": obj.get("spec", {}).get("url", "")}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        meta = obj["metadata"]
        self.storage.remove(f"gitrepository/{meta['namespace']}/{meta['name']}")
        shutil.rmtree(self.mirrors / meta["namespace"] / f"{meta['name']}.git", ignore_errors=True)

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        meta, spec = obj["metadata"], obj.get("spec", {})
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        conditions = status.get("conditions", [])
        interval = interval_of(obj)
        url = str(spec.get("url", ""))
        try:
            timeout = parse_duration(spec.get("timeout", "60s"), field="spec.timeout")
            if not url.startswith(("http://", "https://")):
                raise InputError(f"unsupported URL scheme in {url!r}: the sandbox reconciler fetches over http(s)")
            auth = None
            if spec.get("secretRef", {}).get("name"):
                auth = auth_from_secret(ctx.kube, meta["namespace"], spec["secretRef"]["name"])
        except InputError as err:
            status["conditions"] = cond.mark_failed(conditions, cond.INVALID_URL if "URL" in str(err)
                                                    else cond.AUTHENTICATION_FAILED, str(err), generation,
                                                    stalled=not isinstance(err, SecretError))
            ctx.events.record(obj, WARNING, status["conditions"][0]["reason"], str(err),
                              controller=self.controller_name)
            return Result(status, RETRY_AFTER_FAILURE)

        try:
            remote_refs = git.ls_remote(url, auth=auth, timeout=timeout)
            resolved = refmod.resolve(spec.get("ref"), remote_refs, url)
        except (CommandError, refmod.RefNotFound, InputError) as err:
            message = f"failed to checkout and determine revision: {err}"
            reason = cond.AUTHENTICATION_FAILED if "401" in str(err) or "Authentication" in str(err) \
                else cond.GIT_OPERATION_FAILED
            status["conditions"] = cond.set_condition(
                cond.mark_failed(conditions, reason, message, generation), cond.FETCH_FAILED, "True", reason,
                message, generation)
            ctx.events.record(obj, WARNING, reason, message, controller=self.controller_name)
            return Result(status, min(interval, RETRY_AFTER_FAILURE))

        artifact = status.get("artifact") or {}
        ignore = spec.get("ignore")
        unchanged = (artifact.get("revision") == resolved.revision and status.get("observedIgnore") == ignore
                     and self._stored(artifact))
        if not unchanged:
            try:
                try:
                    artifact = self._fetch_and_store(meta, url, resolved, auth, timeout, ignore)
                except RefMoved:
                    # A push moved the branch between ls-remote and the fetch: what was fetched is newer than what
                    # was resolved. Resolve again (once) and store that, rather than report a commit as missing.
                    resolved = refmod.resolve(spec.get("ref"), git.ls_remote(url, auth=auth, timeout=timeout), url)
                    artifact = self._fetch_and_store(meta, url, resolved, auth, timeout, ignore)
            except SandboxError as err:
                message = f"failed to store artifact for revision '{resolved.revision}': {err}"
                status["conditions"] = cond.mark_failed(conditions, cond.GIT_OPERATION_FAILED, message, generation)
                ctx.events.record(obj, WARNING, cond.GIT_OPERATION_FAILED, message, controller=self.controller_name)
                return Result(status, min(interval, RETRY_AFTER_FAILURE))
            subject = git.commit_subject(self._mirror(meta), resolved.sha)
            ctx.events.record(obj, NORMAL, "NewArtifact", f"stored artifact for commit '{subject}'",
                              controller=self.controller_name,
                              metadata={"source.toolkit.fluxcd.io/revision": resolved.revision,
                                        "source.toolkit.fluxcd.io/digest": str(artifact.get("digest", ""))})
        message = f"stored artifact for revision '{resolved.revision}'"
        updated = cond.remove(cond.remove(conditions, cond.FETCH_FAILED), "ArtifactOutdated")
        updated = cond.set_condition(updated, cond.ARTIFACT_IN_STORAGE, "True", cond.SUCCEEDED, message, generation)
        status["conditions"] = cond.mark_ready(updated, cond.SUCCEEDED, message, generation)
        status["artifact"] = artifact
        status["observedGeneration"] = generation
        if ignore is not None:
            status["observedIgnore"] = ignore
        else:
            status.pop("observedIgnore", None)
        return Result(status, interval)

    def _mirror(self, meta: Obj) -> Path:
        return self.mirrors / str(meta["namespace"]) / f"{meta['name']}.git"

    def _stored(self, artifact: Obj) -> bool:
        try:
            return bool(artifact.get("path")) and self.storage.local_path(artifact["path"]).exists()
        except SandboxError:
            return False

    def _fetch_and_store(self, meta: Obj, url: str, resolved: refmod.ResolvedRef, auth: git.Auth | None,
                         timeout: float, ignore: str | None) -> Obj:
        mirror = self._mirror(meta)
        git.ensure_mirror(mirror)
        if not git.has_commit(mirror, resolved.sha):
            if resolved.fetch_ref == resolved.sha:
                git.fetch(mirror, url, ["+refs/heads/*:refs/remotes/origin/*"], auth=auth, timeout=timeout)
            else:
                refspec = [f"+{resolved.fetch_ref}:refs/sandbox/fetched"]
                try:
                    git.fetch(mirror, url, refspec, auth=auth, timeout=timeout, depth=1)
                except CommandError as err:
                    if "shallow" not in str(err):
                        raise
                    # Servers without shallow support (git's dumb HTTP protocol) get a full fetch.
                    git.fetch(mirror, url, refspec, auth=auth, timeout=timeout)
            if not git.has_commit(mirror, resolved.sha):
                if resolved.fetch_ref != resolved.sha:
                    raise RefMoved(f"{resolved.fetch_ref} no longer points at {resolved.sha} in {url}")
                raise InputError(f"commit {resolved.sha} not found in {url}")
        directory = f"gitrepository/{meta['namespace']}/{meta['name']}"
        relative = f"{directory}/{resolved.sha}.tar.gz"
        with tempfile.TemporaryDirectory(prefix="gitrepo-") as scratch:
            tar_path = Path(scratch) / "tree.tar"
            git.archive(mirror, resolved.sha, tar_path)
            tree = Path(scratch) / "tree"
            with tarfile.open(tar_path) as tar:
                tar.extractall(tree, filter="data")
            stored = self.storage.store_directory(tree, relative, ignore)
        self.storage.garbage_collect(directory, {relative})
        return {"path": stored.path, "url": self.storage.url_for(stored.path), "revision": resolved.revision,
                "digest": stored.digest, "lastUpdateTime": rfc3339(), "size": stored.size}
