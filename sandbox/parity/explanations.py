"""Why a difference from upstream Flux stays (keys as in ``report.explain``). A difference not listed here is to be
fixed in our reconciler, or explained here with the reason it stays."""

from __future__ import annotations

EXPLANATIONS: dict[str, str] = {}
