"""Serves a chart repository directory (``index.yaml`` and ``.tgz`` archives) over HTTP on 127.0.0.1, read-only:
``python -m sandbox.helmrepo_server --root DIR --port PORT`` (run by the supervisor)."""

from __future__ import annotations

import argparse
import http.server
import io
import logging
import os
import signal
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Any

from sandbox.httpserve import LoopbackServer

log = logging.getLogger("sandbox.helmrepo_server")


class ChartRepoHandler(http.server.SimpleHTTPRequestHandler):
    """Static files only: no directory listings, no hidden files (the staging area of `chart push`)."""

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        name = str(path)
        if name.endswith(".tgz"):
            return "application/gzip"
        if name.endswith(".yaml"):
            return "application/yaml"
        return super().guess_type(path)

    def send_head(self) -> Any:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path in ("/healthz", "/readyz"):
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)  # do_GET copies it out, do_HEAD just closes it
        if path.endswith("/") or any(part.startswith(".") for part in path.split("/") if part):
            self.send_error(404, "Not Found")
            return None
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def serve(root: Path, port: int) -> LoopbackServer:
    """Serve ``root`` on 127.0.0.1:``port`` (0: a free port) until ``stop()``."""
    return LoopbackServer(partial(ChartRepoHandler, directory=str(root)), name="chart-repository", port=port).start()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.helmrepo_server")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    with serve(args.root, args.port) as server:
        print(f"serving {args.root} on {server.url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
