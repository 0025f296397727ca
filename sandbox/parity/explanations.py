"""Why a difference from upstream Flux stays (keys as in ``report.explain``: ``scenario/kind/subject/field``, or
with ``*`` for the scenario or subject). A difference not listed here is to be fixed in our reconciler, or explained
here with the reason it stays."""

from __future__ import annotations

_YAML = ("Flux's message names the random temporary directory it built in and quotes go-yaml's parser (its line "
         "numbers count from the start of the offending flow); ours names the file as it is in the source, with the "
         "line and column of the error. Reason (BuildFailed), status and the revisions are the same.")

EXPLANATIONS: dict[str, str] = {
    "broken-revision/condition/Kustomization/app/Ready.message": _YAML,
    "broken-revision/event/Kustomization/app/only ours": _YAML,
    "broken-revision/event/Kustomization/app/only flux": _YAML,
}
