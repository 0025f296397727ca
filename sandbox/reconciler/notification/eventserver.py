"""notification-controller's event server: upstream Flux's controllers (``sandbox up --reconciler flux``, started
with ``--events-addr``) POST their events here as eventv1.Event JSON; each is answered 202 at once and dispatched as
the reconciler's own events are (metadata cleaned, rate-limited, matched against the Alerts)."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler

from sandbox.httpserve import LoopbackServer
from sandbox.reconciler.notification.dispatch import Dispatcher

log = logging.getLogger("sandbox.reconciler.notification")
MAX_BODY = 1 << 20


def event_server(dispatcher: Dispatcher, port: int) -> LoopbackServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413)
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError as err:
                log.error("decoding the request body failed: %s", err)
                self._answer(400)
                return
            if not isinstance(body, dict) or not isinstance(body.get("involvedObject"), dict):
                log.error("decoding the request body failed: not an event (no involvedObject)")
                self._answer(400)
                return
            dispatcher.submit_upstream(body)
            self._answer(202)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return LoopbackServer(Handler, name="event-server", port=port)
