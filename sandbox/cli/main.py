"""Root of the ``sandbox`` command: global options, the command groups, and error handling."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click
from rich.markup import escape

from sandbox import __version__, interrupts
from sandbox.cli import output
from sandbox.errors import SandboxError


@dataclass
class App:
    """Passed to every command with ``pass_obj``."""

    debug: bool = False


class SandboxGroup(click.Group):
    """Turns SandboxError into one line on stderr and a trustworthy exit code; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SandboxError as err:
            app = ctx.find_object(App)
            if app is not None and app.debug:
                raise
            output.error(escape(str(err)))
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            output.error("interrupted")
            ctx.exit(130)


@click.group(cls=SandboxGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sandbox")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """A local GitOps sandbox: a real Kubernetes control plane, a git server, a registry and a
    Flux-compatible reconciler, on your machine, in one command.

    \b
    Start here:
      sandbox setup          # get the control-plane binaries (once)
      sandbox up             # start the sandbox named "default"
      eval "$(sandbox env)"  # point kubectl at it
      sandbox status         # what runs, where, and is it healthy
      sandbox down           # stop it and remove everything it made

    Every command acts on --name, else $SANDBOX_NAME, else "default".
    """
    ctx.obj = App(debug=debug)


def _register() -> None:
    from sandbox.cli import (
        build,
        charts,
        cluster,
        diff,
        flux,
        helm,
        image_automation,
        images,
        install,
        lifecycle,
        listing,
        metrics,
        mirror,
        push,
        reconciler,
        registry,
        repo,
        scenarios,
        seal,
        setup,
        sink,
        sops,
        tag,
        timeline,
    )

    for module in (lifecycle, setup, repo, images, push, tag, listing, charts, mirror, install, flux, helm,
                   image_automation, build, diff, reconciler, scenarios, timeline, sops, seal, registry,
                   metrics, sink, cluster):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    # The first Ctrl+C interrupts the command (which then cleans up after itself); later ones must not cut that
    # cleanup short. Ctrl+\ (SIGQUIT) or kill still end the process at once.
    interrupts.install_interrupt_once()
    try:
        cli.main(prog_name="sandbox", standalone_mode=True)
    except SystemExit as exc:
        sys.exit(exc.code)
    finally:
        interrupts.ignore_while_exiting()
