"""Canned Prometheus ``query_range`` answers: a Kustomization that was Ready, broke and recovered."""

from __future__ import annotations

from typing import Any

START, END, STEP = 1000.0, 1100.0, 10.0
TIMES = [START + i * STEP for i in range(11)]
KS = {"customresource_kind": "Kustomization", "exported_namespace": "flux-system", "name": "apps"}
GIT = {"customresource_kind": "GitRepository", "exported_namespace": "flux-system", "name": "fleet"}


def durations() -> list[dict[str, Any]]:
    return [{"metric": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
             "values": [[t, str(0.1 + i * 0.05)] for i, t in enumerate(TIMES)] + [[END + STEP, "NaN"]]}]


def ready() -> list[dict[str, Any]]:
    # apps is not ready between 1030 and 1060
    return [{"metric": KS, "values": [[t, "1"] for t in TIMES if not 1030 <= t <= 1060]},
            {"metric": GIT, "values": [[t, "1"] for t in TIMES]}]


def present() -> list[dict[str, Any]]:
    return [{"metric": KS, "values": [[t, "1"] for t in TIMES]}, {"metric": GIT, "values": [[t, "1"] for t in TIMES]}]
