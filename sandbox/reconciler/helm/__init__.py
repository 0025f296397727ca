"""HelmRelease (helm.toolkit.fluxcd.io/v2) through Helm's own SDK: ``values`` composes the values (shared with
``sandbox build|diff helmrelease``), ``chart`` resolves and loads the chart from a source artifact, ``state`` and
``remediation`` decide the next action as helm-controller's state machine does, ``actions`` runs them through the
SDK, and ``controller`` ties them to the cluster."""
