"""The webhook sink of a scenario run: started before the first step when the scenario needs notifications or
monitoring, reachable as ``${sink}``, with a per-run HMAC token in the Secret ``sink-token`` of the run's Flux
namespace (a ``generic-hmac`` Provider's ``secretRef``); requests that carry ``X-Signature`` are verified with it,
and a wrong one is refused (401). Stopped when the run ends."""

from __future__ import annotations

import secrets

from sandbox.scenario.context import RunContext
from sandbox.sink import Sink

SECRET = "sink-token"
NEEDED_BY = ("notifications", "monitoring")


def wanted(ctx: RunContext) -> bool:
    return any(feature in ctx.scenario.needs for feature in NEEDED_BY)


def start(ctx: RunContext) -> None:
    """Start the run's sink, publish ``${sink}`` and the token Secret (never the token in git or output)."""
    token = secrets.token_hex(24)
    ctx.secrets.append(token)
    ctx.sink = Sink(token=token, unsigned_ok=True).start()
    ctx.static["sink"] = ctx.sink.url
    ctx.kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": SECRET, "namespace": ctx.flux_namespace},
                    "stringData": {"token": token}}, field_manager="sandbox-scenario")


def stop(ctx: RunContext) -> None:
    if ctx.sink is not None:
        ctx.sink.stop()
