"""gitops-sandbox: a local GitOps development and testing sandbox."""

__version__ = "0.1.0"
