"""What the recorder watches in a live sandbox, one module per source: Flux object status, Kubernetes Events,
git pushes, notification deliveries (the alert log), Prometheus alerts and metric samples; ``tail`` is the shared
JSON-log tail. Each source is started with a ``TimelineWriter`` and stopped again (``sandbox.scenario.recorder``)."""
