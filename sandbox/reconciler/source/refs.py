"""Which commit a GitRepository's ``spec.ref`` points at, from the remote's refs (pure logic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nodesemver  # type: ignore[import-untyped]

from sandbox.errors import InputError


@dataclass(frozen=True)
class ResolvedRef:
    sha: str
    revision: str  # Flux's revision string: main@sha1:<sha>, v1.0.0@sha1:<sha>, sha1:<sha>
    fetch_ref: str  # what to fetch: refs/heads/main, refs/tags/v1.0.0, or the sha
    tag: str | None = None  # the tag the ref resolved through (verify mode Tag needs one)
    tag_object: str | None = None  # the annotated tag object's id; None for a lightweight tag
    branch_head: str | None = None  # ref.commit with ref.branch: the head of the branch that must contain sha


class RefNotFound(InputError):
    pass


def _tag_commit(refs: dict[str, str], tag: str) -> str | None:
    # Annotated tags list their commit as "<tag>^{}".
    return refs.get(f"refs/tags/{tag}^{{}}") or refs.get(f"refs/tags/{tag}")


def _tag_object(refs: dict[str, str], tag: str) -> str | None:
    """The annotated tag object of ``tag`` (listed beside its peeled commit), None for a lightweight tag."""
    return refs.get(f"refs/tags/{tag}") if f"refs/tags/{tag}^{{}}" in refs else None


def _tagged(refs: dict[str, str], tag: str, sha: str, revision: str) -> ResolvedRef:
    return ResolvedRef(sha, revision, f"refs/tags/{tag}", tag=tag, tag_object=_tag_object(refs, tag))


def semver_constraint(expression: str) -> str:
    """Masterminds-style constraints (``>=1.0.0, <2.0.0``) to node-semver ranges (space means AND)."""
    return " ".join(part.strip() for part in expression.split(","))


def resolve(ref: dict[str, Any] | None, refs: dict[str, str], url: str) -> ResolvedRef:
    """Precedence as Flux: commit > name > semver > tag > branch; no ref at all means branch ``master``."""
    ref = ref or {}
    if ref.get("commit"):
        sha = str(ref["commit"]).lower()
        branch = ref.get("branch")
        if not branch:
            return ResolvedRef(sha, f"sha1:{sha}", sha)
        head = refs.get(f"refs/heads/{branch}")
        if head is None:
            raise RefNotFound(f"unable to resolve branch '{branch}' in {url}: no such branch")
        return ResolvedRef(sha, f"{branch}@sha1:{sha}", f"refs/heads/{branch}", branch_head=head)
    if ref.get("name"):
        name = str(ref["name"])
        named = refs.get(f"{name}^{{}}") or refs.get(name)
        if named is None:
            raise RefNotFound(f"unable to resolve ref '{name}' in {url}: no such reference")
        if name.startswith("refs/tags/"):
            tag = name[len("refs/tags/"):]
            return ResolvedRef(named, f"{name}@sha1:{named}", name, tag=tag, tag_object=_tag_object(refs, tag))
        return ResolvedRef(named, f"{name}@sha1:{named}", name)
    if ref.get("semver"):
        constraint = str(ref["semver"])
        tags = [r[len("refs/tags/"):] for r in refs if r.startswith("refs/tags/") and not r.endswith("^{}")]
        try:
            best = nodesemver.max_satisfying(tags, semver_constraint(constraint), loose=True)
        except (ValueError, TypeError) as err:
            raise InputError(f"invalid semver constraint {constraint!r}: {err}") from err
        if not best:
            raise RefNotFound(f"no tag in {url} matches semver constraint '{constraint}' "
                              f"(tags: {', '.join(sorted(tags)[:10]) or 'none'})")
        tagged = _tag_commit(refs, best)
        if tagged is None:
            raise RefNotFound(f"tag '{best}' vanished from {url}")
        return _tagged(refs, best, tagged, f"{best}@sha1:{tagged}")
    if ref.get("tag"):
        tag = str(ref["tag"])
        found = _tag_commit(refs, tag)
        if found is None:
            raise RefNotFound(f"unable to resolve tag '{tag}' in {url}: no such tag")
        return _tagged(refs, tag, found, f"{tag}@sha1:{found}")
    branch = str(ref.get("branch") or "master")
    found = refs.get(f"refs/heads/{branch}")
    if found is None:
        hint = ""
        if branch == "master" and not ref.get("branch"):
            hint = " (no spec.ref was given, so Flux's default branch 'master' was used: set spec.ref.branch)"
        raise RefNotFound(f"unable to resolve branch '{branch}' in {url}: no such branch{hint}")
    return ResolvedRef(found, f"{branch}@sha1:{found}", f"refs/heads/{branch}")
