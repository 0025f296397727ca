"""Webhook deliveries: signed like Gitea (and GitHub), sent off the push's path, retried with back-off, logged.

A push never waits for a receiver: deliveries go into a queue served by worker threads. A receiver that is down,
times out or answers 5xx/429 is tried again after 0.25 s, 0.5 s, 1 s… (capped), up to ``max_attempts``; any other
answer is final. Every attempt is one JSON line in the delivery log (0600), without secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from sandbox.kube.workqueue import WorkQueue, run_worker

log = logging.getLogger("sandbox.git.delivery")

_RETRY_STATUS = {429}


@dataclass(frozen=True)
class Delivery:
    """One event for one hook: the exact body that is signed and sent."""

    id: str
    repo: str
    hook_id: int
    url: str
    secret: str
    event: str
    body: bytes
    summary: dict[str, Any]  # ref/after etc. for the log; never secrets
    event_type: str = ""  # Gitea's X-Gitea-Event-Type when it differs from the event (pull_request_sync)


def new_delivery(*, repo: str, hook_id: int, url: str, secret: str, event: str, payload: dict[str, Any],
                 summary: dict[str, Any], event_type: str = "") -> Delivery:
    body = json.dumps(payload, indent=2).encode()
    return Delivery(id=str(uuid.uuid4()), repo=repo, hook_id=hook_id, url=url, secret=secret, event=event,
                    body=body, summary=summary, event_type=event_type)


def signature(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of ``body`` keyed with ``secret`` (Gitea's X-Gitea-Signature)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, secret: str, received: str) -> bool:
    """Whether ``received`` (X-Gitea-Signature hex, or X-Hub-Signature-256 ``sha256=<hex>``) signs ``body``."""
    expected = signature(body, secret)
    return hmac.compare_digest(received.removeprefix("sha256="), expected)


def headers(delivery: Delivery) -> dict[str, str]:
    """The headers Gitea sends with a webhook, which include GitHub's, so receivers of either kind accept it."""
    result = {
        "Content-Type": "application/json",
        "User-Agent": "gitops-sandbox-git",
        "X-Gitea-Delivery": delivery.id,
        "X-Gitea-Event": delivery.event,
        "X-Gitea-Event-Type": delivery.event_type or delivery.event,
        "X-Gogs-Delivery": delivery.id,
        "X-Gogs-Event": delivery.event,
        "X-Gogs-Event-Type": delivery.event_type or delivery.event,
        "X-GitHub-Delivery": delivery.id,
        "X-GitHub-Event": delivery.event,
        "X-GitHub-Event-Type": delivery.event_type or delivery.event,
    }
    if delivery.secret:
        sha256 = signature(delivery.body, delivery.secret)
        sha1 = hmac.new(delivery.secret.encode(), delivery.body, hashlib.sha1).hexdigest()
        result.update({"X-Gitea-Signature": sha256, "X-Gogs-Signature": sha256,
                       "X-Hub-Signature": f"sha1={sha1}", "X-Hub-Signature-256": f"sha256={sha256}"})
    return result


def redact_url(url: str) -> str:
    """``url`` without user info or query string, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def post(url: str, body: bytes, sent_headers: dict[str, str], *, timeout: float) -> int:
    """POST ``body`` to ``url``; the answer's status. http.client keeps header names as written (urllib would
    turn X-GitHub-Event into X-github-event)."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    all_headers = dict(sent_headers)
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        all_headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body=body,
                           headers=all_headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


class DeliveryLog:
    """Append-only JSON lines, one per attempt; the file is created 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


class Deliverer:
    """Worker threads sending deliveries; a retry waits in the work queue's back-off (per delivery), not in a
    thread."""

    def __init__(self, log_file: DeliveryLog, *, workers: int = 4, timeout: float = 5.0, max_attempts: int = 8,
                 first_delay: float = 0.25, max_delay: float = 30.0) -> None:
        self.log = log_file
        self.timeout = timeout
        self.max_attempts = max_attempts
        self._queue = WorkQueue(base_delay=first_delay, max_delay=max_delay)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[Delivery, int]] = {}  # delivery id -> (delivery, next attempt number)
        self._threads = [threading.Thread(target=self._work, name=f"webhook-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def enqueue(self, delivery: Delivery) -> None:
        with self._lock:
            self._pending[delivery.id] = (delivery, 1)
        self._queue.add(delivery.id)

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking work; wait up to ``timeout`` seconds in all (default: one attempt's timeout) for attempts
        under way, then record the rest as abandoned."""
        self._queue.shutdown()
        deadline = time.monotonic() + (self.timeout + 1 if timeout is None else timeout)
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            abandoned = list(self._pending.values())
            self._pending.clear()
        for delivery, attempt in abandoned:
            self._record(delivery, attempt, "abandoned", None, "the git server stopped before this attempt", 0.0)

    def _work(self) -> None:
        run_worker(self._queue, self._deliver, self._crashed)

    def _deliver(self, key: str) -> None:
        with self._lock:
            delivery, attempt = self._pending[key]
        self._attempt(delivery, attempt)

    @staticmethod
    def _crashed(key: str, err: Exception) -> None:
        # A bug here must not kill the worker and silently stop all webhooks.
        log.error("webhook delivery %s crashed", key, exc_info=err)

    def _attempt(self, delivery: Delivery, attempt: int) -> None:
        started = time.monotonic()
        status: int | None = None
        error = ""
        try:
            status = post(delivery.url, delivery.body, headers(delivery), timeout=self.timeout)
            if status >= 300:
                error = f"HTTP {status}"
        except (OSError, http.client.HTTPException) as err:
            error = str(err) or type(err).__name__
        elapsed = time.monotonic() - started
        if status is not None and 200 <= status < 300:
            self._finish(delivery)
            self._record(delivery, attempt, "delivered", status, "", elapsed)
            return
        retryable = status is None or status >= 500 or status in _RETRY_STATUS
        if retryable and attempt < self.max_attempts:
            with self._lock:
                self._pending[delivery.id] = (delivery, attempt + 1)
            delay = self._queue.add_rate_limited(delivery.id)
            self._record(delivery, attempt, "retrying", status, error, elapsed, next_in=delay)
        else:
            self._finish(delivery)
            self._record(delivery, attempt, "failed", status, error, elapsed)

    def _finish(self, delivery: Delivery) -> None:
        with self._lock:
            self._pending.pop(delivery.id, None)
        self._queue.forget(delivery.id)

    def _record(self, delivery: Delivery, attempt: int, outcome: str, status: int | None, error: str,
                elapsed: float, next_in: float | None = None) -> None:
        entry: dict[str, Any] = {
            "at": time.time(), "delivery": delivery.id, "repo": delivery.repo, "hook_id": delivery.hook_id,
            "url": redact_url(delivery.url), "event": delivery.event, "attempt": attempt, "outcome": outcome,
            "status": status, "error": error, "duration_ms": round(elapsed * 1000, 1), **delivery.summary,
        }
        if next_in is not None:
            entry["next_attempt_in"] = next_in
        self.log.write(entry)
        level = logging.INFO if outcome == "delivered" else logging.WARNING
        log.log(level, "webhook %s to %s (repo %s, attempt %d): %s %s", delivery.id, entry["url"], delivery.repo,
                attempt, outcome, status or error)
