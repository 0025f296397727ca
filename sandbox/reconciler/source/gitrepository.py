"""GitRepository: resolve the ref on the remote, fetch that commit into a local mirror, verify its signature
(``spec.verify``), check out its tree (``spec.sparseCheckout``, ``spec.recurseSubmodules``), add the included
artifacts (``spec.include``) and store it all (filtered by the ignore rules) as a tar.gz artifact with revision
``<ref>@sha1:<sha>``. Conditions, reasons and messages follow source-controller's."""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import CommandError, InputError, NotFound, SandboxError
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Result, interval_of
from sandbox.reconciler.runtime.events import NORMAL, WARNING
from sandbox.reconciler.runtime.timeutil import parse_duration, rfc3339
from sandbox.reconciler.source import checkout, gc, includes, verification
from sandbox.reconciler.source import refs as refmod
from sandbox.reconciler.source.failure import STORAGE_OPERATION_FAILED
from sandbox.reconciler.source.mirrors import MIRROR_METADATA_KEY, MirrorMapFile, OfflineRefused, served_by
from sandbox.reconciler.source.storage import Storage
from sandbox.reconciler.unsupported import refuse_unsupported_fields
from sandbox.tools import git

GIT_OPERATION_SUCCEEDED = "GitOperationSucceeded"  # sourcev1.GitOperationSucceedReason
log = logging.getLogger(__name__)

Obj = dict[str, Any]
API_VERSION = "source.toolkit.fluxcd.io/v1"
KIND = "GitRepository"
RETRY_AFTER_FAILURE = 30.0
DEPENDENCY_REQUEUE = 30.0  # source-controller's --requeue-dependency default: how often a missing include is checked


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


@dataclass(frozen=True)
class ContentConfig:
    """What, besides the revision, shapes the artifact (source-controller's gitContentConfigChanged)."""

    ignore: str | None
    recurse_submodules: bool
    include: list[Obj]
    sparse_checkout: list[str]
    verify_mode: str | None

    @classmethod
    def of(cls, spec: Obj) -> ContentConfig:
        return cls(spec.get("ignore"), bool(spec.get("recurseSubmodules")), list(spec.get("include") or []),
                   list(spec.get("sparseCheckout") or []), verification.mode_of(spec.get("verify")))

    def unchanged_since(self, status: Obj, included: list[Obj]) -> bool:
        return (status.get("observedIgnore") == self.ignore
                and bool(status.get("observedRecurseSubmodules")) == self.recurse_submodules
                and list(status.get("observedInclude") or []) == self.include
                and list(status.get("observedSparseCheckout") or []) == self.sparse_checkout
                and not includes.changed(included, status.get("includedArtifacts"))
                and not verification.needs_verification(self.verify_mode, status.get("sourceVerificationMode")))


class StoreFailed(SandboxError):
    """The artifact could not be built or stored (StorageOperationFailed with ``reason``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class GitRepositoryReconciler:
    api_version = API_VERSION
    kind = KIND
    controller_name = "source-controller"
    status_manager = "gotk-source-controller"

    def __init__(self, storage: Storage, mirrors: Path, *, requeue_dependency: float = DEPENDENCY_REQUEUE,
                 mirror_map: MirrorMapFile | None = None) -> None:
        self.storage = storage
        self.mirrors = mirrors  # the controller's local git mirrors (fetch caches), not the sandbox's mirror map
        self.requeue_dependency = requeue_dependency
        self.mirror_map = mirror_map or MirrorMapFile(None)

    def resource_info(self, obj: Obj) -> dict[str, str]:
        artifact = obj.get("status", {}).get("artifact") or {}
        return {"revision": artifact.get("revision", ""), "url": obj.get("spec", {}).get("url", "")}

    def finalize(self, obj: Obj, ctx: Context) -> None:
        meta = obj["metadata"]
        self.storage.remove(f"gitrepository/{meta['namespace']}/{meta['name']}")
        shutil.rmtree(self._mirror(meta), ignore_errors=True)
        shutil.rmtree(self._submodule_mirrors(meta), ignore_errors=True)

    def _fail(self, obj: Obj, ctx: Context, status: Obj, conditions: list[Obj], condition: str | None,
              reason: str, message: str, requeue: float | None, *, stalled: bool = False,
              event_type: str = WARNING) -> Result:
        """Ready=False (and ``condition`` True, or SourceVerified False) with ``reason``/``message``; an event (a
        Warning, but Normal for a wait, as source-controller's Waiting errors)."""
        generation = int(obj["metadata"].get("generation", 1))
        updated = cond.mark_failed(conditions, reason, message, generation, stalled=stalled)
        if condition == verification.SOURCE_VERIFIED:
            updated = cond.set_condition(updated, condition, "False", reason, message, generation)
        elif condition is not None:
            updated = cond.set_condition(updated, condition, "True", reason, message, generation)
        status["conditions"] = updated
        ctx.events.record(obj, event_type, reason, message, controller=self.controller_name)
        return Result(status, None if stalled else requeue)

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        refused = refuse_unsupported_fields(obj, ctx, self.controller_name)
        if refused is not None:
            return refused
        gc.collect(self.storage, obj, ctx, self.controller_name)  # as source-controller: first, each time
        meta, spec = obj["metadata"], obj.get("spec", {})
        status: Obj = dict(obj.get("status") or {})
        generation = int(meta.get("generation", 1))
        conditions = list(status.get("conditions", []))
        # A failed verification is worked out again; a successful one stands for the revision it verified.
        verified = cond.find(conditions, verification.SOURCE_VERIFIED)
        if verified is not None and verified.get("status") == "False":
            conditions = cond.remove(conditions, verification.SOURCE_VERIFIED)
        interval = interval_of(obj)
        retry = min(interval, RETRY_AFTER_FAILURE)
        url = str(spec.get("url", ""))
        try:
            route = self.mirror_map.current().route_git(url)
        except OfflineRefused as err:
            # No network attempt: fails at once, and retries (a mirror added meanwhile serves the retry).
            return self._fail(obj, ctx, status, conditions, cond.FETCH_FAILED, cond.GIT_OPERATION_FAILED,
                              f"failed to checkout and determine revision: {err}", retry)
        served = served_by(url) if route.mirror is not None else ""
        try:
            timeout = parse_duration(spec.get("timeout", "60s"), field="spec.timeout")
            if not route.url.startswith(("http://", "https://")):
                raise InputError(f"unsupported URL scheme in {url!r}: the sandbox reconciler fetches over http(s)")
            auth: git.Auth | None = None
            if route.mirror is not None:
                # The object's credentials are for the real remote: a mirror is fetched with the git server's own.
                if route.mirror.username or route.mirror.token_file:
                    auth = git.BasicAuth(route.mirror.username, route.mirror.password())
            elif spec.get("secretRef", {}).get("name"):
                auth = auth_from_secret(ctx.kube, meta["namespace"], spec["secretRef"]["name"])
        except InputError as err:
            status["conditions"] = cond.mark_failed(conditions, cond.INVALID_URL if "URL" in str(err)
                                                    else cond.AUTHENTICATION_FAILED, str(err), generation,
                                                    stalled=not isinstance(err, SecretError))
            ctx.events.record(obj, WARNING, status["conditions"][0]["reason"], str(err),
                              controller=self.controller_name)
            return Result(status, RETRY_AFTER_FAILURE)

        config = ContentConfig.of(spec)
        try:
            included = includes.included_artifacts(ctx.kube, meta["namespace"], config.include) \
                if config.include else []
        except includes.IncludeUnavailable as err:
            return self._fail(obj, ctx, status, conditions, includes.INCLUDE_UNAVAILABLE, err.reason, str(err),
                              self.requeue_dependency, event_type=NORMAL)
        conditions = cond.remove(conditions, includes.INCLUDE_UNAVAILABLE)

        try:
            remote_refs = git.ls_remote(route.url, auth=auth, timeout=timeout)
            resolved = refmod.resolve(spec.get("ref"), remote_refs, url)
        except (CommandError, refmod.RefNotFound, InputError) as err:
            message = f"failed to checkout and determine revision: {err}"
            reason = cond.AUTHENTICATION_FAILED if "401" in str(err) or "Authentication" in str(err) \
                else cond.GIT_OPERATION_FAILED
            return self._fail(obj, ctx, status, conditions, cond.FETCH_FAILED, reason, message, retry)

        artifact = status.get("artifact") or {}
        unchanged = (artifact.get("revision") == resolved.revision and config.unchanged_since(status, included)
                     and self._stored(artifact))
        if unchanged:
            # source-controller's no-op reconcile (its optimized clone saw the same commit and the same content
            # configuration): a Normal event, not sent to notifications
            ctx.events.record(obj, NORMAL, GIT_OPERATION_SUCCEEDED,
                              f"no changes since last reconciliation: observed revision '{artifact['revision']}'",
                              controller=self.controller_name)
        else:
            try:
                try:
                    artifact, verified_message = self._fetch_and_store(meta, route.url, resolved, auth, timeout,
                                                                       spec, ctx, included)
                except RefMoved:
                    # A push moved the branch between ls-remote and the fetch: what was fetched is newer than what
                    # was resolved. Resolve again (once) and store that, rather than report a commit as missing.
                    resolved = refmod.resolve(spec.get("ref"), git.ls_remote(route.url, auth=auth, timeout=timeout),
                                              url)
                    artifact, verified_message = self._fetch_and_store(meta, route.url, resolved, auth, timeout,
                                                                       spec, ctx, included)
            except verification.VerificationFailed as err:
                # Never stored, so never applied: the artifact in status stays the last verified one.
                return self._fail(obj, ctx, status, conditions, verification.SOURCE_VERIFIED, err.reason, str(err),
                                  retry, stalled=err.stalled)
            except (checkout.CheckoutError, CommandError, refmod.RefNotFound) as err:
                message = str(err) if isinstance(err, checkout.CheckoutError) \
                    else f"failed to checkout and determine revision: {err}"
                return self._fail(obj, ctx, status, conditions, cond.FETCH_FAILED, cond.GIT_OPERATION_FAILED,
                                  message, retry)
            except StoreFailed as err:
                return self._fail(obj, ctx, status, conditions, STORAGE_OPERATION_FAILED, err.reason,
                                  str(err), retry)
            except SandboxError as err:
                message = f"failed to store artifact for revision '{resolved.revision}': {err}"
                return self._fail(obj, ctx, status, conditions, None, cond.GIT_OPERATION_FAILED, message, retry)
            if verified_message is not None:
                conditions = cond.set_condition(conditions, verification.SOURCE_VERIFIED, "True", cond.SUCCEEDED,
                                                verified_message, generation)
            subject = git.commit_subject(self._mirror(meta), resolved.sha)
            if len(subject) > 50:  # go-git's Commit.ShortMessage, as source-controller's event quotes it
                subject = f"{subject[:50]}..."
            ctx.events.record(obj, NORMAL, "NewArtifact", f"stored artifact for commit '{subject}'{served}",
                              controller=self.controller_name,
                              metadata={"source.toolkit.fluxcd.io/revision": resolved.revision,
                                        "source.toolkit.fluxcd.io/digest": str(artifact.get("digest", ""))})
            status["includedArtifacts"] = included
            _set_observed(status, "observedInclude", config.include or None)
            _set_observed(status, "observedSparseCheckout", config.sparse_checkout or None)
            _set_observed(status, "observedRecurseSubmodules", config.recurse_submodules or None)
            _set_observed(status, "sourceVerificationMode", config.verify_mode)
            if not included:
                status.pop("includedArtifacts", None)
        if config.verify_mode is None:
            conditions = cond.remove(conditions, verification.SOURCE_VERIFIED)
            status.pop("sourceVerificationMode", None)
        message = f"stored artifact for revision '{resolved.revision}'{served}"
        artifact = _with_mirror(artifact, route.url if route.mirror is not None else None)
        updated = cond.remove(cond.remove(conditions, cond.FETCH_FAILED), "ArtifactOutdated")
        updated = cond.remove(updated, STORAGE_OPERATION_FAILED)
        updated = cond.set_condition(updated, cond.ARTIFACT_IN_STORAGE, "True", cond.SUCCEEDED, message, generation)
        status["conditions"] = cond.mark_ready(updated, cond.SUCCEEDED, message, generation)
        status["artifact"] = artifact
        status["observedGeneration"] = generation
        _set_observed(status, "observedIgnore", config.ignore)
        return Result(status, interval)

    def _mirror(self, meta: Obj) -> Path:
        return self.mirrors / str(meta["namespace"]) / f"{meta['name']}.git"

    def _submodule_mirrors(self, meta: Obj) -> Path:
        return self.mirrors / str(meta["namespace"]) / f"{meta['name']}.submodules"

    def _stored(self, artifact: Obj) -> bool:
        try:
            return bool(artifact.get("path")) and self.storage.local_path(artifact["path"]).exists()
        except SandboxError:
            return False

    def _fetch(self, mirror: Path, url: str, resolved: refmod.ResolvedRef, auth: git.Auth | None,
               timeout: float) -> None:
        """Bring ``resolved.sha`` (and the annotated tag object, for tag verification) into ``mirror``."""
        git.ensure_mirror(mirror)
        missing = refmod.RefNotFound(f"unable to resolve commit object for '{resolved.sha}': object not found")
        if resolved.branch_head is not None:
            # ref.commit with ref.branch: the branch's whole history, to check that the commit is on it (a shallow
            # mirror may hold both commits but not the history between them).
            def on_branch() -> bool:
                return (git.has_commit(mirror, resolved.sha) and git.has_commit(mirror, str(resolved.branch_head))
                        and git.is_ancestor(mirror, resolved.sha, str(resolved.branch_head)))

            if not on_branch():
                git.fetch(mirror, url, [f"+{resolved.fetch_ref}:refs/sandbox/fetched"], auth=auth, timeout=timeout,
                          unshallow=git.is_shallow(mirror))
            if not on_branch():
                raise missing
            return
        wanted = [resolved.sha] + ([resolved.tag_object] if resolved.tag_object else [])
        if all(git.has_object(mirror, sha) for sha in wanted):
            return
        if resolved.fetch_ref == resolved.sha:
            try:
                git.fetch_commit(mirror, url, resolved.sha, auth=auth, timeout=timeout)
            except CommandError as err:
                raise missing from err
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
            raise missing

    def _submodule_fetcher(self, meta: Obj, parent_url: str, auth: git.Auth | None,
                           timeout: float) -> checkout.SubmoduleFetcher:
        def fetch(url: str, sha: str) -> Path:
            digest = hashlib.sha256(url.encode()).hexdigest()[:16]
            mirror = self._submodule_mirrors(meta) / f"{digest}.git"
            git.ensure_mirror(mirror)
            if not git.has_commit(mirror, sha):
                # A submodule's absolute URL goes through the mirror map as spec.url does.
                try:
                    route = self.mirror_map.current().route_git(url)
                except OfflineRefused as err:
                    raise checkout.CheckoutError(f"failed to checkout and determine revision: submodule: "
                                                 f"{err}") from err
                # The GitRepository's credentials go only where spec.url goes: the same scheme, host and port.
                credentials = auth if checkout.same_origin(route.url, parent_url) else None
                if route.mirror is not None:
                    credentials = git.BasicAuth(route.mirror.username, route.mirror.password())
                try:
                    git.fetch_commit(mirror, route.url, sha, auth=credentials, timeout=timeout)
                except CommandError as err:
                    raise checkout.CheckoutError(f"failed to checkout and determine revision: failed to fetch "
                                                 f"submodule commit {sha} from {url}: {err}") from err
            return mirror

        return fetch

    def _fetch_and_store(self, meta: Obj, url: str, resolved: refmod.ResolvedRef, auth: git.Auth | None,
                         timeout: float, spec: Obj, ctx: Context, included: list[Obj]) -> tuple[Obj, str | None]:
        """Fetch, verify, check out and store ``resolved``; returns the artifact and the SourceVerified message
        (None without ``spec.verify``)."""
        mirror = self._mirror(meta)
        self._fetch(mirror, url, resolved, auth, timeout)
        sparse = spec.get("sparseCheckout") or []
        checkout.check_sparse_directories(mirror, resolved.sha, sparse)
        verified = None
        mode = verification.mode_of(spec.get("verify"))
        if mode is not None:
            keys = verification.load_keys(ctx.kube, meta["namespace"], spec["verify"])
            verified = verification.verify(mirror, sha=resolved.sha, tag=resolved.tag,
                                           tag_object=resolved.tag_object, mode=mode, keys=keys)
        directory = f"gitrepository/{meta['namespace']}/{meta['name']}"
        relative = f"{directory}/{resolved.sha}.tar.gz"
        with tempfile.TemporaryDirectory(prefix="gitrepo-") as scratch:
            tree = Path(scratch) / "tree"
            paths = checkout.sparse_directories(sparse)
            checkout.extract(mirror, resolved.sha, tree, paths)
            if spec.get("recurseSubmodules"):
                checkout.checkout_submodules(mirror, resolved.sha, tree, url,
                                             self._submodule_fetcher(meta, url, auth, timeout), sparse=paths)
            if included:
                try:
                    includes.copy_includes(self.storage, tree, list(spec.get("include") or []), included)
                except includes.CopyFailure as err:
                    raise StoreFailed(includes.COPY_FAILURE, str(err)) from err
            stored = self.storage.store_directory(tree, relative, spec.get("ignore"))
        artifact = {"path": stored.path, "url": self.storage.url_for(stored.path), "revision": resolved.revision,
                    "digest": stored.digest, "lastUpdateTime": rfc3339(), "size": stored.size}
        return artifact, verified


def _with_mirror(artifact: Obj, mirror_url: str | None) -> Obj:
    """``artifact`` with the metadata key naming the mirror that served it (removed when none did)."""
    metadata = {k: v for k, v in (artifact.get("metadata") or {}).items() if k != MIRROR_METADATA_KEY}
    if mirror_url:
        metadata[MIRROR_METADATA_KEY] = mirror_url
    updated = {k: v for k, v in artifact.items() if k != "metadata"}
    if metadata:
        updated["metadata"] = metadata
    return updated


def _set_observed(status: Obj, field: str, value: Any) -> None:
    if value is None:
        status.pop(field, None)
    else:
        status[field] = value
