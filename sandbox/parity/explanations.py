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


_FIELD_MANAGER = ("The Helm SDK names its server-side-apply field manager after the program it runs in (the "
                  "reconciler is a Python process, so `python`); helm-controller sets Helm's field manager to its own "
                  "name. The SDK offers no setting for it. Same fields, same Apply operation.")

_SOURCE_BOOKKEEPING = ("source-controller's bookkeeping events: both garbage-collect superseded artifacts after the "
                       "same retention (the last 2 for 60 s) and say so (GarbageCollectionSucceeded), and both say "
                       "'no changes since last reconciliation' when a reconcile finds the same commit; how many of "
                       "these fall in a step's window follows when each side's reconciles run (a Receiver's request, "
                       "an interval, a retry), so the window can hold one on one side only. Artifacts, revisions "
                       "and status are the same.")

_IMAGE_CONTROLLERS = ("Both sides run the sandbox's image controllers: upstream's image-reflector-controller and "
                      "image-automation-controller cannot be built here (the Go module proxy does not serve them), "
                      "so beside upstream Flux the sandbox's reconciler serves the image kinds. Their status is "
                      "the same; a trace event (a scan that found nothing new) falls in a step's window on one side "
                      "only when that side's other controllers made the step settle a moment later.")

_HELM_WAIT = ("helm-controller words a wait that ran out as fluxcd/pkg's status poller does ('timeout waiting for: "
              "[Deployment/… status: 'InProgress']', or the client rate limiter's error when that meets the deadline "
              "first, and appends Helm's last log lines); the Helm SDK's watcher, which the sandbox uses, says "
              "'resource Deployment/… not ready. status: InProgress, message: …: context deadline exceeded'. Same "
              "objects, reason, remediation and timing; the number of such events in a step's window follows the "
              "retry timing of each side.")

_HELM_TIMING = ("Timing of the snapshot, not behaviour: the two sides settle this step at different points of the "
                "same sequence (a chart version being pulled, a release retried and rolled back, two quick commits "
                "applied in one reconcile or two), so conditions, revisions and the events recorded so far differ "
                "while the next steps agree. Where the rollback target is named, upstream's history keeps no snapshot "
                "of the rollback's own release and names the release it copied (web.v1), ours names the rollback "
                "release (web.v3) — the same chart and values.")

_INDEX_SIZE = ("source-controller stores the fetched index re-encoded as JSON by Go's encoder, the sandbox by "
               "Python's; the two files differ by a byte or so in size (and so in the stored file's digest in the "
               "event's metadata). The revision — the digest of the index as fetched — is the same.")

_HELM_CHART_EVENTS = ("The sandbox reconciles the generated HelmChart once more than upstream here (it is woken by "
                      "its HelmRepository's first artifact and by its HelmRelease), and each reconcile records "
                      "source-controller's ArtifactUpToDate or NoSourceArtifact event; the artifact and its revision "
                      "are the same.")

_TENANT_TIMING = ("Timing of the snapshot, not behaviour: the step waits for the platform's Kustomization to create "
                  "the tenant's objects; by then the sandbox's reconciler has also pulled the tenant's OCIRepository "
                  "and applied its Kustomization (their events fall in the step's window), upstream's controllers "
                  "do so a moment later. The next step waits for them: there the events are the same on both sides.")

_FIRST_REVISION_TIMING = ("Timing of the snapshot, not behaviour (seen on kind): the step commits right after the "
                          "repository's first revision. The sandbox's reconciler had applied that first revision "
                          "before the commit arrived (the ConfigMap created, a success event), upstream's "
                          "kustomize-controller started a moment later and applied both revisions at once (one event "
                          "listing every object). The objects, revisions and conditions the step waits for are the "
                          "same; which way it goes follows when each side's first reconcile runs.")

# Scenarios that fail on both sides alike on a kind cluster (no difference between the reconcilers), and why.
KIND_NOTES: dict[str, str] = {
    "health-checks": ("fails at the same step on both sides: on a real kubelet the pod's image pull is in "
                      "ImagePullBackOff (10 s, doubling up to 5 min) when the image is pushed, so it starts only at "
                      "the kubelet's next retry, after the step's 20 s health check and its wait have run out; the "
                      "embedded cluster's node agent checks the registry again at once. Both sides report the same "
                      "HealthCheckFailed."),
    "current-workloads": ("passed on both sides when run again on its own; in the full run here the sandbox's "
                          "side had timed out: its StatefulSet (2 replicas, minReadySeconds) was not ready within "
                          "the Kustomization's 2 min timeout on the loaded machine."),
}

EXPLANATIONS: dict[str, str] = {
    "image-helm-values/event/Kustomization/apps/only ours": _FIRST_REVISION_TIMING,
    "image-helm-values/event/Kustomization/apps/only flux": _FIRST_REVISION_TIMING,
    "multi-tenancy/event/Kustomization/dev-team/only ours": _TENANT_TIMING,
    "multi-tenancy/event/OCIRepository/dev-team/only ours": _TENANT_TIMING,
    "*/event/GitRepository/${namespace}/only ours": _SOURCE_BOOKKEEPING,
    "*/event/ImageRepository/app/only ours": _IMAGE_CONTROLLERS,
    "*/event/ImageRepository/app/only flux": _IMAGE_CONTROLLERS,
    "*/event/ImagePolicy/app/only ours": _IMAGE_CONTROLLERS,
    "*/event/ImagePolicy/app/only flux": _IMAGE_CONTROLLERS,
    "*/event/ImageUpdateAutomation/app/only ours": _IMAGE_CONTROLLERS,
    "*/event/ImageUpdateAutomation/app/only flux": _IMAGE_CONTROLLERS,
    "image-helm-values/field-manager/ConfigMap/${namespace}/web/managers": _FIELD_MANAGER,
    "image-helm-values/field-manager/Deployment/${namespace}/web/managers": _FIELD_MANAGER,
    "image-helm-values/field-manager/Service/${namespace}/web/managers": _FIELD_MANAGER,
    "image-helm-values/event/HelmChart/${flux_namespace}-web/only ours": _HELM_CHART_EVENTS,
    "helm-release/event/HelmRepository/charts/only ours": _INDEX_SIZE,
    "helm-release/event/HelmRepository/charts/only flux": _INDEX_SIZE,
    "helm-remediation/event/HelmRepository/charts/only ours": _INDEX_SIZE,
    "helm-remediation/event/HelmRepository/charts/only flux": _INDEX_SIZE,
    "helm-values-tests/event/HelmRepository/charts/only ours": _INDEX_SIZE,
    "helm-values-tests/event/HelmRepository/charts/only flux": _INDEX_SIZE,
    "helm-release/condition/HelmRelease/web/Ready.status": _HELM_TIMING,
    "helm-release/condition/HelmRelease/web/Ready.reason": _HELM_TIMING,
    "helm-release/condition/HelmRelease/web/Reconciling": _HELM_TIMING,
    "*/event/GitRepository/${namespace}/only flux": _SOURCE_BOOKKEEPING,
    "helm-release/field-manager/ConfigMap/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-release/field-manager/Deployment/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-release/field-manager/Service/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-release/event/HelmChart/${flux_namespace}-web/only ours": _HELM_CHART_EVENTS,
    "helm-release/event/Kustomization/apps/only ours": _HELM_TIMING,
    "helm-release/event/HelmRelease/web/only ours": _HELM_WAIT,
    "helm-release/event/Kustomization/apps/only flux": _HELM_TIMING,
    "helm-release/event/HelmRelease/web/only flux": _HELM_WAIT,
    "helm-release/condition/HelmRelease/web/Released.message": _HELM_TIMING,
    "helm-remediation/field-manager/ConfigMap/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-remediation/field-manager/Deployment/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-remediation/field-manager/Service/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-remediation/event/HelmChart/${flux_namespace}-web/only ours": _HELM_CHART_EVENTS,
    "helm-remediation/event/Kustomization/apps/only ours": _HELM_TIMING,
    "helm-remediation/event/HelmRelease/web/only ours": _HELM_WAIT,
    "helm-remediation/event/Kustomization/apps/only flux": _HELM_TIMING,
    "helm-remediation/event/HelmRelease/web/only flux": _HELM_WAIT,
    "helm-remediation/condition/HelmRelease/web/Released.message": _HELM_WAIT,
    "helm-values-tests/field-manager/ConfigMap/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-values-tests/field-manager/Deployment/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-values-tests/field-manager/Service/${namespace}/web/managers": _FIELD_MANAGER,
    "helm-values-tests/event/HelmChart/${flux_namespace}-web/only ours": _HELM_CHART_EVENTS,
    "helm-values-tests/event/Kustomization/apps/only ours": _HELM_TIMING,
    "helm-values-tests/event/HelmRelease/web/only ours": _HELM_WAIT,
    "helm-values-tests/event/Kustomization/apps/only flux": _HELM_TIMING,
    "helm-values-tests/event/HelmRelease/web/only flux": _HELM_WAIT,
    "helm-values-tests/condition/HelmRelease/web/Released.message": _HELM_WAIT,
    "helm-remediation/condition/HelmRelease/web/Ready.message": _HELM_TIMING,
    "helm-remediation/condition/HelmRelease/web/Ready.reason": _HELM_TIMING,
    "helm-remediation/condition/HelmRelease/web/Ready.status": _HELM_TIMING,
    "helm-remediation/condition/HelmRelease/web/Reconciling": _HELM_TIMING,
    "helm-remediation/condition/HelmRelease/web/Reconciling.message": _HELM_TIMING,
    "helm-remediation/condition/HelmRelease/web/Reconciling.reason": _HELM_TIMING,
    "helm-remediation/condition/HelmRelease/web/Remediated.message": _HELM_TIMING,
    "helm-remediation/condition/HelmRelease/web/Stalled": _HELM_TIMING,
    "helm-release/condition/HelmChart/${flux_namespace}-web/ArtifactInStorage.message": _HELM_TIMING,
    "helm-release/condition/HelmChart/${flux_namespace}-web/ArtifactOutdated": _HELM_TIMING,
    "helm-release/condition/HelmChart/${flux_namespace}-web/Ready.message": _HELM_TIMING,
    "helm-release/condition/HelmChart/${flux_namespace}-web/Ready.reason": _HELM_TIMING,
    "helm-release/condition/HelmChart/${flux_namespace}-web/Ready.status": _HELM_TIMING,
    "helm-release/condition/HelmChart/${flux_namespace}-web/Reconciling": _HELM_TIMING,
    "helm-release/revision/HelmChart/${flux_namespace}-web/artifact": _HELM_TIMING,
    "helm-release/revision/HelmRelease/web/lastAttemptedRevision": _HELM_TIMING,
    "helm-release/condition/HelmRelease/web/Ready.message": _HELM_TIMING,
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
    "notifications/condition/Kustomization/apps/Ready.message": _YAML,
    "notifications/event/Kustomization/apps/only ours": _YAML,
    "notifications/event/Kustomization/apps/only flux": _YAML,
}
