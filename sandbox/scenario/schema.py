"""The JSON Schema of scenario.yaml: the document, each step type, and each kind of check (``wait`` / ``expect``).

Steps and checks are validated one by one against the schema of their type, so that an error speaks of the step
the author wrote (``steps[3].commit.message``) instead of a failed ``oneOf`` over all of them.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

DURATION: Schema = {"type": ["string", "number"], "pattern": r"^(\d+(\.\d+)?(ms|s|m|h))+$", "minimum": 0}
NAME: Schema = {"type": "string", "pattern": r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"}
# Kind/name or Kind/namespace/name; parts may hold ${variables}.
REF: Schema = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9]*(/[^/\s]+){1,2}$"}
TEXT: Schema = {"type": "string", "minLength": 1}
STRINGS: Schema = {"type": "array", "items": TEXT}
COMMIT_ID: Schema = {"type": "string", "pattern": r"^[a-z][a-z0-9_-]*$"}
PROM_DURATION: Schema = {"type": "string", "pattern": r"^(\d+(ms|s|m|h|d))+$"}


def _object(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


KUSTOMIZATION: Schema = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": NAME, "path": TEXT, "interval": DURATION, "timeout": DURATION, "retryInterval": DURATION,
        "prune": {"type": "boolean"}, "wait": {"type": "boolean"}, "force": {"type": "boolean"},
        "suspend": {"type": "boolean"}, "targetNamespace": TEXT,
        "dependsOn": {"type": "array", "items": TEXT},
    },
    # Any other Kustomization spec field (postBuild, patches, images, healthChecks…) is passed through as written.
    "additionalProperties": True,
}

DOCUMENT: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gitops-sandbox scenario",
    "type": "object",
    "required": ["title", "summary", "steps"],
    "additionalProperties": False,
    "properties": {
        "title": TEXT,
        "summary": TEXT,
        "description": {"type": "string"},
        "tags": STRINGS,
        "needs": STRINGS,
        "repo": _object({
            "path": TEXT,
            "branch": {"type": "string", "pattern": r"^[A-Za-z0-9._/-]+$"},
            "interval": DURATION,
            "kustomizations": {"type": "array", "items": KUSTOMIZATION},
        }),
        # the run's copies of Flux's alert rules, with these durations, and its Alertmanager route to ${sink}
        "monitoring": _object({
            "failure_for": PROM_DURATION, "suspended_for": PROM_DURATION, "slow_for": PROM_DURATION,
            "slow_seconds": {"type": "number", "minimum": 0}, "evaluation_interval": PROM_DURATION,
            "group_wait": PROM_DURATION, "group_interval": PROM_DURATION,
        }),
        "steps": {"type": "array", "minItems": 1, "items": {"type": "object"}},
    },
}

FILE_CHANGE: Schema = {
    # inline content, null to delete, or {from: a file of the scenario's folder}; with `seal: true` that file (a
    # Secret) is committed sealed with the sandbox's Sealed Secrets key, as `sandbox seal` would (`scope` optional)
    "type": ["string", "null", "object"],
    "properties": {"from": TEXT, "seal": {"type": "boolean"},
                   "scope": {"enum": ["strict", "namespace-wide", "cluster-wide"]}},
    "required": ["from"],
    "additionalProperties": False,
}

STEP_TYPES: dict[str, Schema] = {
    "narrate": TEXT,
    "commit": _object({
        "message": TEXT,
        "files": {"type": "object", "minProperties": 1, "additionalProperties": FILE_CHANGE},
        "id": {"type": "string", "pattern": r"^[a-z][a-z0-9_-]*$"},
    }, ("message", "files")),
    # `crash: true` pushes a bad release: containers running it crash at once (CrashLoopBackOff)
    "push_image": _object({"image": TEXT, "crash": {"type": "boolean"}}, ("image",)),
    # a chart folder of the scenario, or a version of the demo chart; optionally published under another name/version
    "push_chart": _object({"chart": TEXT, "demo": TEXT, "name": TEXT, "version": TEXT}),
    "push_artifact": _object({"artifact": TEXT, "path": TEXT, "source": TEXT, "revision": TEXT,
                              "id": {"type": "string", "pattern": r"^[a-z][a-z0-9_-]*$"}}, ("artifact", "path")),
    "apply": _object({"manifest": TEXT, "from": TEXT, "field_manager": TEXT}),
    "delete": _object({"object": REF, "apiVersion": TEXT, "wait": {"type": "boolean"}, "timeout": DURATION},
                      ("object",)),
    "reconcile": _object({"object": REF, "with_source": {"type": "boolean"}, "force": {"type": "boolean"},
                          "reset": {"type": "boolean"}, "timeout": DURATION}, ("object",)),
    "suspend": _object({"object": REF}, ("object",)),
    "resume": _object({"object": REF, "wait": {"type": "boolean"}, "timeout": DURATION}, ("object",)),
    "rotate_sealing_key": {"const": True},  # a new Sealed Secrets key seals from now on (`rotate_sealing_key: true`)
    # a commit someone else pushes (an ImageUpdateAutomation): its message contains `message`
    "await_commit": _object({"message": TEXT, "branch": TEXT, "id": COMMIT_ID, "timeout": DURATION}, ("message",)),
    # an open pull request into `base` (default: the repository's branch) from `head`, merged as a reviewer would
    "merge_pr": _object({"head": TEXT, "base": TEXT, "title": TEXT, "id": COMMIT_ID, "timeout": DURATION}),
    "wait": {"type": "object"},  # a check (below) plus timeout
    "expect": {"type": ["object", "array"], "items": {"type": "object"}, "minItems": 1},  # a check or a list
}
# Step types whose value may be written as one string: the value of this field.
SHORTHAND: dict[str, str] = {"push_image": "image", "push_chart": "chart", "delete": "object",
                             "await_commit": "message",
                             "reconcile": "object", "suspend": "object", "resume": "object"}

_API_VERSION: Schema = TEXT
CHECKS: dict[str, Schema] = {
    # `cluster: NAME`: read in the workload cluster NAME (`sandbox up --clusters`), not the management cluster
    "object": {"object": REF, "apiVersion": _API_VERSION, "cluster": TEXT, "jsonpath": TEXT, "equals": {},
               "contains": {"type": ["string", "number", "boolean"]}, "matches": TEXT, "exists": {"type": "boolean"}},
    "absent": {"absent": REF, "apiVersion": _API_VERSION, "cluster": TEXT},
    "ready": {"ready": REF, "apiVersion": _API_VERSION, "condition": TEXT,
              "status": {"enum": ["True", "False", "Unknown", True, False]}, "reason": TEXT, "message": TEXT,
              "revision": TEXT},
    "event": {"event": REF, "apiVersion": _API_VERSION, "reason": TEXT, "type": {"enum": ["Normal", "Warning"]},
              "message": TEXT},
    "pods": {"pods": TEXT, "namespace": TEXT, "cluster": TEXT, "images": STRINGS,
             "count": {"type": "integer", "minimum": 0}, "all_ready": {"type": "boolean"}},
    "git": {"git": TEXT, "head_message": TEXT, "messages": STRINGS, "commits": {"type": "integer", "minimum": 1},
            "files": {"type": "object", "additionalProperties": {"type": ["string", "null"]}}},
    # requests at ${sink}/<alerts> ("*": any path), read as Flux events, chat messages or Alertmanager alerts
    "alerts": {"alerts": TEXT, "object": REF, "severity": TEXT, "reason": TEXT, "message": TEXT,
               "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
               "status": {"enum": ["firing", "resolved"]}, "signature": {"enum": ["valid", "unsigned"]},
               "count": {"type": "integer", "minimum": 0}, "at_least": {"type": "integer", "minimum": 1}},
    # an instant PromQL query: the series carrying `labels`, how many (`count`, default at least one), their values
    "prometheus": {"prometheus": TEXT, "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                   "count": {"type": "integer", "minimum": 0}, "equals": {"type": ["number", "string"]},
                   "at_least": {"type": "number"}, "at_most": {"type": "number"}},
}
CHECK_EXTRA: dict[str, Schema] = {"wait": {"timeout": DURATION}, "expect": {"within": DURATION}}


def check_kinds(check: dict[str, Any]) -> list[str]:
    """The kinds a check names: a key that is a field of another kind named there (``object`` of ``alerts``) is
    that field, not a kind."""
    kinds = [key for key in check if key in CHECKS]
    return [kind for kind in kinds if not any(other != kind and kind in CHECKS[other] for other in kinds)]


def check_schema(kind: str, step_type: str) -> Schema:
    """The schema of one ``kind`` check inside a ``step_type`` step (wait: + timeout, expect: + within)."""
    return _object({**CHECKS[kind], **CHECK_EXTRA[step_type]}, (kind,))


def full_schema() -> Schema:
    """One schema for the whole document, for editors (`sandbox scenarios schema`); the loader checks the same
    rules step by step to give sharper messages."""
    steps = []
    for step_type, schema in STEP_TYPES.items():
        if step_type == "wait":
            schema = {"anyOf": [check_schema(kind, "wait") for kind in CHECKS]}
        elif step_type == "expect":
            one = {"anyOf": [check_schema(kind, "expect") for kind in CHECKS]}
            schema = {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}
        elif step_type in SHORTHAND:
            schema = {"anyOf": [TEXT, schema]}
        steps.append(_object({"title": TEXT, step_type: schema}, (step_type,)))
    document = dict(DOCUMENT)
    document["properties"] = {**DOCUMENT["properties"],
                              "steps": {"type": "array", "minItems": 1, "items": {"anyOf": steps}}}
    return document
