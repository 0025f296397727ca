"""The alert log: lines 0600, rotated when full, one per delivery outcome the dispatcher sees — sent (to a real
loopback sink), retrying and failed (a dead Provider, its token and address never written), dropped (a rate-limited
duplicate, naming the Alert; a full queue)."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import APIError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.notification import alertlog
from sandbox.reconciler.notification.alertlog import AlertLog, Outcome
from sandbox.reconciler.notification.dispatch import Dispatcher
from sandbox.sink import Sink
from sandbox.waiting import wait_until
from tests.unit.reconciler.notification.test_dispatch import FakeKube, alert, failure, provider

SUBJECT = "Kustomization/apps/podinfo"


@pytest.fixture
def stop() -> Any:
    event = threading.Event()
    yield event
    event.set()


def test_lines_are_private_and_rotated_when_full(tmp_path: Path) -> None:
    path = alertlog.path_in(tmp_path / "reconciler")
    log = AlertLog(path, max_bytes=600)
    for number in range(6):
        log.write(Outcome("sent", SUBJECT, "error", "BuildFailed", f"failure {number}", "apps/hook", "generic",
                          ("apps/a",)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rotated = path.with_name(path.name + ".1")
    assert rotated.exists() and path.stat().st_size <= 600
    lines = alertlog.read(rotated) + alertlog.read(path)
    assert [line["message"] for line in lines][-1] == "failure 5"
    assert lines[-1] == {**lines[-1], "outcome": "sent", "involvedObject": SUBJECT, "provider": "apps/hook",
                         "providerType": "generic", "alerts": ["apps/a"], "severity": "error"}
    assert "attempt" not in lines[-1] and "error" not in lines[-1]


def test_details_go_under_error_or_why_and_unknown_outcomes_are_refused(tmp_path: Path) -> None:
    assert Outcome("retrying", SUBJECT, attempt=2, detail="refused").to_dict()["error"] == "refused"
    assert Outcome("dropped", SUBJECT, detail="queue full").to_dict()["why"] == "queue full"
    assert len(Outcome("sent", SUBJECT, message="x" * 5000).to_dict()["message"]) == alertlog.MAX_MESSAGE
    with pytest.raises(ValueError, match="unknown delivery outcome"):
        AlertLog(tmp_path / "a.jsonl").write(Outcome("lost", SUBJECT))


def dispatcher(tmp_path: Path, providers: list[dict[str, Any]], alerts: list[dict[str, Any]],
               stop: threading.Event, secrets: dict[str, dict[str, str]] | None = None) -> tuple[Dispatcher, Path]:
    by_name = {p["metadata"]["name"]: p for p in providers}
    kube: KubeClient = FakeKube(secrets or {})  # type: ignore[assignment]
    path = tmp_path / "alerts.jsonl"
    result = Dispatcher(kube, lambda: alerts, lambda ns, name: by_name.get(name), stop=stop,
                        alert_log=AlertLog(path))
    result.start()
    return result, path


def outcomes(path: Path) -> list[str]:
    return [line["outcome"] for line in alertlog.read(path)]


def test_a_sent_event_and_a_rate_limited_duplicate_are_logged(tmp_path: Path, stop: threading.Event) -> None:
    with Sink() as sink:
        d, path = dispatcher(tmp_path, [provider("hook", "generic", f"{sink.url}/hook")], [alert("hook")], stop)
        d.listen(failure())
        sink.wait_for(lambda r: True, timeout=10)
        wait_until(lambda: "sent" in outcomes(path), timeout=10, what="the sent line")
        d.listen(failure())
        wait_until(lambda: "dropped" in outcomes(path), timeout=10, what="the dropped duplicate")
    sent, dropped = alertlog.read(path)
    assert sent["involvedObject"] == SUBJECT and sent["provider"] == "apps/hook" and sent["alerts"] == ["apps/a"]
    assert (sent["providerType"], sent["severity"], sent["reason"], sent["message"]) == \
        ("generic", "error", "BuildFailed", "build failed")
    assert dropped["alerts"] == ["apps/a"] and "rate-limit" in dropped["why"]
    assert len(sink.received()) == 1


def test_a_dead_provider_is_logged_retrying_then_failed_without_its_secrets(tmp_path: Path,
                                                                         stop: threading.Event) -> None:
    address = "http://127.0.0.1:9/hook?token=addr-s3cret"
    d, path = dispatcher(tmp_path, [provider("dead", "generic-hmac", timeout="1s", secretRef={"name": "dead"})],
                         [alert("dead")], stop,
                         {"dead": {"address": address, "token": "t0p-s3cret", "headers": "X-Key: k3y-s3cret\n"}})
    d.listen(failure("token t0p-s3cret leaked into a message"))
    wait_until(lambda: "failed" in outcomes(path), timeout=15, what="the failed line")
    lines = alertlog.read(path)
    retries = [line for line in lines if line["outcome"] == "retrying"]
    assert retries and [line["attempt"] for line in retries] == list(range(1, len(retries) + 1))
    assert "request failed" in retries[0]["error"]
    failed = lines[-1]
    assert failed["outcome"] == "failed" and "attempts" in failed["error"] and failed["provider"] == "apps/dead"
    assert failed["message"] == "token ***** leaked into a message"
    text = path.read_text()
    assert "s3cret" not in text and "127.0.0.1:9" not in text


def test_a_full_queue_is_logged_as_dropped(tmp_path: Path, stop: threading.Event) -> None:
    kube: KubeClient = FakeKube({})  # type: ignore[assignment]
    path = tmp_path / "alerts.jsonl"
    d = Dispatcher(kube, lambda: [], lambda ns, n: None, stop=stop, queue_size=1, alert_log=AlertLog(path))
    d.listen(failure())
    d.listen(failure())
    (line,) = alertlog.read(path)
    assert line["outcome"] == "dropped" and "queue is full" in line["why"] and line["involvedObject"] == SUBJECT
    assert json.loads(path.read_text().splitlines()[0])["reason"] == "BuildFailed"


def test_events_upstream_controllers_post_are_logged_too(tmp_path: Path, stop: threading.Event) -> None:
    """Beside upstream Flux its controllers post events to our event server: the same dispatcher logs them."""
    import urllib.request

    from sandbox.reconciler.notification.eventserver import event_server

    with Sink() as sink:
        d, path = dispatcher(tmp_path, [provider("hook", "generic", f"{sink.url}/up")], [alert("hook")], stop)
        with event_server(d, 0) as server:
            body = {"involvedObject": {"kind": "Kustomization", "namespace": "apps", "name": "podinfo",
                                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
                    "severity": "error", "timestamp": "2026-01-01T00:00:00Z", "message": "upstream failure",
                    "reason": "BuildFailed", "reportingController": "kustomize-controller", "metadata": {}}
            request = urllib.request.Request(server.url + "/", data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 202
        wait_until(lambda: "sent" in outcomes(path), timeout=10, what="the sent line")
    (line,) = alertlog.read(path)
    assert line["involvedObject"] == SUBJECT and line["message"] == "upstream failure"


class NoCluster:
    """A client whose every call fails as an unreachable API server's would."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise APIError(f"{name}: no cluster in this test")
        return fail


def test_the_reconciler_process_logs_where_the_sandbox_record_says(tmp_path: Path) -> None:
    """Both modes (ours, and beside upstream Flux with --events-port) write the log in the reconciler's data
    directory; the sandbox record names that file for the recorder."""
    from sandbox.config import UpOptions
    from sandbox.errors import NotSupported
    from sandbox.reconciler.process import build_manager
    from sandbox.reconciler_service import ReconcilerService, alert_log
    from sandbox.state import StateDir

    state = StateDir("logged", root=tmp_path / "state")
    state.create()
    plan = ReconcilerService().plan(state, UpOptions(name="logged"), extra_argv=("--receivers-only",
                                                                                "--events-port", "1"))
    (component,) = plan.components
    data_dir = Path(component.argv[component.argv.index("--data-dir") + 1])
    assert plan.record["reconciler"]["alert_log"] == str(alertlog.path_in(data_dir))
    stopped = threading.Event()
    stopped.set()  # wired, never started: no controller or dispatcher thread runs
    _, _, parts = build_manager(NoCluster(), data_dir, artifact_url="http://127.0.0.1:1",  # type: ignore[arg-type]
                                stop=stopped, receivers_only=True, upstream_events=True)
    assert parts["dispatcher"].alert_log.path == alertlog.path_in(data_dir)
    state.write_record(plan.record)
    assert alert_log(state) == alertlog.path_in(data_dir)
    state.write_record({})
    with pytest.raises(NotSupported, match="keeps no alert log"):
        alert_log(state)


def test_a_provider_that_cannot_be_set_up_is_logged_failed_without_its_address(tmp_path: Path,
                                                                               stop: threading.Event) -> None:
    d, path = dispatcher(tmp_path, [provider("bad", "slack", "ftp://hooks.example/T0/B0/s3cret-path")],
                         [alert("bad")], stop)
    assert d.deliveries(failure()) == []
    (line,) = alertlog.read(path)
    assert line["outcome"] == "failed" and "failed to initialize provider" in line["error"]
    assert "s3cret" not in path.read_text()
