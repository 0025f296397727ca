"""HelmRelease (helm.toolkit.fluxcd.io/v2) through Helm's own SDK.

``values`` composes the values (shared with ``sandbox build|diff helmrelease``); ``chart`` resolves and loads the
chart from a source artifact and keeps the HelmChart of ``spec.chart``; ``history`` holds the release snapshots;
``state`` decides, as helm-controller's state machine does, what the next action is; ``atomic`` runs the actions
(``actions``, the SDK) until nothing is left to do; ``health`` adds ``healthCheckExprs`` to Helm's wait;
``support`` lists the values the SDK cannot honour; ``controller`` ties them to the cluster.
"""
