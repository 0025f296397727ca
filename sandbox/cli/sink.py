"""``sandbox sink``: a loopback webhook sink that prints (or writes) what Providers send it."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from sandbox.cli import output
from sandbox.sink import Sink


@click.command()
@click.option("--port", type=int, default=0, show_default="a free port", help="Loopback port to listen on.")
@click.option("--output", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append one JSON line per request to this file (default: stdout).")
@click.option("--hmac-token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="File holding the token of a generic-hmac Provider: X-Signature is verified (a bad one is "
                   "answered 401 and recorded as invalid).")
def sink(port: int, out_file: Path | None, hmac_token_file: Path | None) -> None:
    """Receive alerts: record every POST (path, headers but Authorization, JSON body) as JSON lines, until Ctrl+C.

    Point a Provider at the URL it prints (type generic, generic-hmac, slack, discord or alertmanager).

    \b
    Example:
      sandbox sink --port 9099 --hmac-token-file token.txt --output alerts.jsonl
      # Provider: spec.type generic-hmac, spec.address http://127.0.0.1:9099/flux,
      #           spec.secretRef a Secret whose `token` is the file's content
    """
    token = hmac_token_file.read_text().strip() if hmac_token_file else None
    stream = out_file.open("a") if out_file else sys.stdout
    try:
        with Sink(port=port, token=token, out=stream) as server:
            output.info(f"sink listening on {server.url} (Ctrl+C to stop)")
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if out_file:
            stream.close()


COMMANDS = [sink]
