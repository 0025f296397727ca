"""The checks of ``wait`` and ``expect`` steps: each looks at the cluster or the repository once and returns an
Outcome — passed or not, and in words what it saw. ``wait`` polls one until it passes; ``expect`` looks once (or
polls for ``within``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.errors import SandboxError
from sandbox.git import repo as repos
from sandbox.reconciler import ops
from sandbox.reconciler.runtime import conditions as cond
from sandbox.scenario import alertchecks, jsonpath
from sandbox.scenario.context import RunContext
from sandbox.scenario.model import ObjectRef

Check = dict[str, Any]
Obj = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str  # what was seen, e.g. "ConfigMap/ns/a .data.v is '1', expected '2'"
    subjects: tuple[ObjectRef, ...] = ()


def kind_of(check: Check) -> str:
    from sandbox.scenario.schema import check_kinds

    return check_kinds(check)[0]


def describe(check: Check) -> str:
    """A check in a few words, for step titles: ``ready Kustomization/apps``."""
    kind = kind_of(check)
    if kind == "alerts":
        return alertchecks.describe(check)
    return f"{kind} {check[kind]}"


# --- pure comparisons (unit-tested on plain dicts) ------------------------------------------------------------

def compare_field(obj: Obj | None, ref: str, check: Check) -> Outcome:
    """An ``object`` check against ``obj`` (None: absent)."""
    path = check.get("jsonpath")
    if obj is None:
        wants_absent = check.get("exists") is False and path is None
        return Outcome(wants_absent, f"{ref} does not exist")
    if path is None:
        return Outcome(check.get("exists", True) is not False, f"{ref} exists")
    values = jsonpath.find(obj, jsonpath.parse(path))
    shown = ", ".join(_shown(v) for v in values) if values else "nothing"
    seen = f"{ref} {path} is {shown}"
    if "exists" in check:
        return Outcome(bool(values) == check["exists"], seen)
    if not values:
        return Outcome(False, f"{ref} has no {path}")
    actual: Any = values[0] if len(values) == 1 else values
    if "equals" in check:
        return _verdict(jsonpath.same(actual, check["equals"]), seen, f"expected {_shown(check['equals'])}")
    if "contains" in check:
        found = any(_contains(v, check["contains"]) for v in values)
        wanted = jsonpath.render(check["contains"])
        if found and len(values) > 1:
            seen = f"{ref} {path} contains {wanted!r}"
        return _verdict(found, seen, f"expected it to contain {wanted!r}")
    if "matches" in check:
        pattern = re.compile(check["matches"])
        return _verdict(any(pattern.search(jsonpath.render(v)) for v in values), seen,
                        f"expected a match for /{check['matches']}/")
    return Outcome(True, seen)


def _shown(value: Any) -> str:
    """Strings quoted, everything else as kubectl prints it: ``'blue'``, ``5``, ``true``."""
    return repr(value) if isinstance(value, str) else jsonpath.render(value)


def _verdict(ok: bool, seen: str, expected: str) -> Outcome:
    """What was seen; and, when that is not what was wanted, what was."""
    return Outcome(ok, seen if ok else f"{seen}, {expected}")


def _contains(value: Any, expected: Any) -> bool:
    """A string holds the text, a list holds the item, a mapping holds the key."""
    if isinstance(value, str | dict):
        return jsonpath.render(expected) in value
    if isinstance(value, list):
        return any(jsonpath.same(item, expected) for item in value)
    return jsonpath.same(value, expected)


def _ends_with(revision: str, sha: str) -> bool:
    return bool(revision) and bool(sha) and revision.endswith(sha)


def compare_ready(obj: Obj | None, ref: str, check: Check, sha: str | None) -> Outcome:
    """A ``ready`` check: the condition (default Ready) has the status (default True), reason and message asked
    for, is current (observedGeneration), and — for Flux objects with ``revision`` — is about that commit."""
    if obj is None:
        return Outcome(False, f"{ref} does not exist")
    condition_type = check.get("condition", cond.READY)
    wanted_status = check.get("status", "True")
    wanted_status = ("True" if wanted_status else "False") if isinstance(wanted_status, bool) else str(wanted_status)
    status = obj.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == condition_type), None)
    if condition is None:
        return Outcome(False, f"{ref} has no {condition_type} condition yet")
    seen = (f"{ref} {condition_type}={condition.get('status')} ({condition.get('reason', '')}: "
            f"{condition.get('message', '')})")
    problems = []
    if condition.get("status") != wanted_status:
        problems.append(f"status {wanted_status}")
    if check.get("reason") and condition.get("reason") != check["reason"]:
        problems.append(f"reason {check['reason']}")
    if check.get("message") and check["message"] not in str(condition.get("message", "")):
        problems.append(f"a message containing {check['message']!r}")
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    # Suspending changes the spec (a new generation) that nothing reconciles: the status still holds.
    suspended = bool((obj.get("spec") or {}).get("suspend"))
    if wanted_status == "True" and generation is not None and observed is not None and observed != generation \
            and not suspended:
        problems.append(f"observedGeneration {generation} (it is {observed})")
    if sha is not None:
        if obj.get("kind") == "Kustomization":
            field = "lastAppliedRevision" if wanted_status == "True" else "lastAttemptedRevision"
            revision = str(status.get(field) or "")
        else:
            field, revision = "revision", ops.revision_of(obj)
        seen += f", {field}={revision or '-'}"
        if not _ends_with(revision, sha):
            problems.append(f"{field} at commit {sha[:12]}")
    if problems:
        return Outcome(False, f"{seen}; expected {', '.join(problems)}")
    return Outcome(True, seen)


def match_events(events: list[Obj], ref: str, check: Check) -> Outcome:
    def wanted(event: Obj) -> bool:
        return ((not check.get("reason") or event.get("reason") == check["reason"])
                and (not check.get("type") or event.get("type") == check["type"])
                and (not check.get("message") or check["message"] in str(event.get("message", ""))))

    criteria = ", ".join(f"{k} {check[k]!r}" for k in ("type", "reason", "message") if check.get(k))
    if any(wanted(e) for e in events):
        return Outcome(True, f"{ref} has an event with {criteria or 'anything'}")
    recent = " | ".join(f"{e.get('type')} {e.get('reason')}: {str(e.get('message')).replace(chr(10), '; ')}"
                        for e in events[-5:]) or "none"
    return Outcome(False, f"{ref} has no event with {criteria}; its latest events: {recent}")


def _pod_ready(pod: Obj) -> bool:
    return cond.is_true((pod.get("status") or {}).get("conditions"), "Ready")


def compare_pods(pods: list[Obj], where: str, check: Check) -> Outcome:
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    images = {p["metadata"]["name"]: sorted(c.get("image", "") for c in (p.get("spec") or {}).get("containers") or [])
              for p in live}
    seen = f"pods {where}: " + ("; ".join(f"{name} {', '.join(found)}" for name, found in sorted(images.items()))
                                or "none")
    problems = []
    if "count" in check and len(live) != check["count"]:
        problems.append(f"{check['count']} pods (found {len(live)})")
    elif "count" not in check and not live:
        problems.append("at least one pod")
    if "images" in check:
        wanted = sorted(check["images"])
        wrong = [name for name, found in images.items() if found != wanted]
        if wrong:
            problems.append(f"every pod running exactly {', '.join(wanted)}")
    if check.get("all_ready") and not all(_pod_ready(p) for p in live):
        problems.append("every pod Ready")
    if problems:
        return Outcome(False, f"{seen}; expected {', '.join(problems)}")
    return Outcome(True, seen)


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str


def compare_git(history: list[Commit], files: dict[str, str | None], branch: str, check: Check) -> Outcome:
    """``history`` newest first; ``files``: content at head of each path the check names (None: absent)."""
    seen = f"branch {branch}: {len(history)} commit(s), head {history[0].sha[:12]} {history[0].subject!r}" \
        if history else f"branch {branch} has no commits"
    problems = []
    if "head_message" in check and (not history or check["head_message"] not in history[0].subject):
        problems.append(f"a head commit message containing {check['head_message']!r}")
    for message in check.get("messages") or []:
        if not any(message in c.subject for c in history):
            problems.append(f"a commit whose message contains {message!r}")
    if "commits" in check and len(history) != check["commits"]:
        problems.append(f"{check['commits']} commits")
    for path, wanted in (check.get("files") or {}).items():
        content = files.get(path)
        if wanted is None and content is not None:
            problems.append(f"{path} absent")
        elif wanted is not None and (content is None or wanted not in content):
            problems.append(f"{path} containing {wanted!r}" if content is not None else f"{path} to exist")
    if problems:
        return Outcome(False, f"{seen}; expected {', '.join(problems)}")
    return Outcome(True, seen)


# --- reading the world ----------------------------------------------------------------------------------------

def _get(ctx: RunContext, ref: ObjectRef) -> Obj | None:
    return ctx.kube.get_or_none(ref.api_version, ref.kind, ref.name, ref.namespace)


def _in_cluster(ctx: RunContext, check: Check, ref: ObjectRef) -> Obj | None:
    kube = ctx.cluster_kube(check.get("cluster"))
    return kube.get_or_none(ref.api_version, ref.kind, ref.name, ref.namespace)


def _where(check: Check) -> str:
    return f" in cluster {check['cluster']}" if check.get("cluster") else ""


def _object(ctx: RunContext, check: Check) -> Outcome:
    ref = ctx.ref(check["object"], check.get("apiVersion"))
    outcome = compare_field(_in_cluster(ctx, check, ref), f"{ref}{_where(check)}", ctx.render(check))
    return Outcome(outcome.ok, outcome.detail, (ref,))


def _absent(ctx: RunContext, check: Check) -> Outcome:
    ref = ctx.ref(check["absent"], check.get("apiVersion"))
    obj = _in_cluster(ctx, check, ref)
    if obj is None:
        return Outcome(True, f"{ref} does not exist{_where(check)}", (ref,))
    deleting = " (being deleted)" if (obj.get("metadata") or {}).get("deletionTimestamp") else ""
    return Outcome(False, f"{ref} exists{_where(check)}{deleting}; expected it to be absent", (ref,))


def _ready(ctx: RunContext, check: Check) -> Outcome:
    ref = ctx.ref(check["ready"], check.get("apiVersion"))
    rendered = ctx.render(check)
    sha = ctx.sha_of(rendered["revision"]) if rendered.get("revision") else None
    outcome = compare_ready(_get(ctx, ref), str(ref), rendered, sha)
    return Outcome(outcome.ok, outcome.detail, (ref,))


def _event(ctx: RunContext, check: Check) -> Outcome:
    ref = ctx.ref(check["event"], check.get("apiVersion"))
    events = ctx.kube.list("v1", "Event", ref.namespace or "default",
                           field_selector=f"involvedObject.kind={ref.kind},involvedObject.name={ref.name}").items
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    outcome = match_events(events, str(ref), ctx.render(check))
    return Outcome(outcome.ok, outcome.detail, (ref,))


def _pods(ctx: RunContext, check: Check) -> Outcome:
    rendered = ctx.render(check)
    namespace = rendered.get("namespace") or ctx.namespace
    pods = ctx.cluster_kube(check.get("cluster")).list("v1", "Pod", namespace, label_selector=rendered["pods"]).items
    return compare_pods(pods, f"{namespace} {rendered['pods']}{_where(check)}", rendered)


def read_history(ctx: RunContext, branch: str, paths: list[str]) -> tuple[list[Commit], dict[str, str | None]]:
    """The branch's commits on the git server (newest first) and the content of ``paths`` at its head."""
    repo = ctx.repository
    with repos.temporary_clone(ctx.handle.git, repo.name, branch=branch) as copy:
        log = copy.git("log", "--format=%H%x00%s")
        history = [Commit(*line.split("\0", 1)) for line in log.splitlines() if "\0" in line]
        files: dict[str, str | None] = {}
        for path in paths:
            target = copy.path / path
            files[path] = target.read_text(errors="replace") if target.is_file() else None
    return history, files


def _git(ctx: RunContext, check: Check) -> Outcome:
    rendered = ctx.render(check)
    branch = rendered["git"]
    history, files = read_history(ctx, branch, list((rendered.get("files") or {}).keys()))
    return compare_git(history, files, branch, rendered)


def _unavailable(ctx: RunContext, check: Check) -> Outcome:
    # The loader rejects these while their features are missing; reaching here means a feature flag was flipped
    # without an implementation.
    raise SandboxError(f"the {kind_of(check)} check is not implemented in this version of gitops-sandbox")


def _prometheus(ctx: RunContext, check: Check) -> Outcome:
    from sandbox.scenario import promchecks  # it builds on this module's Outcome

    return promchecks.evaluate(ctx, check)


EVALUATORS: dict[str, Callable[[RunContext, Check], Outcome]] = {
    "object": _object, "absent": _absent, "ready": _ready, "event": _event, "pods": _pods, "git": _git,
    "alerts": lambda ctx, check: Outcome(*alertchecks.evaluate(ctx, check)), "prometheus": _prometheus,
}


def evaluate(ctx: RunContext, check: Check) -> Outcome:
    """Look once. An API error is an outcome too (not passed, saying what failed), so waits keep polling."""
    try:
        return EVALUATORS[kind_of(check)](ctx, check)
    except SandboxError as err:
        return Outcome(False, f"{describe(check)}: {err}")
