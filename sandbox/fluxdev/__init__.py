"""Upstream Flux in dev-install mode: Flux's own controllers, built from their Go modules, as host processes."""
