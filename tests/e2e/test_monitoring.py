"""`sandbox up --monitoring`: Prometheus scrapes the reconciler and the kube-apiserver, Flux's alert rule fires for a
broken Kustomization and reaches a webhook through Alertmanager, the report renders, and down leaves no process."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import psutil
import pytest

from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.httpserve import LoopbackServer
from sandbox.kube.client import KubeClient
from sandbox.monitoring import report, service, webauth
from sandbox.monitoring.client import Prometheus
from sandbox.state import StateDir
from sandbox.tools import chromium
from sandbox.waiting import wait_until
from tests.e2e.helpers import processes_mentioning, run_cli

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.skipif(bool(service.missing()),
                                reason=f"monitoring needs the Debian packages {', '.join(service.missing())} "
                                       "(apt-get install prometheus prometheus-alertmanager, as bootstrap.sh does)")

BROKEN = "monitoring-broken"


class Recorder:
    """A webhook receiver that keeps every JSON body it gets."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with recorder.lock:
                    recorder.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

        self.server = LoopbackServer(Handler, name="alert-recorder").start()

    def alerts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [alert for body in self.bodies for alert in body.get("alerts", [])]


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    yield found
    found.server.stop()


@pytest.fixture(scope="module")
def monitored(recorder: Recorder) -> Iterator[str]:
    name = f"monitoring-{os.getpid()}"
    settings = MonitoringSettings(failure_for="3s", webhook=f"{recorder.server.url}/alerts")
    lifecycle.up(UpOptions(name=name, git="local", monitoring=settings, timeout=120))
    yield name
    lifecycle.down(name)


@pytest.fixture(scope="module")
def prom(monitored: str) -> Prometheus:
    return service.client_of(StateDir(monitored))


@pytest.mark.parametrize(("program", "method", "path"), [
    ("prometheus", "GET", "/api/v1/query?query=up"), ("prometheus", "POST", "/-/quit"),
    ("prometheus", "POST", "/-/reload"), ("prometheus", "GET", "/-/ready"),
    ("alertmanager", "GET", "/api/v2/alerts"), ("alertmanager", "POST", "/-/reload"),
])
def test_prometheus_and_alertmanager_refuse_requests_without_the_sandbox_credentials(
        monitored: str, prom: Prometheus, program: str, method: str, path: str) -> None:
    base = prom.url if program == "prometheus" else prom.alertmanager
    for auth in (None, "Basic " + base64.b64encode(b"sandbox:guessed").decode()):
        request = urllib.request.Request(base + path, data=b"" if method == "POST" else None, method=method)
        if auth:
            request.add_header("Authorization", auth)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
    assert isinstance(prom.query("up"), list)  # answered: the credentials of the sandbox work
    password = webauth.password_file(StateDir(monitored))
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    web = service.root(StateDir(monitored)) / "web.yml"
    assert stat.S_IMODE(web.stat().st_mode) == 0o600
    assert password.read_text().strip() not in web.read_text()  # only its bcrypt hash


def test_prometheus_scrapes_reconciler_and_apiserver(prom: Prometheus) -> None:
    series = prom.wait_for_series('up{job="apiserver"} == 1', timeout=60)
    assert series[0]["metric"]["component"] == "kube-apiserver"
    prom.wait_for_series('up{job="gotk", component="reconciler"} == 1', timeout=60)
    prom.wait_for_series("apiserver_request_total", timeout=60)


def test_broken_kustomization_is_not_ready_and_alert_reaches_webhook(monitored: str, prom: Prometheus,
                                                                     recorder: Recorder) -> None:
    kube = KubeClient.from_kubeconfig(StateDir(monitored).kubeconfig)
    kube.apply({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": BROKEN, "namespace": "flux-system"},
                "spec": {"interval": "1m", "path": "./", "prune": True,
                         "sourceRef": {"kind": "GitRepository", "name": "does-not-exist"}}},
               field_manager="test")
    series = prom.wait_for_series(f'gotk_resource_info{{ready="False", name="{BROKEN}"}}', timeout=60)
    labels = series[0]["metric"]
    assert labels["customresource_kind"] == "Kustomization"
    assert labels["customresource_group"] == "kustomize.toolkit.fluxcd.io"
    assert labels["exported_namespace"] == "flux-system"
    assert "suspended" not in labels  # no spec.suspend: kube-state-metrics leaves the label out

    alert = prom.wait_for_alert("ReconciliationFailure", timeout=90)
    assert alert["labels"]["name"] == BROKEN
    assert alert["labels"]["severity"] == "page"

    def delivered() -> dict[str, Any] | None:
        return next((a for a in recorder.alerts() if a["labels"].get("alertname") == "ReconciliationFailure"
                     and a["labels"].get("name") == BROKEN and a.get("status") == "firing"), None)

    arrived = wait_until(delivered, timeout=60, what="ReconciliationFailure to reach the webhook via Alertmanager")
    assert arrived["labels"]["customresource_kind"] == "Kustomization"
    assert f"flux-system/{BROKEN}" in arrived["annotations"]["summary"]
    assert any(a["labels"].get("alertname") == "ReconciliationFailure" for a in prom.alertmanager_alerts())


@pytest.mark.skipif(chromium.program() is None, reason=f"chromium is not installed ({chromium.HOW_TO_GET})")
def test_report_renders_in_chromium(monitored: str, prom: Prometheus, tmp_path: Path) -> None:
    prom.wait_for_series("gotk_resource_info", timeout=60)
    end = prom.query("time()")[0]["value"][1]
    data = report.collect(prom, start=float(end) - 120, end=float(end), step=2)
    assert data.readiness, "the report found no object"
    page = tmp_path / "report.html"
    page.write_text(report.render(data), encoding="utf-8")
    dom = chromium.dump_dom(page)
    assert dom.count("<rect") >= len(data.readiness)
    png = chromium.screenshot(page, tmp_path / "report.png", width=1000, height=800)
    assert png.stat().st_size > 5000


def test_cli_query_open_and_alerts(monitored: str, prom: Prometheus) -> None:
    prom.wait_for_series('up{job="gotk"} == 1', timeout=60)
    result = run_cli("metrics", "query", 'up{job="gotk"}', "-o", "json", "--name", monitored)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["metric"]["component"] == "reconciler"
    opened = run_cli("metrics", "open", "--name", monitored)
    assert opened.exit_code == 0 and prom.url in opened.stdout
    alerts = run_cli("metrics", "alerts", "-o", "json", "--name", monitored)
    assert alerts.exit_code == 0, alerts.output
    assert set(json.loads(alerts.stdout)) == {"prometheus", "alertmanager"}
    bad = run_cli("metrics", "query", "sum(", "--name", monitored)
    assert bad.exit_code != 0 and "parse error" in bad.output


USER_TEST = """
def test_alert(prometheus):
    alert = prometheus.wait_for_alert("ReconciliationFailure", timeout=90)
    assert alert["labels"]["name"] == "%s"
    assert prometheus.query('gotk_resource_info{name="%s"}')[0]["metric"]["ready"] == "False"
"""


def test_the_prometheus_fixture_of_the_pytest_plugin(pytester: pytest.Pytester, monitored: str,
                                                     prom: Prometheus) -> None:
    prom.wait_for_series(f'gotk_resource_info{{ready="False", name="{BROKEN}"}}', timeout=60)
    pytester.makepyfile(test_user=USER_TEST % (BROKEN, BROKEN))
    result = pytester.runpytest("--sandbox-reuse", monitored, "-p", "no:cacheprovider")
    assert result.parseoutcomes().get("passed") == 1, result.stdout.str()


def test_the_prometheus_fixture_skips_naming_a_missing_package(pytester: pytest.Pytester, monitored: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "missing", lambda: ["prometheus-alertmanager"])
    pytester.makepyfile(test_user=USER_TEST % (BROKEN, BROKEN))
    result = pytester.runpytest("--sandbox-reuse", monitored, "-p", "no:cacheprovider", "-rs")
    assert result.parseoutcomes().get("skipped") == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*monitoring needs the Debian packages prometheus-alertmanager*"])


def test_deleting_the_broken_kustomization_resolves_the_alert(monitored: str, prom: Prometheus,
                                                              recorder: Recorder) -> None:
    prom.wait_for_alert("ReconciliationFailure", timeout=90)
    kube = KubeClient.from_kubeconfig(StateDir(monitored).kubeconfig)
    kube.delete("kustomize.toolkit.fluxcd.io/v1", "Kustomization", BROKEN, "flux-system")

    def resolved() -> dict[str, Any] | None:
        return next((a for a in recorder.alerts() if a["labels"].get("alertname") == "ReconciliationFailure"
                     and a["labels"].get("name") == BROKEN and a.get("status") == "resolved"), None)

    wait_until(resolved, timeout=90, what="the resolved ReconciliationFailure to reach the webhook")
    assert not prom.query(f'gotk_resource_info{{name="{BROKEN}"}}')


def test_a_crashed_prometheus_is_restarted(monitored: str, prom: Prometheus) -> None:
    def component() -> dict[str, Any]:
        status = lifecycle.status(monitored, probe=False)
        return next(c for c in status["components"] if c["name"] == service.PROMETHEUS)

    before = component()
    psutil.Process(before["pid"]).kill()
    wait_until(lambda: component()["restarts"] > before["restarts"] and component()["state"] == "ready",
               timeout=60, what="the supervisor to restart Prometheus")
    prom.wait_for_series('up{job="gotk"} == 1', timeout=60)


def test_down_leaves_no_monitoring_process(monitored: str, prom: Prometheus) -> None:
    state = StateDir(monitored)
    root = str(service.root(state))
    assert processes_mentioning(root), "prometheus and alertmanager should be running"
    lifecycle.down(monitored)
    assert not processes_mentioning(root)
    assert not state.exists()
