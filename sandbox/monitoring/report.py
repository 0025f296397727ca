"""``sandbox metrics report --html``: one self-contained page (inline CSS and SVG, no script, no external asset)
with, per object, its reconcile duration and its readiness over time, drawn from Prometheus range queries."""

from __future__ import annotations

import datetime
import html
import itertools
from dataclasses import dataclass, field
from typing import Any

from sandbox.monitoring.client import Prometheus

DURATION_QUERY = ("sum by (kind, namespace, name) (rate(gotk_reconcile_duration_seconds_sum[{window}])) / "
                  "sum by (kind, namespace, name) (rate(gotk_reconcile_duration_seconds_count[{window}]))")
READY_QUERY = 'max by (customresource_kind, exported_namespace, name) (gotk_resource_info{ready="True"})'
INFO_QUERY = "max by (customresource_kind, exported_namespace, name) (gotk_resource_info)"
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
WIDTH, HEIGHT, PAD = 900, 220, 48
READY_COLOURS = {True: "#2ca02c", False: "#d62728"}  # the readiness lanes
LANE, LABEL_W = 22, 260


@dataclass
class ReportData:
    start: float
    end: float
    durations: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # object -> [(t, seconds)]
    readiness: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # object -> [(t, 1|0)]


def object_key(metric: dict[str, str]) -> str:
    kind = metric.get("kind") or metric.get("customresource_kind", "")
    namespace = metric.get("namespace") or metric.get("exported_namespace", "")
    return f"{kind} {namespace}/{metric.get('name', '')}"


def from_results(start: float, end: float, durations: list[dict[str, Any]], ready: list[dict[str, Any]],
                 present: list[dict[str, Any]]) -> ReportData:
    """ReportData from ``query_range`` matrices: durations, ready==1 series, and every object's info series
    (an object present at a time without a ready series was not ready then)."""
    data = ReportData(start, end)
    for series in durations:
        points = [(float(t), float(v)) for t, v in series["values"] if v not in ("NaN", "+Inf", "-Inf")]
        if points:
            data.durations[object_key(series["metric"])] = points
    ready_at = {object_key(s["metric"]): {float(t) for t, _ in s["values"]} for s in ready}
    for series in present:
        key = object_key(series["metric"])
        data.readiness[key] = [(float(t), 1.0 if float(t) in ready_at.get(key, set()) else 0.0)
                               for t, _ in series["values"]]
    return data


def collect(prometheus: Prometheus, *, start: float, end: float, step: float) -> ReportData:
    window = f"{max(int(step * 4), 60)}s"
    return from_results(
        start, end,
        prometheus.query_range(DURATION_QUERY.format(window=window), start=start, end=end, step=step),
        prometheus.query_range(READY_QUERY, start=start, end=end, step=step),
        prometheus.query_range(INFO_QUERY, start=start, end=end, step=step))


def _clock(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%H:%M:%S")


def _axes(start: float, end: float, y_max: float, y_label: str) -> list[str]:
    parts = [f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD / 2}" x2="{WIDTH - 10}" y2="{HEIGHT - PAD / 2}"/>',
             f'<line class="axis" x1="{PAD}" y1="10" x2="{PAD}" y2="{HEIGHT - PAD / 2}"/>',
             f'<text x="4" y="20">{html.escape(y_label)}</text>',
             f'<text x="4" y="{HEIGHT - PAD / 2}">0</text>',
             f'<text x="{PAD}" y="{HEIGHT - 6}">{_clock(start)} UTC</text>',
             f'<text x="{WIDTH - 90}" y="{HEIGHT - 6}">{_clock(end)} UTC</text>']
    if y_max:
        parts.append(f'<text x="4" y="34">{y_max:.3g}</text>')
    return parts


def line_chart(series: dict[str, list[tuple[float, float]]], start: float, end: float, *, y_label: str,
               y_max: float | None = None) -> str:
    """An SVG line chart, one polyline per series, and its legend."""
    top = y_max if y_max is not None else max((v for points in series.values() for _, v in points), default=0.0)
    top = top or 1.0
    span = (end - start) or 1.0
    plot_w, plot_h = WIDTH - PAD - 10, HEIGHT - PAD / 2 - 28

    def xy(t: float, v: float) -> str:
        return f"{PAD + (t - start) / span * plot_w:.1f},{HEIGHT - PAD / 2 - v / top * plot_h:.1f}"

    parts = _axes(start, end, top, y_label)
    legend = []
    for index, (name, points) in enumerate(sorted(series.items())):
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(xy(t, v) for t, v in points)
        parts.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
                     f"<title>{html.escape(name)}</title></polyline>")
        legend.append(f'<li><span class="swatch" style="background:{colour}"></span>{html.escape(name)}</li>')
    if not series:
        parts.append(f'<text x="{WIDTH / 2 - 60}" y="{HEIGHT / 2}">no samples in this window</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(parts)}</svg>')
    return svg + f'<ul class="legend">{"".join(legend)}</ul>'


def readiness_lanes(series: dict[str, list[tuple[float, float]]], start: float, end: float) -> str:
    """An SVG with one lane per object: green where it was Ready, red where it existed and was not."""
    span = (end - start) or 1.0
    plot_w = WIDTH - LABEL_W - 10
    height = LANE * max(len(series), 1) + 30
    parts = [f'<text x="{LABEL_W}" y="{height - 6}">{_clock(start)} UTC</text>',
             f'<text x="{WIDTH - 90}" y="{height - 6}">{_clock(end)} UTC</text>']

    def x(t: float) -> float:
        return LABEL_W + (min(max(t, start), end) - start) / span * plot_w

    for row, (name, points) in enumerate(sorted(series.items())):
        top = 6 + row * LANE
        parts.append(f'<text x="4" y="{top + 14}">{html.escape(name)}</text>')
        step = min((b[0] - a[0] for a, b in itertools.pairwise(points)), default=span / 100)
        for index, (t, value) in enumerate(points):
            until = points[index + 1][0] if index + 1 < len(points) and points[index + 1][0] - t <= step * 1.5 \
                else t + step
            ready = value >= 1.0
            parts.append(f'<rect class="{"ready" if ready else "not-ready"}" x="{x(t):.1f}" y="{top}" '
                         f'width="{max(x(until) - x(t), 1.0):.1f}" height="{LANE - 6}" '
                         f'fill="{READY_COLOURS[ready]}"><title>{html.escape(name)} {_clock(t)} '
                         f'{"Ready" if ready else "not Ready"}</title></rect>')
    if not series:
        parts.append(f'<text x="{WIDTH / 2 - 60}" y="20">no objects in this window</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}">{"".join(parts)}</svg>')


def render(data: ReportData, *, title: str = "Reconciler metrics") -> str:
    """The HTML page."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
svg {{ background: #fafafa; border: 1px solid #ddd; }}
svg text {{ font-size: 11px; fill: #555; }}
.axis {{ stroke: #888; stroke-width: 1; }}
.legend {{ list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 1em; font-size: 13px; }}
.swatch {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{_clock(data.start)} – {_clock(data.end)} UTC; {len(data.readiness)} objects.</p>
<h2>Mean reconcile duration (seconds)</h2>
<section id="durations">{line_chart(data.durations, data.start, data.end, y_label="s")}</section>
<h2>Readiness (green: Ready, red: not Ready)</h2>
<section id="readiness">{readiness_lanes(data.readiness, data.start, data.end)}</section>
</body></html>
"""
