"""The metrics report, rendered by headless Chromium from canned data: the plots are drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.monitoring import report
from sandbox.tools import chromium
from tests.integration.png import decode
from tests.unit.monitoring import canned

pytestmark = pytest.mark.skipif(chromium.program() is None,
                                reason=f"chromium is not installed ({chromium.HOW_TO_GET}, as bootstrap.sh does)")


def hex_colour(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def test_the_screenshot_shows_both_plots(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report.render(report.from_results(canned.START, canned.END, canned.durations(), canned.ready(),
                                                      canned.present())), encoding="utf-8")
    image = decode(chromium.screenshot(page, tmp_path / "report.png", width=1000, height=800))
    colours = set(image.pixels)
    assert hex_colour(report.COLOURS[0]) in colours, "no duration line drawn"
    for ready, colour in report.READY_COLOURS.items():
        assert hex_colour(colour) in colours, f"no Ready={ready} lane segment drawn"
    dom = chromium.dump_dom(page)
    assert dom.count("<polyline") == 1 and dom.count("<rect") == 22
