from pathlib import Path

import pytest

from sandbox.errors import InputError
from sandbox.scenario.timeline import TimelineWriter, read


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with TimelineWriter(path) as writer:
        writer.emit("session", phase="start", title="demo", sandbox="s")
        writer.emit("status", "Kustomization/flux-system/apps", ready="True", reason="ReconciliationSucceeded",
                    message="Applied revision: main@sha1:abc", revision="main@sha1:abc", suspended=False)
    events = read(path)
    assert [e.type for e in events] == ["session", "status"]
    assert events[1].subject == "Kustomization/flux-system/apps" and events[1].data["ready"] == "True"
    assert events[0].t <= events[1].t and events[0].at.endswith("Z")


def test_bad_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"t": 0, "at": "x", "type": "note", "subject": "", "data": {}}\nnot json\n')
    with pytest.raises(InputError, match=r"t.jsonl:2"):
        read(path)
    path.write_text('{"t": 0, "at": "x", "type": "explosion"}\n')
    with pytest.raises(InputError, match="unknown event type"):
        read(path)


def test_unknown_type_cannot_be_written() -> None:
    with pytest.raises(ValueError):
        TimelineWriter(None).emit("explosion")
