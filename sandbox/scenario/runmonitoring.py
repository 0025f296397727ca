"""The alert rules and Alertmanager route of a scenario run with a ``monitoring:`` block: installed after the run's
sink starts (Alertmanager sends the run's alerts to ``${sink}/alertmanager``), removed when the run ends."""

from __future__ import annotations

from sandbox.monitoring import runrules
from sandbox.scenario.context import RunContext

SINK_PATH = "/alertmanager"


def wanted(ctx: RunContext) -> bool:
    return ctx.scenario.monitoring is not None


def start(ctx: RunContext) -> None:
    assert ctx.scenario.monitoring is not None
    webhook = f"{ctx.sink.url}{SINK_PATH}" if ctx.sink is not None else ""
    scope = runrules.RunScope(ctx.run_id, (ctx.flux_namespace, ctx.namespace), webhook)
    runrules.install(ctx.handle.state, scope, ctx.scenario.monitoring)


def stop(ctx: RunContext) -> None:
    if wanted(ctx):
        runrules.remove(ctx.handle.state, ctx.run_id)
