"""The metrics report's data and SVG, from canned range-query answers."""

from __future__ import annotations

import re

from sandbox.monitoring import report
from tests.unit.monitoring import canned


def data() -> report.ReportData:
    return report.from_results(canned.START, canned.END, canned.durations(), canned.ready(), canned.present())


def test_readiness_is_zero_where_the_ready_series_is_missing() -> None:
    ks = dict(data().readiness["Kustomization flux-system/apps"])
    assert ks[1020.0] == 1.0 and ks[1030.0] == 0.0 and ks[1060.0] == 0.0 and ks[1070.0] == 1.0
    assert set(dict(data().readiness["GitRepository flux-system/fleet"]).values()) == {1.0}


def test_durations_drop_nan_samples() -> None:
    points = data().durations["Kustomization flux-system/apps"]
    assert len(points) == len(canned.TIMES)
    assert points[0] == (1000.0, 0.1)


def test_page_is_self_contained_with_a_line_per_duration_and_a_lane_per_object() -> None:
    page = report.render(data())
    assert page.count("<polyline") == 1
    assert page.count('class="not-ready"') == 4  # apps at 1030, 1040, 1050, 1060
    assert page.count('class="ready"') == 2 * 11 - 4
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Kustomization flux-system/apps" in page


def test_points_span_the_plot_and_scale_to_the_largest_value() -> None:
    svg = report.line_chart({"a": [(0.0, 0.0), (10.0, 2.0)]}, 0.0, 10.0, y_label="s")
    points = re.search(r'points="([^"]+)"', svg)
    assert points is not None
    (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in points.group(1).split())
    assert x0 == report.PAD and x1 == report.WIDTH - 10
    assert y0 == report.HEIGHT - report.PAD / 2 and y1 == 10 + 18  # the top of the plot area


def test_an_empty_window_says_so() -> None:
    assert "no samples in this window" in report.line_chart({}, 0.0, 1.0, y_label="s")


def test_lanes_span_the_window_without_gaps() -> None:
    svg = report.readiness_lanes({"a": [(0.0, 1.0), (10.0, 0.0)]}, 0.0, 20.0)
    rects = re.findall(r'x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    (x0, w0), (x1, w1) = ((float(x), float(w)) for x, w in rects)
    assert x0 == report.LABEL_W and abs(x0 + w0 - x1) < 0.2 and abs(x1 + w1 - (report.WIDTH - 10)) < 0.2
