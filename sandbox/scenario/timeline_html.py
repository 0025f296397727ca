"""A timeline as one self-contained HTML page (inline CSS and SVG, no script, no external asset): a lane per
object with its Ready state over time, markers for pushes, commits, Events and alert deliveries (coloured by
severity, drawn by outcome), bands for Prometheus alerts (pending, firing) and scenario steps, a sparkline of the
object's reconcile durations, a time axis, a legend, and every message in a hover title. Every string from the
timeline is escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sandbox.scenario.replay import describe
from sandbox.scenario.timeline import TimelineEvent, in_order

LABEL_WIDTH = 340
PLOT_WIDTH = 980
RIGHT_MARGIN = 24
WIDTH = LABEL_WIDTH + PLOT_WIDTH + RIGHT_MARGIN
HEADER = 64  # step labels (two rows) and the top axis
HEADER_WITHOUT_STEPS = 30  # the top axis alone
LANE_HEIGHT = 28
GROUP_HEIGHT = 22
FOOTER = 30
LABEL_CHARS = 44  # what fits in LABEL_WIDTH at 12px monospace

READY_COLOURS = {"True": "#2f9e44", "False": "#e03131", "Unknown": "#f08c00"}
SEVERITY_COLOURS = {"error": "#e03131", "info": "#1c7ed6"}
OTHER_SEVERITY = "#f08c00"
PROMETHEUS_COLOURS = {"pending": "#ffd8a8", "firing": "#ffa8a8"}
SPARKLINE = "#0b7285"
FLUX_KIND_ORDER = ("GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart", "Kustomization",
                   "HelmRelease", "ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "Receiver", "Provider",
                   "Alert")
GROUPS = ("Scenario", "Git", "Flux objects", "Artifacts", "Notifications", "Other objects")
STORY_TYPES = ("narration", "note", "session")

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #1f2933;
       background: #ffffff; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
.meta { color: #52606d; font-size: 13px; margin: 0 0 12px 0; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 12px; color: #3e4c59; margin: 0 0 10px 0; }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
svg.timeline { display: block; background: #ffffff; }
svg text { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px;
           fill: #1f2933; }
svg .axis text { fill: #616e7c; font-size: 11px; }
svg .group-title { font-family: system-ui, sans-serif; font-weight: 600; fill: #52606d; font-size: 11px;
                   letter-spacing: 0.06em; text-transform: uppercase; }
svg .lane-kind { font-weight: 700; }
svg .step-label { font-family: system-ui, sans-serif; font-size: 11px; fill: #1c4f8a; }
svg .step-label.failed { fill: #a61e1e; }
svg .marker:hover, svg .segment:hover { stroke: #111111; stroke-width: 1.5; }
svg .empty { font-family: system-ui, sans-serif; fill: #7b8794; font-size: 14px; }
details { margin-top: 18px; font-size: 12px; }
summary { cursor: pointer; color: #3e4c59; font-size: 13px; }
table { border-collapse: collapse; margin-top: 8px; }
td, th { text-align: left; padding: 2px 10px 2px 0; vertical-align: top; }
th { color: #52606d; font-weight: 600; }
td.t { color: #616e7c; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.subject { font-family: ui-monospace, "DejaVu Sans Mono", monospace; white-space: nowrap; }
tr.Warning td, tr.False td { color: #a61e1e; }
"""


def esc(value: object) -> str:
    """Text made safe for HTML element content and quoted attribute values."""
    return html.escape(str(value), quote=True)


@dataclass
class Lane:
    subject: str
    label: str
    group: str
    first: float
    events: list[TimelineEvent] = field(default_factory=list)


@dataclass(frozen=True)
class StepBand:
    index: str
    title: str
    start: float
    end: float
    status: str


def _num(value: float) -> str:
    return f"{value:.1f}"


def _truncate(text: str, limit: int = LABEL_CHARS) -> str:
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2):]


def _group_of(subject: str, events: Sequence[TimelineEvent]) -> str:
    types = {e.type for e in events}
    if subject.startswith("repo/"):
        return "Git"
    if "status" in types:
        return "Flux objects"
    if types <= {"alert", "prometheus_alert"}:
        return "Notifications"
    if types & {"image", "chart"}:
        return "Artifacts"
    return "Scenario" if not subject else "Other objects"


def build_lanes(events: Sequence[TimelineEvent]) -> list[Lane]:
    """One lane per subject (narration and notes share a "Scenario" lane; steps are bands, not lanes), in group
    order; Flux objects by kind (sources first), the rest in order of first appearance."""
    by_key: dict[tuple[str, str], list[TimelineEvent]] = {}
    for event in events:
        if event.type == "step" or (event.type == "session" and not event.subject):
            continue  # steps are bands; the session frames the page
        # Entries without a subject share a lane per kind of entry: "narration" (with notes), "alerts", …
        bucket = "" if event.subject else ("narration" if event.type in STORY_TYPES else f"{event.type}s")
        by_key.setdefault((event.subject, bucket), []).append(event)
    lanes = [Lane(subject, subject or bucket, _group_of(subject, own), own[0].t, own)
             for (subject, bucket), own in by_key.items()]

    def order(lane: Lane) -> tuple[int, int, str, float]:
        kind = lane.subject.split("/", 1)[0]
        kind_rank = FLUX_KIND_ORDER.index(kind) if kind in FLUX_KIND_ORDER else len(FLUX_KIND_ORDER)
        if lane.group == "Flux objects":
            return GROUPS.index(lane.group), kind_rank, lane.subject, 0.0
        return GROUPS.index(lane.group), 0, "", lane.first

    return sorted(lanes, key=order)


def step_bands(events: Sequence[TimelineEvent], end: float) -> list[StepBand]:
    """A band per step from its ``started`` entry to its outcome (or the end of the timeline)."""
    open_steps: dict[str, TimelineEvent] = {}
    bands = []
    for event in events:
        if event.type != "step":
            continue
        index = str(event.data.get("index", event.subject))
        status = str(event.data.get("status", ""))
        if status == "started":
            open_steps[index] = event
            continue
        begun = open_steps.pop(index, None)
        start = begun.t if begun is not None else max(0.0, event.t - float(event.data.get("duration") or 0))
        title = str(event.data.get("title") or (begun.data.get("title") if begun else "") or "")
        bands.append(StepBand(index, title or str(event.data.get("step", "")), start, event.t, status))
    for index, begun in open_steps.items():
        bands.append(StepBand(index, str(begun.data.get("title") or begun.data.get("step", "")), begun.t, end,
                              "running"))
    return sorted(bands, key=lambda b: b.start)


def _step_label(band: StepBand, room: int) -> str:
    """``index · title`` cut to ``room`` characters at its end; the index alone when little fits."""
    label = f"{band.index} · {band.title}"
    if len(label) <= room:
        return label
    if room >= len(band.index) + 5:
        return label[: room - 1] + "…"
    return band.index if len(band.index) <= max(room, 1) else ""


def nice_step(duration: float, target_ticks: int = 10) -> float:
    """A tick spacing from 1-2-5 series (and minutes) giving about ``target_ticks`` ticks over ``duration``."""
    raw = max(duration, 1e-3) / target_ticks
    for candidate in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if candidate >= raw:
            return float(candidate)
    return float(3600 * math.ceil(raw / 3600))


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}s" if seconds == int(seconds) or seconds < 1 else f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _Scale:
    def __init__(self, end: float) -> None:
        self.end = max(end, 1.0)

    def x(self, t: float) -> float:
        return LABEL_WIDTH + PLOT_WIDTH * min(max(t, 0.0), self.end) / self.end


def _title(event: TimelineEvent) -> str:
    line = describe(event)
    subject = f" · {event.subject}" if event.subject else ""
    return f"{event.t:.2f}s · {event.type}{subject}\n{line.text}"


def _marker(event: TimelineEvent, x: float, y: float) -> str:
    """The SVG shape for one point event, with its hover title."""
    title = f"<title>{esc(_title(event))}</title>"
    if event.type == "event":
        if event.data.get("type") == "Warning":
            points = f"{_num(x)},{_num(y - 6)} {_num(x + 6)},{_num(y + 5)} {_num(x - 6)},{_num(y + 5)}"
            return f'<polygon class="marker event-warning" points="{points}" fill="#f59f00" stroke="#9c5700">{title}' \
                   "</polygon>"
        return f'<circle class="marker event-normal" cx="{_num(x)}" cy="{_num(y)}" r="4.5" fill="#4c6ef5" ' \
               f'stroke="#364fc7">{title}</circle>'
    if event.type == "push":
        points = f"{_num(x)},{_num(y - 7)} {_num(x + 7)},{_num(y)} {_num(x)},{_num(y + 7)} {_num(x - 7)},{_num(y)}"
        return f'<polygon class="marker push" points="{points}" fill="#9c36b5" stroke="#5f1f6f">{title}</polygon>'
    if event.type == "commit":
        return f'<circle class="marker commit" cx="{_num(x)}" cy="{_num(y)}" r="5" fill="#ffffff" ' \
               f'stroke="#9c36b5" stroke-width="2.5">{title}</circle>'
    if event.type == "alert":
        return _alert_marker(event, x, y, title)
    if event.type == "metric":
        ready = str(event.data.get("ready", "Unknown"))
        colour = READY_COLOURS.get(ready, READY_COLOURS["Unknown"])
        return f'<rect class="marker metric-ready" x="{_num(x - 2.5)}" y="{_num(y - 2.5)}" width="5" height="5" ' \
               f'fill="{colour}" stroke="#ffffff" stroke-width="0.8">{title}</rect>'
    if event.type in ("image", "chart"):
        return f'<rect class="marker {event.type}" x="{_num(x - 5)}" y="{_num(y - 5)}" width="10" height="10" ' \
               f'fill="#1098ad" stroke="#0b6474">{title}</rect>'
    # narration, notes and anything newer: a small flag
    points = f"{_num(x)},{_num(y - 7)} {_num(x + 8)},{_num(y - 3)} {_num(x)},{_num(y + 1)}"
    return f'<g class="marker story"><line x1="{_num(x)}" y1="{_num(y - 7)}" x2="{_num(x)}" y2="{_num(y + 7)}" ' \
           f'stroke="#52606d" stroke-width="1.5"/><polygon points="{points}" fill="#7b8794">{title}</polygon></g>'


def _star(x: float, y: float, outer: float = 8, inner: float = 3.5) -> str:
    return " ".join(f"{_num(x + r * math.sin(i * math.pi / 5))},{_num(y - r * math.cos(i * math.pi / 5))}"
                    for i, r in zip(range(10), [outer, inner] * 5, strict=True))


def _alert_marker(event: TimelineEvent, x: float, y: float, title: str) -> str:
    """A star coloured by severity: filled when sent, hollow and dashed while retrying, hollow and crossed out when
    it failed, grey when dropped. Entries without an outcome (older timelines) are drawn as sent."""
    outcome = str(event.data.get("outcome") or "sent")
    severity = str(event.data.get("severity") or "")
    colour = SEVERITY_COLOURS.get(severity, OTHER_SEVERITY)
    css = f"marker alert alert-{esc(outcome)} severity-{esc(severity or 'other')}"
    points = _star(x, y)
    if outcome == "failed":
        cross = (f'<path d="M{_num(x - 5)},{_num(y - 5)} L{_num(x + 5)},{_num(y + 5)} M{_num(x + 5)},{_num(y - 5)} '
                 f'L{_num(x - 5)},{_num(y + 5)}" stroke="#212529" stroke-width="2" pointer-events="none"/>')
        return f'<g class="{css}"><polygon points="{points}" fill="#ffffff" stroke="{colour}" stroke-width="2">' \
               f"{title}</polygon>{cross}</g>"
    if outcome == "retrying":
        return f'<polygon class="{css}" points="{points}" fill="#ffffff" stroke="{colour}" stroke-width="1.5" ' \
               f'stroke-dasharray="2,1.5">{title}</polygon>'
    fill, stroke = (colour, "#212529") if outcome == "sent" else ("#ced4da", "#868e96")
    return f'<polygon class="{css}" points="{points}" fill="{fill}" stroke="{stroke}">{title}</polygon>'


def _prometheus_bands(lane: Lane, scale: _Scale, top: float) -> list[str]:
    """A band per Prometheus alert state (pending, firing) from the entry to the alert's next one (or the end)."""
    parts = []
    alerts = [e for e in lane.events if e.type == "prometheus_alert"]
    for position, event in enumerate(alerts):
        state = str(event.data.get("state", ""))
        if state not in PROMETHEUS_COLOURS:
            continue
        name = event.data.get("alertname")
        following = next((e for e in alerts[position + 1:] if e.data.get("alertname") == name), None)
        end = following.t if following is not None else scale.end
        x1, x2 = scale.x(event.t), scale.x(end)
        text = f"Prometheus alert {name} {state} from {event.t:.2f}s to {end:.2f}s\n{describe(event).text}"
        parts.append(f'<rect class="prom-alert prom-{state}" x="{_num(x1)}" y="{_num(top + 1)}" '
                     f'width="{_num(max(x2 - x1, 1.5))}" height="{LANE_HEIGHT - 2}" fill="{PROMETHEUS_COLOURS[state]}" '
                     f'fill-opacity="0.6"><title>{esc(text)}</title></rect>')
    return parts


def _sparkline(lane: Lane, scale: _Scale, top: float) -> list[str]:
    """The object's reconcile durations: a line through its samples, scaled to the lane's largest, in the upper
    part of the lane, with a point (and hover title) per sample."""
    samples = [e for e in lane.events if e.type == "metric" and isinstance(e.data.get("value"), int | float)
               and "ready" not in e.data]
    if not samples:
        return []
    highest = max(float(e.data["value"]) for e in samples) or 1.0

    def y_of(value: float) -> float:
        return top + 15 - 12 * value / highest

    coordinates = [(scale.x(e.t), y_of(float(e.data["value"]))) for e in samples]
    parts = [f'<polyline class="sparkline" points="{" ".join(f"{_num(x)},{_num(y)}" for x, y in coordinates)}" '
             f'fill="none" stroke="{SPARKLINE}" stroke-width="1.2" stroke-opacity="0.8" pointer-events="none"/>']
    for event, (x, y) in zip(samples, coordinates, strict=True):
        parts.append(f'<circle class="marker metric-duration" cx="{_num(x)}" cy="{_num(y)}" r="2.2" '
                     f'fill="{SPARKLINE}"><title>{esc(_title(event))}</title></circle>')
    return parts


def _status_segments(lane: Lane, scale: _Scale, top: float) -> list[str]:
    statuses = [e for e in lane.events if e.type == "status"]
    parts = []
    bar_y = top + 17
    for position, event in enumerate(statuses):
        if event.data.get("deleted"):
            x = scale.x(event.t)
            parts.append(f'<line class="marker deleted" x1="{_num(x)}" y1="{_num(top + 5)}" x2="{_num(x)}" '
                         f'y2="{_num(top + LANE_HEIGHT - 3)}" stroke="#343a40" stroke-width="2">'
                         f"<title>{esc(_title(event))}</title></line>")
            continue
        end = statuses[position + 1].t if position + 1 < len(statuses) else scale.end
        x1, x2 = scale.x(event.t), scale.x(end)
        ready = str(event.data.get("ready", "Unknown"))
        colour = READY_COLOURS.get(ready, READY_COLOURS["Unknown"])
        title = esc(f"Ready={ready} from {event.t:.2f}s to {end:.2f}s\n{describe(event).text}")
        width = max(x2 - x1, 1.5)
        parts.append(f'<rect class="segment ready-{esc(ready if ready in READY_COLOURS else "Unknown")}" '
                     f'x="{_num(x1)}" y="{_num(bar_y)}" width="{_num(width)}" height="8" rx="2" fill="{colour}">'
                     f"<title>{title}</title></rect>")
        if event.data.get("suspended"):
            parts.append(f'<rect x="{_num(x1)}" y="{_num(bar_y)}" width="{_num(width)}" height="8" '
                         f'fill="url(#suspended)" pointer-events="none"/>')
        # the transition itself: a tick where the state changed
        parts.append(f'<rect x="{_num(x1 - 0.75)}" y="{_num(bar_y - 3)}" width="1.5" height="14" fill="{colour}" '
                     'pointer-events="none"/>')
    return parts


STAR = _star(8, 8.5, 7.5, 3.2)


def _legend() -> str:
    def swatch(shape: str, label: str) -> str:
        return f'<span><svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">{shape}</svg>' \
               f"{esc(label)}</span>"

    items = [
        swatch(f'<rect x="1" y="4" width="14" height="8" rx="2" fill="{READY_COLOURS["True"]}"/>', "Ready=True"),
        swatch(f'<rect x="1" y="4" width="14" height="8" rx="2" fill="{READY_COLOURS["False"]}"/>', "Ready=False"),
        swatch(f'<rect x="1" y="4" width="14" height="8" rx="2" fill="{READY_COLOURS["Unknown"]}"/>',
               "Ready=Unknown (reconciling)"),
        swatch('<rect x="1" y="4" width="14" height="8" rx="2" fill="#adb5bd"/>'
               '<rect x="1" y="4" width="14" height="8" fill="url(#suspended)"/>', "suspended"),
        swatch('<polygon points="8,1 15,8 8,15 1,8" fill="#9c36b5"/>', "push"),
        swatch('<circle cx="8" cy="8" r="5" fill="#fff" stroke="#9c36b5" stroke-width="2.5"/>', "commit"),
        swatch('<circle cx="8" cy="8" r="4.5" fill="#4c6ef5"/>', "Event (Normal)"),
        swatch('<polygon points="8,2 14,13 2,13" fill="#f59f00" stroke="#9c5700"/>', "Event (Warning)"),
        swatch(f'<polygon points="{STAR}" fill="{SEVERITY_COLOURS["error"]}" stroke="#212529"/>',
               "alert sent (error)"),
        swatch(f'<polygon points="{STAR}" fill="{SEVERITY_COLOURS["info"]}" stroke="#212529"/>', "alert sent (info)"),
        swatch(f'<polygon points="{STAR}" fill="#fff" stroke="{SEVERITY_COLOURS["error"]}" stroke-dasharray="2,1.5"/>',
               "alert retrying"),
        swatch(f'<polygon points="{STAR}" fill="#fff" stroke="{SEVERITY_COLOURS["error"]}" stroke-width="2"/>'
               '<path d="M3,3 L13,13 M13,3 L3,13" stroke="#212529" stroke-width="2"/>', "alert failed"),
        swatch(f'<polygon points="{STAR}" fill="#ced4da" stroke="#868e96"/>', "alert dropped"),
        swatch(f'<rect x="0" y="1" width="16" height="14" fill="{PROMETHEUS_COLOURS["pending"]}"/>',
               "Prometheus alert pending"),
        swatch(f'<rect x="0" y="1" width="16" height="14" fill="{PROMETHEUS_COLOURS["firing"]}"/>',
               "Prometheus alert firing"),
        swatch(f'<polyline points="1,12 5,6 9,9 15,3" fill="none" stroke="{SPARKLINE}" stroke-width="1.5"/>',
               "reconcile duration"),
        swatch('<rect x="3" y="3" width="10" height="10" fill="#1098ad"/>', "image / chart"),
        swatch('<rect x="0" y="0" width="16" height="16" fill="#dbe4ff" stroke="#91a7ff"/>', "scenario step"),
        swatch('<line x1="8" y1="1" x2="8" y2="15" stroke="#343a40" stroke-width="2"/>', "deleted"),
    ]
    return f'<div class="legend">{"".join(items)}</div>'


def _axis(scale: _Scale, y: float, bottom: float, *, labels_above: bool) -> list[str]:
    step = nice_step(scale.end)
    parts = ['<g class="axis">']
    ticks = int(scale.end / step + 1e-9)
    for number in range(ticks + 1):
        t = number * step
        x = scale.x(t)
        parts.append(f'<line x1="{_num(x)}" y1="{_num(y)}" x2="{_num(x)}" y2="{_num(bottom)}" stroke="#e4e7eb"/>')
        label_y = y - 4 if labels_above else bottom + 14
        parts.append(f'<text x="{_num(x)}" y="{_num(label_y)}" text-anchor="middle">{esc(format_seconds(t))}</text>')
    parts.append("</g>")
    return parts


def render(events: Sequence[TimelineEvent], *, title: str = "") -> str:
    """The whole HTML page for ``events``."""
    events = in_order(list(events))
    session = next((e for e in events if e.type == "session" and e.data.get("phase") == "start"), None)
    page_title = title or (str(session.data.get("title")) if session and session.data.get("title") else "Timeline")
    end = max((e.t for e in events), default=0.0)
    scale = _Scale(end * 1.02 if end > 0 else 1.0)
    lanes = build_lanes(events)
    bands = step_bands(events, scale.end)
    header = HEADER if bands else HEADER_WITHOUT_STEPS

    rows: list[tuple[str, Lane | str]] = []  # ("group", name) or ("lane", lane)
    current_group = ""
    for lane in lanes:
        if lane.group != current_group:
            rows.append(("group", lane.group))
            current_group = lane.group
        rows.append(("lane", lane))
    height = header + sum(GROUP_HEIGHT if kind == "group" else LANE_HEIGHT for kind, _ in rows) + FOOTER
    if not lanes:
        height = header + 60 + FOOTER
    lanes_bottom = height - FOOTER

    svg: list[str] = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{esc(page_title)}">',
        '<defs><pattern id="suspended" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#ffffff" fill-opacity="0.55"/></pattern>'
        "</defs>",
    ]
    # lane stripes first, so that bands, grid and markers draw over them
    y = float(header)
    lane_tops: dict[str, float] = {}
    stripe = 0
    for kind, item in rows:
        if kind == "group":
            y += GROUP_HEIGHT
            continue
        assert isinstance(item, Lane)
        lane_tops[item.subject] = y
        fill = "#f5f7fa" if stripe % 2 == 0 else "#ffffff"
        svg.append(f'<rect x="0" y="{_num(y)}" width="{WIDTH}" height="{LANE_HEIGHT}" fill="{fill}"/>')
        stripe += 1
        y += LANE_HEIGHT
    # step bands across every lane; their labels in the header, in two rows so that neighbours do not collide,
    # drawn after every band so that none covers another's label
    labels = []
    for number, band in enumerate(bands):
        x1, x2 = scale.x(band.start), scale.x(band.end)
        failed = band.status == "failed"
        fill = "#ffe3e3" if failed else ("#dbe4ff" if number % 2 == 0 else "#e7f5ff")
        edge = "#ff8787" if failed else "#91a7ff"
        label = f"{band.index} · {band.title}"
        svg.append(f'<g class="step" data-status="{esc(band.status)}">'
                   f'<rect x="{_num(x1)}" y="4" width="{_num(max(x2 - x1, 2))}" height="{_num(lanes_bottom - 4)}" '
                   f'fill="{fill}" fill-opacity="0.55" stroke="{edge}" stroke-width="0.8">'
                   f"<title>{esc(f'step {label} — {band.status} ({band.start:.2f}s to {band.end:.2f}s)')}</title>"
                   "</rect></g>")
        # a label may run on until the next label of its row begins
        next_in_row = scale.x(bands[number + 2].start) if number + 2 < len(bands) else WIDTH
        shown = _step_label(band, int((next_in_row - x1 - 10) / 6.2))
        if shown:
            labels.append(f'<text class="step-label{" failed" if failed else ""}" x="{_num(x1 + 3)}" '
                          f'y="{16 if number % 2 == 0 else 30}">{esc(shown)}<title>{esc(label)}</title></text>')
    svg.extend(labels)
    svg.extend(_axis(scale, header - 14, lanes_bottom, labels_above=True))
    # group titles and lanes
    y = float(header)
    for kind, item in rows:
        if kind == "group":
            svg.append(f'<text class="group-title" x="10" y="{_num(y + 15)}">{esc(item)}</text>')
            svg.append(f'<line x1="0" y1="{_num(y + GROUP_HEIGHT - 1)}" x2="{WIDTH}" '
                       f'y2="{_num(y + GROUP_HEIGHT - 1)}" stroke="#cbd2d9"/>')
            y += GROUP_HEIGHT
            continue
        assert isinstance(item, Lane)
        svg.append(_lane(item, scale, y))
        y += LANE_HEIGHT
    if not lanes:
        svg.append(f'<text class="empty" x="{LABEL_WIDTH + 20}" y="{header + 34}">nothing happened in this '
                   "timeline</text>")
    svg.append(f'<line x1="{LABEL_WIDTH}" y1="{header - 14}" x2="{LABEL_WIDTH}" y2="{_num(lanes_bottom)}" '
               'stroke="#9aa5b1"/>')
    svg.append("</svg>")

    counts: dict[str, int] = {}
    for event in events:
        counts[event.type] = counts.get(event.type, 0) + 1
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    started = session.at if session else (events[0].at if events else "")
    meta_bits = [f"{len(events)} entries" + (f" ({summary})" if summary else ""), f"{format_seconds(round(end, 1))}",
                 f"{len(lanes)} lanes"]
    if started:
        meta_bits.insert(0, f"started {started}")
    if session and session.data.get("sandbox"):
        meta_bits.insert(0, f"sandbox {session.data['sandbox']}")
    if session and session.data.get("scenario"):
        meta_bits.insert(0, f"scenario {session.data['scenario']}")

    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{esc(page_title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(page_title)}</h1>",
        f'<p class="meta">{esc(" · ".join(meta_bits))}</p>',
        _legend(),
        "\n".join(svg),
        _table(events),
        "</body></html>\n",
    ])


def _lane(lane: Lane, scale: _Scale, top: float) -> str:
    parts = [f'<g class="lane" data-subject="{esc(lane.subject)}" data-group="{esc(lane.group)}">']
    label = _truncate(lane.label)
    kind, slash, rest = label.partition("/")
    text = f'<tspan class="lane-kind">{esc(kind)}</tspan>{esc(slash + rest)}' if slash else esc(label)
    parts.append(f'<text x="12" y="{_num(top + 18)}">{text}<title>{esc(lane.label)}</title></text>')
    parts.extend(_prometheus_bands(lane, scale, top))
    parts.extend(_status_segments(lane, scale, top))
    parts.extend(_sparkline(lane, scale, top))
    marker_y = top + 9 if any(e.type == "status" for e in lane.events) else top + LANE_HEIGHT / 2
    has_commits = any(e.type == "commit" for e in lane.events)
    for event in lane.events:
        if event.type in ("status", "prometheus_alert") or (event.type == "metric" and "ready" not in event.data):
            continue  # drawn as segments, bands and the sparkline
        y = marker_y
        if event.type == "metric":
            y = top + 4
        if has_commits and event.type in ("commit", "push"):  # a commit and its push sit one above the other
            y = top + 8 if event.type == "commit" else top + 19
        parts.append(_marker(event, scale.x(event.t), y))
    parts.append("</g>")
    return "\n".join(parts)


def _table(events: Sequence[TimelineEvent]) -> str:
    rows = []
    for event in events:
        line = describe(event)
        css = str(event.data.get("type", "")) if event.type == "event" else str(event.data.get("ready", ""))
        css_class = css if css in ("Warning", "False") else ""
        if event.data.get("outcome") == "failed" or event.data.get("state") == "firing":
            css_class = "False"
        rows.append(f'<tr class="{css_class}"><td class="t">{event.t:.3f}s</td><td>{esc(event.type)}</td>'
                    f'<td class="subject">{esc(event.subject)}</td><td>{esc(line.text)}</td></tr>')
    return (f"<details><summary>All {len(events)} entries</summary><table><thead><tr><th>time</th><th>type</th>"
            f"<th>subject</th><th>what happened</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>")
