"""The HTML timeline in a real browser: headless Chromium renders it (not blank, the Ready colours drawn) and its
DOM holds a lane per object."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.scenario import timeline_html
from sandbox.tools import chromium
from tests.integration.png import decode
from tests.unit.scenario.samples import session

pytestmark = pytest.mark.skipif(chromium.program() is None,
                                reason=f"chromium is not installed ({chromium.HOW_TO_GET}, as bootstrap.sh does)")

WHITE = (255, 255, 255)


def hex_colour(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("render") / "timeline.html"
    path.write_text(timeline_html.render(session()), encoding="utf-8")
    return path


def test_the_screenshot_shows_the_timeline(page: Path) -> None:
    png = chromium.screenshot(page, page.with_suffix(".png"), width=1400, height=900)
    image = decode(png)
    assert (image.width, image.height) == (1400, 900)
    colours = set(image.pixels)
    painted = sum(1 for p in image.pixels if p != WHITE)
    assert len(colours) > 50, "a blank or flat page"
    assert painted > image.width * image.height * 0.03
    for ready, colour in timeline_html.READY_COLOURS.items():
        assert hex_colour(colour) in colours, f"no Ready={ready} segment drawn"
    # the label column is left of the plot: some of its pixels are text, and lanes start where the plot does
    label_pixels = [image.pixel(x, y) for x in range(30, 300) for y in range(150, 500)]
    assert any(p[0] < 90 and p[1] < 90 and p[2] < 90 for p in label_pixels), "no lane labels"


def test_the_rendered_dom_has_a_lane_per_object(page: Path) -> None:
    dom = chromium.dump_dom(page)
    subjects = {e.subject for e in session() if e.subject and e.type != "step"}
    assert dom.count('<g class="lane"') == len(subjects) + 1  # and the narration lane
    for subject in ("Kustomization/flux-system/demo", "GitRepository/flux-system/demo", "repo/demo"):
        assert f'data-subject="{subject}"' in dom
    assert "<script" not in dom.lower()


def test_a_missing_page_is_a_clear_error(tmp_path: Path) -> None:
    from sandbox.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        chromium.dump_dom(tmp_path / "absent.html")


def test_alerts_bands_and_sparklines_render(tmp_path: Path) -> None:
    from tests.unit.scenario.samples import KS, monitored_session

    page = tmp_path / "monitored.html"
    page.write_text(timeline_html.render(monitored_session()), encoding="utf-8")
    dom = chromium.dump_dom(page)
    assert dom.count('class="marker alert alert-sent severity-error"') == 1
    assert dom.count('class="marker alert alert-failed severity-error"') == 1
    assert dom.count('class="prom-alert prom-firing"') == 2 and dom.count('class="prom-alert prom-pending"') == 1
    assert dom.count('<polyline class="sparkline"') == 1 and f'data-subject="{KS}"' in dom
    image = decode(chromium.screenshot(page, tmp_path / "monitored.png", width=1400, height=700))
    colours = set(image.pixels)
    for name, colour in (("sent error alert", timeline_html.SEVERITY_COLOURS["error"]),
                         ("sent info alert", timeline_html.SEVERITY_COLOURS["info"]),
                         ("sparkline", timeline_html.SPARKLINE)):
        assert hex_colour(colour) in colours, f"no {name} drawn"
