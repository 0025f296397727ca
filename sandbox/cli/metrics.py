"""``sandbox metrics query|open|alerts|report``: the Prometheus of a sandbox started with ``--monitoring``."""

from __future__ import annotations

import time
import webbrowser
from pathlib import Path

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.monitoring import report, service, webauth
from sandbox.monitoring.client import Prometheus
from sandbox.state import StateDir


def _client(name: str | None) -> Prometheus:
    return service.client_of(StateDir(config.resolve_name(name)))


@click.group()
def metrics() -> None:
    """The sandbox's Prometheus and Alertmanager (`sandbox up --monitoring`): Flux's metrics of the reconciler
    (gotk_reconcile_duration_seconds, gotk_resource_info…) and of the kube-apiserver, Flux's alert rules.

    \b
    Examples:
      sandbox metrics query 'gotk_resource_info{ready="False"}'
      sandbox metrics query 'gotk:reconcile_duration_seconds:p99' -o json
      sandbox metrics alerts
      sandbox metrics open --browser
      sandbox metrics report --html report.html --minutes 15
    """


@metrics.command()
@NAME_OPTION
@click.argument("promql")
@output.OUTPUT_OPTION
def query(name: str | None, promql: str, output_format: str) -> None:
    """Evaluate PROMQL now (an instant query) and print the series."""
    result = _client(name).query(promql)
    if output_format != "table":
        output.emit_data(result, output_format)
        return
    rows = [[", ".join(f'{k}="{v}"' for k, v in sorted(item["metric"].items())), item["value"][1]]
            for item in result]
    output.table(["series", "value"], rows, title=f"{promql} ({len(rows)} series)")


@metrics.command(name="open")
@NAME_OPTION
@click.option("--browser", is_flag=True, help="Open the URL in the default web browser too.")
def open_(name: str | None, browser: bool) -> None:
    """Print the Prometheus UI URL (and Alertmanager's). Both ask for the sandbox's credentials: user `sandbox`,
    the password in the file printed (never on the terminal)."""
    state = StateDir(config.resolve_name(name))
    client = _client(name)
    click.echo(client.url)
    output.info(f"  alertmanager: {client.alertmanager}")
    output.info(f"  log in as {webauth.USER!r} with the password in {webauth.password_file(state)}")
    if browser:
        webbrowser.open(client.url)


@metrics.command()
@NAME_OPTION
@output.OUTPUT_OPTION
def alerts(name: str | None, output_format: str) -> None:
    """Alerts pending or firing in Prometheus, and those Alertmanager holds."""
    client = _client(name)
    data = {"prometheus": client.alerts(), "alertmanager": client.alertmanager_alerts()}
    if output_format != "table":
        output.emit_data(data, output_format)
        return
    rows = [["prometheus", a["labels"].get("alertname", ""), a.get("state", ""), _object(a["labels"]),
             a.get("activeAt", "")] for a in data["prometheus"]]
    rows += [["alertmanager", a["labels"].get("alertname", ""), a.get("status", {}).get("state", ""),
              _object(a["labels"]), a.get("startsAt", "")] for a in data["alertmanager"]]
    output.table(["where", "alert", "state", "object", "since"], rows, title=f"{len(rows)} alerts")


def _object(labels: dict[str, str]) -> str:
    return report.object_key(labels).strip() if labels.get("name") else ""


@metrics.command(name="report")
@NAME_OPTION
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Write the self-contained HTML page here.")
@click.option("--minutes", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="How far back the plots go.")
def report_(name: str | None, html_out: Path, minutes: float) -> None:
    """A self-contained HTML page (inline SVG, no external assets) plotting reconcile durations and readiness of
    every object over the last MINUTES."""
    client = _client(name)
    end = time.time()
    start = end - minutes * 60
    data = report.collect(client, start=start, end=end, step=max((end - start) / 300, 1.0))
    html_out.write_text(report.render(data), encoding="utf-8")
    output.success(f"wrote {html_out} ({len(data.readiness)} objects, {len(data.durations)} with durations)")


COMMANDS = [metrics]
