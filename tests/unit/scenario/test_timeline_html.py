"""The HTML timeline on hand-written timelines: lanes, bands, markers, the axis, and escaping."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from sandbox.scenario import timeline_html
from sandbox.scenario.timeline import TimelineEvent
from tests.unit.scenario.samples import GIT, HOSTILE, KS, session


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def with_class(self, css: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.tags if css in attrs.get("class", "").split()]


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def page() -> str:
    return timeline_html.render(session())


def test_one_lane_per_object_in_group_order(page: str) -> None:
    lanes = [(a["data-group"], a["data-subject"]) for a in parse(page).with_class("lane")]
    assert lanes == [
        ("Scenario", ""),
        ("Git", "repo/demo"),
        ("Flux objects", GIT),
        ("Flux objects", KS),
        ("Flux objects", "Receiver/flux-system/" + HOSTILE),
        ("Artifacts", "image/registry/app"),
        ("Notifications", "Alert/flux-system/on-call"),
        ("Other objects", "ConfigMap/demo/app"),
    ]


def test_status_segments_follow_ready(page: str) -> None:
    match = re.search(r'<g class="lane" data-subject="Kustomization/flux-system/demo".*?</g>\n?', page, re.S)
    assert match is not None
    segments = re.findall(r'class="segment ready-(\w+)"', match.group(0))
    assert segments == ["Unknown", "True", "False", "False", "True"]
    assert match.group(0).count('fill="url(#suspended)"') == 1
    assert 'class="marker event-warning"' in match.group(0) and 'class="marker event-normal"' in match.group(0)


def test_markers_and_bands(page: str) -> None:
    parsed = parse(page)
    assert len(parsed.with_class("push")) == 2
    assert len(parsed.with_class("commit")) == 1
    assert len(parsed.with_class("alert")) == 1
    assert len(parsed.with_class("deleted")) == 1
    assert [a["data-status"] for a in parsed.with_class("step")] == ["passed", "failed"]
    text = "".join(parsed.text)
    assert "1 · add the app" in text and "2 · break it" in text
    for tick in ("0s", "1s", "2s", "5s"):
        assert f">{tick}</text>" in page


def test_hover_titles_carry_the_messages(page: str) -> None:
    text = "".join(parse(page).text)
    assert "Ready=False from 2.40s to 3.10s" in text
    assert "Reconciliation finished in 210ms" in text
    assert f"kustomize build failed: {HOSTILE}" in text  # unescaped back by the parser: the text survived intact


def test_every_string_is_escaped(page: str) -> None:
    parsed = parse(page)
    assert "<script" not in page.lower()
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "img", "iframe", "object", "embed")]
    assert not [attrs for _, attrs in parsed.tags if any(k.startswith("on") for k in attrs)]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    hostile_title = next(e for e in session() if e.type == "session")
    evil = TimelineEvent(0, "", "session", "", {**hostile_title.data, "title": HOSTILE, "sandbox": HOSTILE})
    assert "<script" not in timeline_html.render([evil, *session()[1:]]).lower()


def test_the_page_is_self_contained(page: str) -> None:
    parsed = parse(page)
    assert not [tag for tag, _ in parsed.tags if tag in ("link", "script")]
    for _, attrs in parsed.tags:
        for key in ("src", "href"):
            assert not attrs.get(key), f"{key}={attrs.get(key)} points outside the page"
    assert re.findall(r"https?://[^\s\"'<]+", page) == ["http://www.w3.org/2000/svg"]  # only the SVG namespace
    assert "url(#suspended)" in page and 'id="suspended"' in page  # the one reference stays in the page


def test_an_empty_timeline_says_so() -> None:
    page = timeline_html.render([])
    assert "nothing happened in this timeline" in page and not parse(page).with_class("lane")


def test_a_step_still_running_reaches_the_end() -> None:
    events = [TimelineEvent(0, "", "step", "step/1", {"index": 1, "step": "wait", "title": "w", "status": "started"}),
              TimelineEvent(4, "", "note", "", {"text": "later"})]
    (band,) = timeline_html.step_bands(events, 4.0)
    assert (band.start, band.end, band.status) == (0, 4.0, "running")


@pytest.mark.parametrize(("duration", "step"), [(0.5, 0.1), (3.4, 0.5), (5.2, 1), (42, 5), (600, 60), (7200, 900)])
def test_nice_ticks(duration: float, step: float) -> None:
    assert timeline_html.nice_step(duration) == step


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (0.5, "0.5s"), (2, "2s"), (12.5, "12.5s"), (60, "1m"),
                                               (90, "1m30s"), (3600, "1h00m"), (5400, "1h30m")])
def test_time_labels(seconds: float, text: str) -> None:
    assert timeline_html.format_seconds(seconds) == text


def test_long_labels_are_shortened_in_the_middle() -> None:
    label = "Kustomization/flux-system/" + "x" * 60
    short = timeline_html._truncate(label)
    assert len(short) == timeline_html.LABEL_CHARS and short.startswith("Kustomization/") and "…" in short


@pytest.fixture(scope="module")
def monitored_page() -> str:
    from tests.unit.scenario.samples import monitored_session

    return timeline_html.render(monitored_session())


def lane_of(page: str, subject: str) -> str:
    match = re.search(rf'<g class="lane" data-subject="{re.escape(subject)}".*?\n</g>', page, re.S)
    assert match is not None, subject
    return match.group(0)


def test_alert_deliveries_sit_on_the_involved_objects_lane_by_outcome_and_severity(monitored_page: str) -> None:
    lane = lane_of(monitored_page, KS)
    classes = re.findall(r'class="marker alert alert-(\w+) severity-(\w+)"', lane)
    assert classes == [("sent", "error"), ("retrying", "error"), ("failed", "error"), ("sent", "info")]
    sent_error = re.search(r'class="marker alert alert-sent severity-error" points="[^"]+" fill="(#\w+)"', lane)
    sent_info = re.search(r'class="marker alert alert-sent severity-info" points="[^"]+" fill="(#\w+)"', lane)
    assert sent_error and sent_error.group(1) == timeline_html.SEVERITY_COLOURS["error"]
    assert sent_info and sent_info.group(1) == timeline_html.SEVERITY_COLOURS["info"]
    assert "(after 4 attempts)" in "".join(parse(lane).text)  # the failure's error in its hover title
    other = lane_of(monitored_page, "Kustomization/flux-system/other")
    assert 'alert-dropped' in other and 'data-group="Notifications"' in other


def test_prometheus_alert_bands_span_their_states(monitored_page: str) -> None:
    lane = lane_of(monitored_page, KS)
    bands = re.findall(r'class="prom-alert prom-(\w+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', lane)
    assert [b[0] for b in bands] == ["pending", "firing"]
    (_, x1, w1), (_, x2, _) = bands
    assert abs(float(x1) + float(w1) - float(x2)) < 0.2, "firing starts where pending ends"
    text = "".join(parse(lane).text)
    assert "ReconciliationFailure firing from 5.60s to 7.00s" in text
    watchdog = lane_of(monitored_page, "")  # an alert naming no object: on the Notifications group's own lane
    assert 'data-group="Notifications"' in watchdog and "Watchdog firing from 7.10s" in "".join(parse(watchdog).text)


def test_reconcile_durations_are_a_sparkline_with_a_point_per_sample(monitored_page: str) -> None:
    lane = lane_of(monitored_page, KS)
    (points,) = re.findall(r'<polyline class="sparkline" points="([^"]+)"', lane)
    ys = [float(pair.split(",")[1]) for pair in points.split()]
    assert len(ys) == 3 and min(ys) == ys[1], "the slowest reconcile (0.48s) is drawn highest"
    assert lane.count('class="marker metric-duration"') == 3
    assert lane.count('class="marker metric-ready"') == 2
    assert "gotk_reconcile_duration_seconds 0.480s (mean of 2 reconciles)" in "".join(parse(lane).text)


def test_the_legend_and_table_show_the_new_entries(monitored_page: str) -> None:
    text = "".join(parse(monitored_page).text)
    for label in ("alert sent (error)", "alert failed", "alert retrying", "Prometheus alert firing",
                  "reconcile duration"):
        assert label in text
    assert "<script" not in monitored_page.lower()
    assert re.findall(r"https?://[^\s\"'<]+", monitored_page) == ["http://www.w3.org/2000/svg"]
