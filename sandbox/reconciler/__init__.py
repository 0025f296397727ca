"""The project's own Flux-compatible reconciler: runtime, APIs and controllers."""
