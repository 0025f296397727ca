"""Flux's image automation kinds (image.toolkit.fluxcd.io)."""
