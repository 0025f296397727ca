"""The project's own Flux-compatible reconciler: APIs (CRDs), runtime and controllers."""
