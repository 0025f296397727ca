"""The one place that writes to the terminal: data to stdout (table, json or yaml), messages to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

stderr = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 240)
# Piped output (scripts, CI logs) must not be wrapped at 80 columns.
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)

OUTPUT_OPTION = click.option(
    "-o", "--output", "output_format", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True,
    help="Output format: a table for people, json or yaml for scripts.",
)


def emit_data(data: Any, fmt: str) -> None:
    """Write ``data`` as json or yaml to stdout (for ``-o json|yaml``)."""
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    grid = Table(title=title, show_edge=False, box=None, pad_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*["" if cell is None else str(cell) for cell in row])
    stdout.print(grid)


def info(message: str) -> None:
    stderr.print(message)


def success(message: str) -> None:
    stderr.print(f"[green]✔[/green] {message}")


def warn(message: str) -> None:
    stderr.print(f"[yellow]![/yellow] {message}")


def error(message: str) -> None:
    stderr.print(f"[red]✗[/red] {message}", markup=True, highlight=False)


def styled_line(parts: Sequence[tuple[str, str]]) -> None:
    """One line on stdout from (text, rich style) parts; the text is never read as markup."""
    line = Text()
    for text, style in parts:
        line.append(text, style=style or None)
    stdout.print(line)
