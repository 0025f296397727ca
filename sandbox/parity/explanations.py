"""Why a difference from upstream Flux stays (keys as in ``report.explain``: ``scenario/kind/subject/field``, or
with ``*`` for the scenario or subject). A difference not listed here is to be fixed in our reconciler, or explained
here with the reason it stays."""

from __future__ import annotations

_YAML = ("Flux's message names the random temporary directory it built in and quotes go-yaml's parser (its line "
         "numbers count from the start of the offending flow); ours names the file as it is in the source, with the "
         "line and column of the error. Reason (BuildFailed), status and the revisions are the same.")

_DEADLINE = ("Flux's health wait ends at the timeout on whichever call of its status poller meets the deadline "
             "first; when that is the client's rate limiter, its error replaces the list of objects still in "
             "progress (2 of 3 runs here; the third said exactly what ours says: timeout waiting for: "
             "[Deployment/…/api status: 'InProgress']). Reason, status and timing are the same.")

_SOPS = ("Both quote sops' report of the keys that failed; Flux gets it from sops as a library (several lines), ours "
         "from the sops command (the same report on one line, without the command's list of places it looked for its "
         "user's own keys), and ours adds the public keys tried. Reason (BuildFailed), the object named, status and "
         "the revisions are the same.")

EXPLANATIONS: dict[str, str] = {
    "sops/condition/Kustomization/app/Ready.message": _SOPS,
    "sops/event/Kustomization/app/only ours": _SOPS,
    "sops/event/Kustomization/app/only flux": _SOPS,
    "health-checks/condition/Kustomization/app/Healthy.message": _DEADLINE,
    "health-checks/condition/Kustomization/app/Ready.message": _DEADLINE,
    "health-checks/event/Kustomization/app/only ours": _DEADLINE,
    "health-checks/event/Kustomization/app/only flux": _DEADLINE,
    "broken-revision/condition/Kustomization/app/Ready.message": _YAML,
    "broken-revision/event/Kustomization/app/only ours": _YAML,
    "broken-revision/event/Kustomization/app/only flux": _YAML,
}
