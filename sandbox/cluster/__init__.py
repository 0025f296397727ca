"""Kubernetes clusters a sandbox can run: the embedded control plane, or kind."""
