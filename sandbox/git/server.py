"""The local git server process: smart HTTP through ``git http-backend``, a Gitea-style REST API, push webhooks.

Run as a supervised component: ``python -m sandbox.git.server --state-dir DIR --port PORT``. It listens on
127.0.0.1 only. Basic auth (any user name, the sandbox token as password) is required to push, to use the API,
and to fetch unless the repository is public.

Webhooks: each bare repository has a post-receive hook that copies the push's ref updates into a file this
server named for that request (``SANDBOX_PUSH_RECORD``). Once ``git http-backend`` has answered, the server
reads it and queues the deliveries. The hook gives the exact updates of each push (git's own list, even with
pushes racing on one repository), while delivery, retries and the secrets stay in this long-lived process,
so a push never waits on a receiver and no process is started on its path beyond ``cat``.

Pull requests: a push to a head branch synchronises its pull requests and a deleted branch closes them; a push
to ``refs/for/<base>`` (AGit) goes to the proc-receive hook (``sandbox.git.agit``), which opens or updates a pull
request and records it in a second per-request file (``SANDBOX_PULL_RECORD``) for the webhooks. Merges made
through the API are announced with the same push webhooks as a push.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sandbox.errors import InputError, SandboxError
from sandbox.git import shapes
from sandbox.git.delivery import Deliverer, DeliveryLog, new_delivery
from sandbox.git.layout import OWNER, LocalLayout, ensure_token
from sandbox.git.names import check_repo_name
from sandbox.git.pulls import PullEvent, RefUpdate
from sandbox.git.restapi import APIProblem, LocalAPI
from sandbox.git.store import RepoMeta, RepoStore
from sandbox.httpserve import HandlerFactory, LoopbackHTTPServer, LoopbackServer
from sandbox.interrupts import exit_within
from sandbox.tools import git as gittool

log = logging.getLogger("sandbox.git.server")

API_PREFIX = "/api/v1"
REALM = 'Basic realm="gitops-sandbox git"'
_STOP_DEADLINE = 5.0  # seconds from SIGTERM (or its supervisor's death) to exit, whatever is under way
_GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/(?P<rest>info/refs|git-upload-pack|"
                       r"git-receive-pack)$")
_COMMITS_IN_PAYLOAD = 20
_MAX_API_BODY = 1 << 20
# AGit: receive-pack hands refs/for/* to the proc-receive hook and takes push options (topic, title…).
_RECEIVE_CONFIG = (("receive.procReceiveRefs", "refs/for"), ("receive.advertisePushOptions", "true"))
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent  # where `python -m sandbox.git.agit` is found


class Unauthorized(Exception):
    pass


class LocalGitHTTPServer(LoopbackHTTPServer):
    def __init__(self, port: int, handler: HandlerFactory, *, layout: LocalLayout, token: str, base_url: str,
                 deliverer: Deliverer) -> None:
        self.layout = layout
        self.token = token
        self.base_url = base_url
        self.deliverer = deliverer
        # The same append-only 0600 JSON lines as the delivery log: one line per pushed ref, hooks or not.
        self.push_log = DeliveryLog(layout.push_log)
        self.store = RepoStore(layout.data, OWNER)
        self.store.ensure_hooks()
        self.api = LocalAPI(self.store, base_url=base_url, notifier=self)
        layout.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        super().__init__(port, handler, name="git-server")

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def refs_updated(self, meta: RepoMeta, pusher: str, updates: list[RefUpdate]) -> None:
        """Refs the API changed (a merge, a deleted branch): announced exactly like a push of them."""
        record = "".join(f"{u.before} {u.after} {u.ref}\n" for u in updates)
        threading.Thread(target=self.notify_push, args=(meta, pusher, record), daemon=True).start()

    def pull_events(self, meta: RepoMeta, sender: str, events: list[PullEvent]) -> None:
        """Queue a ``pull_request`` webhook per event and hook subscribed to it (Gitea's payload and headers)."""
        try:
            hooks = [h for h in self.store.hooks(meta.name) if h.active]
            repo_json: dict[str, Any] = {}
            for event in events:
                event_type = "pull_request_sync" if event.action == "synchronized" else "pull_request"
                subscribed = [h for h in hooks if "pull_request" in h.events or event_type in h.events]
                if not subscribed:
                    continue
                pull = self.api.pull_json(meta.name, self.api.pulls.get(meta.name, event.number))
                repo_json = repo_json or shapes.repository(meta, base_url=self.base_url, empty=False)
                payload = shapes.pull_request_payload(action=event.action, pull=pull, repo=repo_json, sender=sender)
                for hook in subscribed:
                    self.deliverer.enqueue(new_delivery(
                        repo=meta.full_name, hook_id=hook.id, url=hook.url, secret=hook.secret, event="pull_request",
                        event_type=event_type, payload=payload,
                        summary={"pull": event.number, "action": event.action}))
        except Exception:
            log.exception("could not queue the pull request webhooks of %s", meta.full_name)

    def notify_push(self, meta: RepoMeta, pusher: str, record: str) -> None:
        """Log every ref update of a push (the push log that ``sandbox record`` tails), follow it in the pull
        requests, and queue a push webhook per updated branch or tag and active hook (off the request's thread)."""
        try:
            hooks = [h for h in self.store.hooks(meta.name) if h.active and "push" in h.events]
            repo_json = shapes.repository(meta, base_url=self.base_url, empty=False) if hooks else {}
            git_dir = self.store.git_dir(meta.name)
            for line in record.splitlines():
                fields = line.split()
                if len(fields) != 3:
                    continue
                before, after, ref = fields
                commits, total = gittool.pushed_commits(git_dir, ref=ref, before=before, after=after,
                                                        limit=_COMMITS_IN_PAYLOAD)
                self.push_log.write({"at": time.time(), "repo": meta.full_name, "ref": ref, "before": before,
                                     "after": after, "pusher": pusher, "total_commits": total,
                                     "commits": [{"sha": c.sha, "message": c.message.strip()} for c in commits]})
                pull_events = self.api.pulls.on_push(meta.name, ref, before, after)
                if pull_events:
                    self.pull_events(meta, pusher, pull_events)
                # Gitea sends no push event for the refs it keeps for pull requests (refs/pull/N/head).
                if not hooks or ref.startswith("refs/pull/"):
                    continue
                payload = shapes.push_payload(repo=repo_json, pusher=pusher, ref=ref, before=before, after=after,
                                              commits=commits, total_commits=total)
                for hook in hooks:
                    self.deliverer.enqueue(new_delivery(
                        repo=meta.full_name, hook_id=hook.id, url=hook.url, secret=hook.secret, event="push",
                        payload=payload, summary={"ref": ref, "after": after}))
        except Exception:
            log.exception("could not log or queue the webhooks for a push to %s", meta.full_name)


class _CGIResponse:
    """Turns ``git http-backend`` output (CGI headers, blank line, body) into an HTTP response, streaming."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler
        self.pending = b""
        self.started = False

    def feed(self, chunk: bytes) -> None:
        if self.started:
            self.handler.wfile.write(chunk)
            return
        self.pending += chunk
        for separator in (b"\r\n\r\n", b"\n\n"):
            head, found, rest = self.pending.partition(separator)
            if found:
                self._start(head.decode("latin-1"))
                if rest:
                    self.handler.wfile.write(rest)
                return

    def _start(self, head: str) -> None:
        status, reason = 200, "OK"
        headers: list[tuple[str, str]] = []
        for line in head.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "status":
                code, _, reason = value.strip().partition(" ")
                status = int(code)
            elif key.strip():
                headers.append((key.strip(), value.strip()))
        self.handler.send_response(status, reason or None)
        for key, value in headers:
            self.handler.send_header(key, value)
        self.handler.end_headers()
        self.started = True


class _Handler(BaseHTTPRequestHandler):
    server: LocalGitHTTPServer
    server_version = "gitops-sandbox-git"
    # HTTP/1.0: every response ends with the connection, so streamed CGI output needs no chunked encoding.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # --- plumbing -----------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        try:
            if api:
                self._api(path[len(API_PREFIX):], query)
            else:
                self._git(path, query)
        except Unauthorized as err:
            self._send_text(401, str(err), extra={"WWW-Authenticate": REALM}, as_json=api)
        except APIProblem as err:
            self._send_text(err.status, err.message, as_json=api)
        except BrokenPipeError:
            log.info("client went away during %s %s", self.command, path)
        except SandboxError as err:
            log.error("%s %s failed: %s", self.command, path, err)
            self._send_text(500, str(err), as_json=api)

    def _send_text(self, status: int, message: str, *, extra: dict[str, str] | None = None,
                   as_json: bool = False) -> None:
        if as_json:
            body = json.dumps({"message": message, "url": f"{self.server.base_url}/api/swagger"}).encode()
            content_type = "application/json"
        else:
            body = (message + "\n").encode()
            content_type = "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _user(self) -> str | None:
        """The authenticated user name; None without credentials; Unauthorized for wrong ones."""
        header = self.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                username, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthorized("malformed basic credentials") from None
            if self.server.token_matches(password):
                return username or OWNER
        elif scheme in ("token", "bearer") and self.server.token_matches(value.strip()):
            return OWNER
        raise Unauthorized("wrong credentials: use the sandbox's git token as the password "
                           "(`sandbox repo token`, or the token_file in `sandbox status -o json`)")

    def _body_chunks(self) -> Iterator[bytes]:
        """The request body, de-chunked when the client streamed it (git does for large pushes)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                remaining = size
                while remaining:
                    data = self.rfile.read(min(remaining, 1 << 16))
                    if not data:
                        raise ConnectionError("the client closed the connection in the middle of a chunk")
                    remaining -= len(data)
                    yield data
                self.rfile.readline(16)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                data = self.rfile.read(min(remaining, 1 << 16))
                if not data:
                    raise ConnectionError("the client closed the connection before sending its whole body")
                remaining -= len(data)
                yield data

    # --- REST API -----------------------------------------------------------------------------------------
    def _api(self, path: str, query: str) -> None:
        user = self._user()
        if user is None and not self.server.api.is_public(path):
            raise Unauthorized("the git server API needs the sandbox's git token "
                               "(header 'Authorization: token …', or basic auth)")
        body: Any = None
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_API_BODY:
            raise APIProblem(413, f"request body too large ({length} bytes)")
        if length:
            try:
                body = json.loads(self.rfile.read(length))
            except json.JSONDecodeError as err:
                raise APIProblem(400, f"the request body is not JSON: {err}") from err
        params = {key: values[0] for key, values in parse_qs(query).items()}
        answer = self.server.api.handle(self.command, path, body, user=user or OWNER, query=params)
        if answer.status == 204 or answer.body is None:
            self.send_response(answer.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # --- smart HTTP ---------------------------------------------------------------------------------------
    def _git(self, path: str, query: str) -> None:
        match = _GIT_PATH.match(path)
        if match is None:
            raise APIProblem(404, f"{path} is not a git smart-HTTP path; clone URLs look like "
                                  f"{self.server.base_url}/{OWNER}/NAME.git")
        owner, name, rest = match["owner"], match["name"], match["rest"]
        try:
            check_repo_name(name)
        except InputError as err:
            raise APIProblem(404, str(err)) from err
        store = self.server.store
        meta = store.get(name) if owner == store.owner else None
        if meta is None:
            raise APIProblem(404, f"repository {owner}/{name} does not exist; create it with "
                                  f"`sandbox repo create {name}`")
        service = parse_qs(query).get("service", [""])[0]
        pushing = rest == "git-receive-pack" or (rest == "info/refs" and service == "git-receive-pack")
        expected_method = "GET" if rest == "info/refs" else "POST"
        if self.command != expected_method:
            raise APIProblem(405, f"{self.command} is not allowed on {rest}; git uses {expected_method}")
        user = self._user()
        if user is None and (pushing or meta.private):
            why = "pushing" if pushing else f"fetching the private repository {meta.full_name}"
            raise Unauthorized(f"{why} needs the sandbox's git token as the password")
        self._run_backend(meta, rest, query, user, record_push=pushing and rest == "git-receive-pack")

    def _run_backend(self, meta: RepoMeta, rest: str, query: str, user: str | None, *, record_push: bool) -> None:
        cgi_env = {
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": f"/{meta.owner}/{meta.name}.git/{rest}",
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.0",
        }
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if self.command == "POST" and not chunked:
            cgi_env["CONTENT_LENGTH"] = self.headers.get("Content-Length", "0")
        for header, variable in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            if self.headers.get(header):
                cgi_env[variable] = self.headers[header]
        if user is not None:
            # git http-backend only runs receive-pack for an authenticated REMOTE_USER.
            cgi_env["REMOTE_USER"] = user
        record_file: Path | None = None
        pull_file: Path | None = None
        if record_push:
            record_file, pull_file = self._record_file("push-"), self._record_file("pulls-")
            cgi_env.update({
                "SANDBOX_PUSH_RECORD": str(record_file), "SANDBOX_PULL_RECORD": str(pull_file),
                "SANDBOX_PYTHON": sys.executable, "PYTHONPATH": str(_PACKAGE_ROOT),
                "SANDBOX_GIT_DATA": str(self.server.store.root), "SANDBOX_GIT_OWNER": self.server.store.owner,
                "SANDBOX_GIT_BASE_URL": self.server.base_url,
            })
        response = _CGIResponse(self)
        record = pulls = ""
        try:
            result = gittool.http_backend(project_root=self.server.store.root / "repos", cgi_env=cgi_env,
                                          input_chunks=self._body_chunks(), on_output=response.feed,
                                          home=self.server.layout.data, config=_RECEIVE_CONFIG)
        except SandboxError as err:
            if not response.started:
                raise
            # The answer is half sent: nothing sensible can follow it, the client sees the connection end.
            log.error("git http-backend failed mid-answer for %s: %s", self.path, err)
            return
        finally:
            if record_file is not None and pull_file is not None:
                record, pulls = record_file.read_text(), pull_file.read_text()
                record_file.unlink(missing_ok=True)
                pull_file.unlink(missing_ok=True)
        if not response.started:
            detail = result.stderr_tail or f"exit code {result.returncode}"
            raise APIProblem(500, f"git http-backend gave no answer: {detail}")
        if result.returncode != 0:
            log.warning("git http-backend exited %d for %s: %s", result.returncode, self.path, result.stderr_tail)
        if record.strip() and result.returncode == 0:
            pusher = user or OWNER
            threading.Thread(target=self.server.notify_push, args=(meta, pusher, record), daemon=True).start()
        if pulls.strip():
            items = [json.loads(line) for line in pulls.splitlines() if line.strip()]
            events = [PullEvent(str(item["action"]), int(item["number"])) for item in items]
            threading.Thread(target=self.server.pull_events, args=(meta, user or OWNER, events), daemon=True).start()

    def _record_file(self, prefix: str) -> Path:
        handle, name = tempfile.mkstemp(prefix=prefix, dir=self.server.layout.tmp)
        os.close(handle)
        return Path(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.git.server", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, type=Path, help="the sandbox's state directory")
    parser.add_argument("--port", required=True, type=int, help="port to listen on (127.0.0.1)")
    parser.add_argument("--public-url", default="", help="base URL written into API answers and payloads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    layout = LocalLayout(args.state_dir)
    token = ensure_token(layout.token_file)
    base_url = (args.public_url or f"http://127.0.0.1:{args.port}").rstrip("/")
    deliverer = Deliverer(DeliveryLog(layout.delivery_log))
    server = LoopbackServer(_Handler, name="git-server", port=args.port, server_class=partial(
        LocalGitHTTPServer, layout=layout, token=token, base_url=base_url, deliverer=deliverer))
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    server.start()
    log.info("git server listening on %s (repositories in %s)", base_url, layout.data)
    stop.wait()
    log.info("stopping")
    exit_within(_STOP_DEADLINE, "the git server")
    server.stop()
    deliverer.stop(timeout=_STOP_DEADLINE / 2)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
