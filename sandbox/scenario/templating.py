"""``${name}`` variables in scenarios: the documented set, checking that a text uses only those, and rendering.

``$${name}`` is a literal ``${name}`` (for Flux's own post-build substitution). In the files of a scenario's repo,
unknown variables are left alone, since they usually belong to Flux; in scenario.yaml they are an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sandbox.errors import InputError

_VARIABLE = re.compile(r"(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\}")

# Known when a run starts; usable in scenario.yaml and in the repo's files.
RUN_VARIABLES: dict[str, str] = {
    "scenario": "the scenario's name",
    "run": "a short random id of this run (6 hex digits)",
    "sandbox": "the sandbox's name",
    "namespace": "a fresh namespace for the scenario's workloads (created before the first step, deleted after)",
    "flux_namespace": "the namespace of the run's GitRepository, Receiver and Kustomizations",
    "repo": "the run's git repository, also the name of its GitRepository and Receiver",
    "branch": "the repository's branch (repo.branch, default main)",
    "git_url": "the repository's clone URL as the cluster sees it",
    "registry": "the registry's host:port as pods see it (needs registry)",
    "chart_repo": "the HTTP Helm chart repository's URL as the cluster sees it (needs charts)",
    "oci_charts": "oci://<registry>/charts, where pushed charts live as OCI artifacts (needs charts)",
    "requeue_dependency": "how often an object waiting on a dependency looks again, as the controllers quote it "
                          "(30s unless `sandbox up --requeue-dependency`)",
    "sink": "the URL of the run's webhook sink, which records what Providers send (any path under it; needs "
            "notifications); the Secret sink-token in ${flux_namespace} holds the token it checks HMAC "
            "signatures with",
}
# Known only while steps run; usable in steps only.
STEP_VARIABLES: dict[str, str] = {
    "head": "the sha of the last commit the scenario pushed",
    "commit.<id>": "the sha of the commit step with that id (`initial`: the repo's first commit)",
}


def variables_in(text: str) -> list[str]:
    """The variables ``text`` uses (escaped ``$${...}`` excluded), in order."""
    return [m.group(2) for m in _VARIABLE.finditer(text) if not m.group(1)]


def unknown_variables(text: str, *, commit_ids: set[str], in_steps: bool) -> list[str]:
    """Variables in ``text`` that are not in the documented set (or name an undefined commit)."""
    bad = []
    for name in variables_in(text):
        if name in RUN_VARIABLES:
            continue
        if in_steps and name == "head":
            continue
        if in_steps and name.startswith("commit.") and name.partition(".")[2] in commit_ids:
            continue
        bad.append(name)
    return bad


def render(text: str, values: Mapping[str, str], *, strict: bool = True) -> str:
    """Replace ``${name}`` with ``values[name]``; ``$${name}`` becomes ``${name}``.

    ``strict``: an unknown name is an InputError; otherwise it is left as written.
    """
    def replace(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return match.group(0)[1:]
        if name in values:
            return values[name]
        if strict:
            raise InputError(f"unknown variable ${{{name}}}; known: {', '.join(sorted(values))}")
        return match.group(0)

    return _VARIABLE.sub(replace, text)
