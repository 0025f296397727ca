"""source-controller's share: GitRepository (and later Helm and OCI sources) producing artifacts."""
