"""What each step type does: one function per type, taking the run and the step, returning one line on what it
did, raising CheckFailed or another SandboxError when it cannot."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from sandbox import demochart
from sandbox.errors import InputError, SandboxError, WaitTimeout
from sandbox.helmrepo import push_chart as push_chart_to_sandbox
from sandbox.reconciler import ops
from sandbox.reconciler.runtime.timeutil import parse_duration
from sandbox.reconciler.sealedsecrets.kit import SealedSecretsKit
from sandbox.registry import artifacts
from sandbox.scenario import gitsteps, reconcilable, templating
from sandbox.scenario.checks import Outcome, describe, evaluate
from sandbox.scenario.context import RunContext
from sandbox.scenario.failures import CheckFailed
from sandbox.scenario.model import ObjectRef, Step
from sandbox.waiting import wait_until

DEFAULT_FIELD_MANAGER = "scenario"  # who a direct `apply` is, in managedFields: a person with kubectl, in effect
DEFAULT_TIMEOUT = 60.0

Executor = Callable[[RunContext, Step], str]


def seconds(value: Any, default: float = DEFAULT_TIMEOUT) -> float:
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    return parse_duration(str(value), field="timeout")


def _short(sha: str) -> str:
    return sha[:12]


def read_scenario_file(ctx: RunContext, relative: str) -> str | bytes:
    """A file of the scenario's folder; text is rendered (unknown ``${...}`` left for Flux), binary kept."""
    data = (ctx.scenario.folder / relative).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return templating.render(text, ctx.values(), strict=False)


def repo_files(ctx: RunContext, folder: Path) -> dict[str, str | bytes | None]:
    """Every file under ``folder`` (.git excluded) by repository path, rendered like read_scenario_file."""
    files: dict[str, str | bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and ".git" not in relative.parts:
            files[relative.as_posix()] = read_scenario_file(ctx, str(path.relative_to(ctx.scenario.folder)))
    return files


# --- steps ----------------------------------------------------------------------------------------------------

def narrate(ctx: RunContext, step: Step) -> str:
    ctx.observer.narration(ctx, step, ctx.render(step.body["text"]).strip())
    return ""


def commit(ctx: RunContext, step: Step) -> str:
    changes: dict[str, str | bytes | None] = {}
    for path, change in step.body["files"].items():
        target = ctx.render(path)
        if change is None:
            changes[target] = None
        elif isinstance(change, dict) and change.get("seal"):
            changes[target] = sealed_file(ctx, change["from"], change.get("scope"))
        elif isinstance(change, dict):
            changes[target] = read_scenario_file(ctx, change["from"])
        else:
            changes[target] = ctx.render(change)
    message = ctx.render(step.body["message"])
    sha = ctx.repository.commit(changes, message)
    if step.body.get("id"):
        ctx.commits[step.body["id"]] = sha
    ctx.observer.committed(ctx, sha, message, sorted(changes))
    described = ", ".join(f"{path}{' (deleted)' if content is None else ''}" for path, content in changes.items())
    return f"pushed {_short(sha)} {message!r}: {described}"


def sealed_file(ctx: RunContext, relative: str, scope: str | None) -> str:
    """A Secret of the scenario's folder sealed with the sandbox's current key (the clear file never leaves it)."""
    content = read_scenario_file(ctx, relative)
    try:
        documents = [doc for doc in yaml.safe_load_all(content) if doc]
    except yaml.YAMLError as err:
        raise InputError(f"{relative}: not valid YAML: {err}") from None
    kit = SealedSecretsKit(ctx.kube)
    sealed = [kit.seal(doc, scope=scope) for doc in documents]
    return yaml.safe_dump_all(sealed, sort_keys=False, width=1 << 16)


def rotate_sealing_key(ctx: RunContext, step: Step) -> str:
    key = SealedSecretsKit(ctx.kube).rotate()
    return f"new Sealed Secrets key {key.secret_name} ({key.fingerprint}) seals from now on; older keys still unseal"


def push_image(ctx: RunContext, step: Step) -> str:
    crash = bool(step.body.get("crash"))
    pushed = artifacts.push_image(ctx.handle.name, ctx.render(step.body["image"]), crash=crash)
    ctx.observer.artifact_pushed(ctx, "image", pushed["in_cluster"], pushed["digest"])
    return f"pushed image {pushed['in_cluster']} ({pushed['digest'][:19]}…)" + (
        ": a bad release, its containers crash at once" if crash else "")


def push_artifact(ctx: RunContext, step: Step) -> str:
    """Push a folder of the scenario (its files rendered, as the repository's are) as a Flux OCI artifact."""
    reference = ctx.render(step.body["artifact"])
    tag = reference.rpartition(":")[2] if ":" in reference.rpartition("/")[2] else "latest"
    source = ctx.scenario.folder / step.body["path"]
    with tempfile.TemporaryDirectory(prefix="scenario-artifact-") as scratch:
        staged = Path(scratch) / source.name
        files = {source.name: read_scenario_file(ctx, step.body["path"])} if source.is_file() \
            else repo_files(ctx, source)
        for relative, content in files.items():
            target = (Path(scratch) if source.is_file() else staged) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if content is not None:
                target.write_bytes(content if isinstance(content, bytes) else content.encode())
        # REPOSITORY[:TAG] without a host means the sandbox's registry, as for push_image.
        url = reference if reference.startswith("oci://") else f"oci://{reference}"
        pushed = artifacts.push_flux_artifact(
            ctx.handle.name, url, staged,
            source=ctx.render(step.body.get("source") or f"scenario://{ctx.scenario.name}"),
            revision=ctx.render(step.body.get("revision") or tag))
    if step.body.get("id"):
        ctx.commits[step.body["id"]] = pushed["digest"]
    ctx.observer.artifact_pushed(ctx, "artifact", f"{pushed['repository']}:{pushed['tag']}", pushed["digest"])
    return f"pushed artifact {pushed['repository']}:{pushed['tag']} ({pushed['digest'][:19]}…)"


def push_chart(ctx: RunContext, step: Step) -> str:
    """A chart folder of the scenario, or a version of the demo chart, published as it is or renamed/renumbered
    (a name with ``${run}`` keeps a run's chart versions apart from other runs')."""
    source = (demochart.chart_dir(step.body["demo"]) if "demo" in step.body
              else ctx.scenario.folder / step.body["chart"])
    name, version = (ctx.render(step.body[key]) if key in step.body else None for key in ("name", "version"))
    with demochart.renamed(source, name=name, version=version) as staged:
        pushed = push_chart_to_sandbox(ctx.handle.name, staged)
    ctx.observer.artifact_pushed(ctx, "chart", pushed["oci"]["reference"], pushed["oci"]["digest"])
    return f"pushed chart {pushed['name']} {pushed['version']} to {pushed['http']['repository']} and the registry"


def _documents(ctx: RunContext, step: Step) -> list[dict[str, Any]]:
    if "from" in step.body:
        text = read_scenario_file(ctx, step.body["from"])
        if isinstance(text, bytes):
            raise InputError(f"{step.body['from']} is not UTF-8 text")
    else:
        text = ctx.render(step.body["manifest"])
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise InputError(f"the manifest is not valid YAML once rendered: {err}") from err


def apply(ctx: RunContext, step: Step) -> str:
    manager = step.body.get("field_manager", DEFAULT_FIELD_MANAGER)
    applied = []
    for document in _documents(ctx, step):
        meta = document.setdefault("metadata", {})
        if ctx.kube.resource(document["apiVersion"], document["kind"]).namespaced:
            meta.setdefault("namespace", ctx.namespace)
        ctx.kube.apply(document, field_manager=manager)
        ref = ObjectRef(document["apiVersion"], document["kind"], meta["name"], meta.get("namespace"))
        if ref.namespace not in (ctx.namespace, ctx.flux_namespace) and ref not in ctx.applied:
            ctx.applied.append(ref)
        applied.append(str(ref))
    return f"applied {', '.join(applied)} (field manager {manager})"


def delete(ctx: RunContext, step: Step) -> str:
    ref = ctx.ref(step.body["object"], step.body.get("apiVersion"))
    existed = ctx.kube.delete(ref.api_version, ref.kind, ref.name, ref.namespace)
    if not existed:
        raise CheckFailed(f"{ref} does not exist, so it cannot be deleted", (ref,))
    if step.body.get("wait", True):
        timeout = seconds(step.body.get("timeout"), 30.0)
        wait_until(lambda: ctx.kube.get_or_none(ref.api_version, ref.kind, ref.name, ref.namespace) is None,
                   timeout=timeout, what=f"{ref} to be deleted", hint="a finalizer may be holding it")
    return f"deleted {ref}"


def _kind(ref: ObjectRef) -> ops.KindRef:
    return reconcilable.BY_KIND[ref.kind]


def reconcile(ctx: RunContext, step: Step) -> str:
    """Ask for a reconcile now and wait for it, as ``flux reconcile`` does (``force``/``reset`` for a HelmRelease:
    ``--force``, ``--reset``)."""
    ref = ctx.ref(step.body["object"])
    timeout = seconds(step.body.get("timeout"))
    namespace = ref.namespace or ctx.flux_namespace
    started = time.monotonic()
    if step.body.get("with_source") and ref.kind == "Kustomization":
        source = ctx.kube.get(ref.api_version, ref.kind, ref.name, namespace)["spec"]["sourceRef"]
        kind = ops.BY_KIND.get(source.get("kind", ""))
        if kind is None:
            raise InputError(f"{ref}'s source kind {source.get('kind')} cannot be reconciled by the sandbox")
        ops.request_reconcile(ctx.kube, kind, source["name"], source.get("namespace") or namespace, timeout=timeout)
    also = tuple(annotation for flag, annotation in (("force", reconcilable.FORCE_AT), ("reset", reconcilable.RESET_AT))
                 if step.body.get(flag))
    try:
        obj = ops.request_reconcile(ctx.kube, _kind(ref), ref.name, namespace, timeout=timeout, also_annotate=also)
    except SandboxError as err:
        raise CheckFailed(str(err), (ref,)) from err
    revision = ops.revision_of(obj)
    return f"{ref} reconciled in {time.monotonic() - started:.2f}s" + (f" at {revision}" if revision else "")


def suspend(ctx: RunContext, step: Step) -> str:
    ref = ctx.ref(step.body["object"])
    ops.set_suspended(ctx.kube, _kind(ref), ref.name, ref.namespace or ctx.flux_namespace, True)
    return f"{ref} suspended: the reconciler leaves it alone"


def resume(ctx: RunContext, step: Step) -> str:
    ref = ctx.ref(step.body["object"])
    namespace = ref.namespace or ctx.flux_namespace
    ops.set_suspended(ctx.kube, _kind(ref), ref.name, namespace, False)
    if not step.body.get("wait", True):
        return f"{ref} resumed"
    started = time.monotonic()
    try:
        obj = ops.request_reconcile(ctx.kube, _kind(ref), ref.name, namespace,
                                    timeout=seconds(step.body.get("timeout")))
    except SandboxError as err:
        raise CheckFailed(f"{ref} was resumed, but its reconciliation failed: {err}", (ref,)) from err
    revision = ops.revision_of(obj)
    return f"{ref} resumed and reconciled in {time.monotonic() - started:.2f}s" + (f" at {revision}" if revision
                                                                                   else "")


def _poll(ctx: RunContext, check: dict[str, Any], timeout: float) -> Outcome:
    last = [Outcome(False, "nothing observed yet")]

    def probe() -> Outcome | None:
        last[0] = evaluate(ctx, check)
        return last[0] if last[0].ok else None

    try:
        return wait_until(probe, timeout=timeout, what=describe(check), interval=0.05, max_interval=0.1,
                          describe=lambda: last[0].detail)
    except WaitTimeout as err:
        raise CheckFailed(f"timed out after {timeout:g}s waiting for {ctx.render(describe(check))}: "
                          f"{last[0].detail}", last[0].subjects) from err


def wait(ctx: RunContext, step: Step) -> str:
    check = {k: v for k, v in step.body.items() if k != "timeout"}
    return _poll(ctx, check, seconds(step.body.get("timeout"))).detail


def expect(ctx: RunContext, step: Step) -> str:
    """Every check is evaluated, so that one failure does not hide the others. Checks with ``within`` are given
    that long to pass — unless a check without it has failed already: the step fails either way."""
    checks = [({k: v for k, v in check.items() if k != "within"}, check.get("within"))
              for check in step.body["checks"]]
    outcomes = [evaluate(ctx, check) for check, _ in checks]
    if not any(not outcome.ok and within is None for outcome, (_, within) in zip(outcomes, checks, strict=True)):
        for index, (check, within) in enumerate(checks):
            if not outcomes[index].ok and within is not None:
                try:
                    outcomes[index] = _poll(ctx, check, seconds(within))
                except CheckFailed as err:
                    outcomes[index] = Outcome(False, str(err), err.subjects)
    passed = [outcome.detail for outcome in outcomes if outcome.ok]
    failed = [outcome.detail for outcome in outcomes if not outcome.ok]
    subjects = [subject for outcome in outcomes for subject in outcome.subjects]
    if failed:
        lines = [f"✗ {detail}" for detail in failed] + [f"✓ {detail}" for detail in passed]
        raise CheckFailed(f"{len(failed)} of {len(failed) + len(passed)} expectation(s) failed:\n" + "\n".join(lines),
                          tuple(subjects))
    return "\n".join(passed)


EXECUTORS: dict[str, Executor] = {
    "narrate": narrate, "commit": commit, "push_image": push_image, "push_artifact": push_artifact,
    "push_chart": push_chart, "apply": apply, "rotate_sealing_key": rotate_sealing_key,
    "delete": delete, "reconcile": reconcile, "suspend": suspend, "resume": resume, "wait": wait, "expect": expect,
    "await_commit": gitsteps.await_commit, "merge_pr": gitsteps.merge_pr,
}
