"""``sandbox play`` and ``sandbox scenarios list|show|validate|schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.errors import InputError, SandboxError
from sandbox.scenario import catalog, checks, player, schema
from sandbox.scenario.loader import load
from sandbox.scenario.model import Step


def _pause(message: str) -> None:
    click.prompt(message, default="", show_default=False, prompt_suffix=" ", err=True)


@click.command()
@click.argument("scenario", metavar="NAME|PATH")
@NAME_OPTION
@click.option("--step", "step_mode", is_flag=True, help="Wait for Enter before each step.")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Write the session's timeline (JSON Lines) to FILE.")
@click.option("--keep", is_flag=True,
              help="Leave the scenario's namespaces, repository and Flux objects in place to explore (and the "
                   "sandbox, if play started it).")
@click.option("--reconciler", type=click.Choice(["sandbox", "flux"]), default="sandbox", show_default=True,
              help="For a sandbox started for the play: our reconciler, or upstream Flux's controllers (built with "
                   "`sandbox setup --flux`).")
def play(scenario: str, name: str | None, step_mode: bool, record: Path | None, keep: bool, reconciler: str) -> None:
    """Play a scenario with narration: each step, what the reconciler did, and timings.

    Uses the running sandbox (--name), or starts one for the play and stops it afterwards. The scenario runs
    in namespaces and a repository of its own, removed at the end (unless --keep).

    \b
    Examples:
      sandbox play getting-started
      sandbox play drift --step                   # press Enter between steps
      sandbox play receiver --record receiver.jsonl
      sandbox play ./my-scenarios/incident        # a scenario folder of your own
      sandbox play drift --reconciler flux --name flux   # the same lesson on upstream Flux
    """
    loaded = catalog.get(scenario)  # validated before anything starts
    sandbox_name = config.resolve_name(name)

    def starting(which: str) -> None:
        output.info(f"sandbox [bold]{escape(which)}[/bold] is not up: starting it for this play…")

    with player.sandbox_for(sandbox_name, keep=keep, starting=starting, reconciler=reconciler,
                            needs=loaded.needs) as handle:
        player.play(loaded, handle, console=output.stderr, pause=_pause if step_mode else None, record=record,
                    keep=keep)
    if record is not None:
        output.info(f"timeline written to {escape(str(record))}")


@click.group()
def scenarios() -> None:
    """Built-in and your own scenarios: list, show, validate.

    Scenarios are found in $SANDBOX_SCENARIOS_PATH (folders separated by ':'), ./scenarios, and the built-in
    ones. Write your own: see docs/scenarios.md.

    \b
    Examples:
      sandbox scenarios list
      sandbox scenarios show drift -o yaml
      sandbox scenarios validate ./my-scenarios/*/
    """


@scenarios.command(name="list")
@output.OUTPUT_OPTION
def list_scenarios(output_format: str) -> None:
    """List the scenarios found, with what they need."""
    rows = catalog.summaries()
    if output_format != "table":
        output.emit_data(rows, output_format)
        return
    if not rows:
        output.info("no scenarios found; searched " + ", ".join(str(p) for p in catalog.search_path()))
        return
    output.table(["NAME", "STEPS", "NEEDS", "TAGS", "TITLE"],
                 [[r["name"], r["steps"], ",".join(r["needs"]) or "-", ",".join(r["tags"]),
                   r["title"] if r["valid"] else f"INVALID: {r['error']}"] for r in rows])


def _step_line(step: Step) -> str:
    if step.type == "narrate":
        first = str(step.body["text"]).strip().splitlines()[0]
        return first if len(first) < 100 else first[:97] + "…"
    if step.title:
        return step.title
    if step.type == "wait":
        return checks.describe({k: v for k, v in step.body.items() if k != "timeout"})
    if step.type == "expect":
        return "; ".join(checks.describe(c) for c in step.body["checks"])
    if step.type == "commit":
        return str(step.body["message"])
    return ", ".join(f"{k}={v}" for k, v in step.body.items() if isinstance(v, str | bool | int))


@scenarios.command()
@click.argument("scenario", metavar="NAME|PATH")
@output.OUTPUT_OPTION
def show(scenario: str, output_format: str) -> None:
    """Show a scenario: what it teaches, what it needs, and its steps."""
    loaded = catalog.get(scenario)
    if output_format != "table":
        output.emit_data(loaded.to_dict(), output_format)
        return
    output.stdout.print(f"[bold]{escape(loaded.title)}[/bold] ({escape(loaded.name)})")
    output.stdout.print(escape(loaded.summary))
    if loaded.description:
        output.stdout.print("\n" + escape(loaded.description))
    output.stdout.print(f"\nfile: {escape(str(loaded.file))}")
    output.stdout.print(f"needs: {escape(', '.join(loaded.needs) or 'nothing beyond a sandbox')}   "
                        f"tags: {escape(', '.join(loaded.tags) or '-')}")
    repo = loaded.repo
    kustomizations = ", ".join(f"{k.name} ({k.path})" for k in repo.kustomizations) or "none"
    output.stdout.print(f"repository: {escape(str(repo.folder) if repo.folder else 'a README only')} on "
                        f"{escape(repo.branch)}, polled every {escape(repo.interval)}; Kustomizations: "
                        f"{escape(kustomizations)}\n")
    output.table(["#", "STEP", "LINE", "WHAT"], [[s.index, s.type, s.line, _step_line(s)] for s in loaded.steps])


@scenarios.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check scenarios against the format without running them (default: every scenario found).

    Each problem is printed with its file, line and field; exit 1 when any scenario is invalid.
    """
    files = [catalog.find(str(p)) for p in paths] if paths else catalog.discover()
    if not files:
        raise InputError("no scenarios found to validate; give the path of a scenario folder")
    invalid = 0
    for file in files:
        try:
            scenario = load(file)
        except SandboxError as err:
            invalid += 1
            output.error(escape(str(err)))
            continue
        output.success(f"{escape(str(file))}: {escape(scenario.name)}, {len(scenario.steps)} steps")
    if invalid:
        raise SandboxError(f"{invalid} of {len(files)} scenario(s) are not valid")


@scenarios.command(name="schema")
def schema_command() -> None:
    """Print the JSON Schema of scenario.yaml (for editors; `sandbox scenarios validate` checks more)."""
    sys.stdout.write(json.dumps(schema.full_schema(), indent=2) + "\n")


COMMANDS = [play, scenarios]
