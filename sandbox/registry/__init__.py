"""The sandbox's OCI registry: one protocol, two backends (the distribution binary as a process, or the registry
image in a container), and the OCI client operations (push images and charts, list tags, resolve digests)."""
