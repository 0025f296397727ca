"""What the recorder watches in a live sandbox, one module per source: Flux object status, Kubernetes Events,
git pushes. Each source is started with a ``TimelineWriter`` and stopped again (``sandbox.scenario.recorder``)."""
