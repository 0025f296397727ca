"""Sealed Secrets (bitnami.com/v1alpha1 SealedSecret): the upstream format, the controller's keys, the controller."""
