"""``sandbox replay`` on a hand-written timeline file: every entry printed, json out, the HTML page, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.cli.main import cli
from sandbox.scenario.replay import describe
from sandbox.scenario.timeline import TimelineEvent
from tests.unit.scenario.samples import session

MARKUP = TimelineEvent(5.3, "2026-01-01T00:00:05.300Z", "note", "", {"text": "[red]not markup[/red] [link=x]y"})


@pytest.fixture
def timeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "session.jsonl"
    events = [*session(), MARKUP]
    path.write_text("".join(e.to_json() + "\n" for e in events))
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("pace", [["--no-wait"], ["--speed", "0"]], ids=["no-wait", "speed-0"])
def test_replay_prints_every_entry_in_order(timeline_file: Path, pace: list[str]) -> None:
    code, out, _ = invoke("replay", str(timeline_file), *pace)
    assert code == 0
    lines = out.splitlines()
    events = sorted([*session(), MARKUP], key=lambda e: e.t)
    assert len(lines) == len(events)
    for line, event in zip(lines, events, strict=True):
        assert line.strip().startswith(f"{event.t:.3f}s")
        assert event.subject in line and describe(event).text in line
    assert lines[-1].endswith("[red]not markup[/red] [link=x]y")  # printed as text, never read as markup


def test_replay_as_json(timeline_file: Path) -> None:
    code, out, _ = invoke("replay", str(timeline_file), "-o", "json")
    assert code == 0
    entries = json.loads(out)
    assert [e["t"] for e in entries] == sorted(e.t for e in [*session(), MARKUP])
    assert entries[0] == {"t": 0.0, "at": "2026-01-01T00:00:00.000Z", "type": "session", "subject": "",
                          "data": session()[0].data}


def test_replay_html(timeline_file: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "out" / "timeline.html"
    code, out, err = invoke("replay", str(timeline_file), "--html", str(out_file))
    assert code == 0 and out == "" and "wrote" in err
    page = out_file.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count('<g class="lane"') == 8


def test_a_broken_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(session()[0].to_json() + "\n{not json\n")
    code, _, err = invoke("replay", str(path), "--no-wait")
    assert code == 1 and "broken.jsonl:2" in err


def test_a_negative_speed_is_a_usage_error(timeline_file: Path) -> None:
    code, _, err = invoke("replay", str(timeline_file), "--speed", "-2")
    assert code == 2 and "--speed" in err


def test_help_has_examples() -> None:
    for command in ("record", "replay"):
        code, out, _ = invoke(command, "--help")
        assert code == 0 and "Example" in out and f"sandbox {command} " in out


def test_recording_a_sandbox_that_is_not_up_says_so(tmp_path: Path) -> None:
    target = tmp_path / "rec.jsonl"
    code, _, err = invoke("record", str(target), "--name", "nothing-here")
    assert code == 1 and "sandbox 'nothing-here' is not up" in err
    assert not target.exists()
