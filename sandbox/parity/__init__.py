"""Parity with upstream Flux: run the same scenarios against our reconciler and Flux's own controllers and report
every difference Flux users would see (``nox -s parity``)."""
