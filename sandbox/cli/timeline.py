"""``sandbox record`` and ``sandbox replay``: record a live sandbox into a JSON Lines timeline, play one back in
the terminal or draw it as a self-contained HTML page."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from types import FrameType

import click
from rich.markup import escape

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.handle import SandboxHandle
from sandbox.scenario import recorder, timeline, timeline_html
from sandbox.scenario import replay as replayer


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl+C (and SIGTERM) end the recording cleanly instead of interrupting it."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _progress_text(name: str, file: Path, counts: dict[str, int], elapsed: float) -> str:
    minutes, seconds = divmod(int(elapsed), 60)
    watched = sum(n for kind, n in counts.items() if kind != "session")
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()) if kind != "session")
    return (f"recording sandbox [bold]{name}[/bold] → {escape(str(file))} · {minutes}:{seconds:02d} · "
            f"{watched} entries{f' ({detail})' if detail else ''} · Ctrl+C stops")


@click.command()
@NAME_OPTION
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--title", default="", help="Title of the recording (default: 'Recording of sandbox NAME').")
def record(name: str | None, file: Path, title: str) -> None:
    """Record the live sandbox into FILE (JSON Lines) until Ctrl+C: git pushes, status transitions of every Flux
    object, and Kubernetes Events, with timestamps.

    \b
    Example:
      sandbox record incident.jsonl        # … push, break, fix …, then Ctrl+C
      sandbox replay incident.jsonl --speed 4
    """
    handle = SandboxHandle.attach(config.resolve_name(name))
    stop = threading.Event()
    with _stop_on_signals(stop), output.stderr.status(f"starting to record sandbox {handle.name}…") as status:
        counts = recorder.record_until(
            handle, file, stop, title=title,
            on_progress=lambda c, elapsed: status.update(_progress_text(handle.name, file, c, elapsed)))
    total = sum(n for kind, n in counts.items() if kind != "session")
    output.success(f"recorded {total} entries to {escape(str(file))}; play it with "
                   f"`sandbox replay {escape(str(file))}`")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Play N times faster than it happened; 0 plays without pauses.")
@click.option("--no-wait", is_flag=True, help="No pauses (the same as --speed 0).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Instead of playing, write the timeline as a self-contained HTML page to this file.")
@output.OUTPUT_OPTION
def replay(file: Path, speed: float, no_wait: bool, html_file: Path | None, output_format: str) -> None:
    """Play the timeline FILE back in the terminal with its original pacing (divided by --speed), or draw it
    as an HTML page with --html: a lane per object, its Ready state over time, pushes, Events, alerts, steps.

    \b
    Examples:
      sandbox replay incident.jsonl                 # in real time
      sandbox replay incident.jsonl --speed 10      # ten times faster
      sandbox replay incident.jsonl --no-wait -o json
      sandbox replay incident.jsonl --html incident.html
    """
    events = timeline.in_order(timeline.read(file))
    if html_file is not None:
        html_file.parent.mkdir(parents=True, exist_ok=True)
        html_file.write_text(timeline_html.render(events), encoding="utf-8")
        output.success(f"wrote {escape(str(html_file))} ({len(events)} entries); open it in a browser")
        return
    if output_format != "table":
        output.emit_data([asdict(e) for e in events], output_format)
        return
    replayer.play(events, _show, speed=0.0 if no_wait else speed)


def _show(line: replayer.ReplayLine) -> None:
    output.styled_line([(f"{line.t:9.3f}s  ", "dim"), (f"{line.type:<9} ", replayer.TYPE_STYLES.get(line.type, "")),
                        (f"{line.subject}  " if line.subject else "", "bold"), (line.text, line.style)])


COMMANDS = [record, replay]
