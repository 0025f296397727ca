"""The project's own Flux-compatible reconciler: runtime, APIs and one package per Flux controller."""
