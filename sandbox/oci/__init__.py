"""OCI distribution: a small registry client and Flux's OCI artifact format, shared by the registry component (which
pushes) and the reconciler (which pulls) — neither imports the other."""
