"""The project's own Flux-compatible APIs: kinds, their CRDs (generated from Python schemas) and the dev install."""
