"""A small client of Prometheus's and Alertmanager's HTTP APIs (``/api/v1/query``, ``query_range``, ``alerts``;
Alertmanager ``/api/v2/alerts``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sandbox.errors import InputError, SandboxError
from sandbox.monitoring import webauth
from sandbox.waiting import wait_until


class PrometheusError(SandboxError):
    """Prometheus refused a query or could not be reached; the message says which and why."""


Auth = tuple[str, str] | None  # (user, password) for HTTP basic authentication (sandbox.monitoring.webauth)


def _request(url: str, auth: Auth, method: str = "GET") -> urllib.request.Request:
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    if auth:
        request.add_header("Authorization", webauth.header(auth))
    return request


def _get(url: str, auth: Auth = None, timeout: float = 10.0) -> Any:
    try:
        with urllib.request.urlopen(_request(url, auth), timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
        try:
            detail = json.loads(body).get("error", body)
        except ValueError:
            detail = body
        raise PrometheusError(f"{url.split('?')[0]} answered {err.code}: {detail}") from err
    except (urllib.error.URLError, OSError) as err:
        raise PrometheusError(f"{url.split('?')[0]} is not reachable ({err}); is the sandbox up with "
                              "--monitoring? (`sandbox status`)") from err


def _post(url: str, auth: Auth = None, timeout: float = 30.0) -> None:
    """POST with an empty body (``/-/reload``); PrometheusError with the answer when it is not 2xx."""
    request = _request(url, auth, "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as err:
        raise PrometheusError(f"{url} answered {err.code}: {err.read().decode(errors='replace').strip()}") from err
    except (urllib.error.URLError, OSError) as err:
        raise PrometheusError(f"{url} is not reachable ({err})") from err


class Prometheus:
    def __init__(self, url: str, alertmanager: str = "", *, auth: Auth = None) -> None:
        self.url = url.rstrip("/")
        self.alertmanager = alertmanager.rstrip("/")
        self._auth = auth

    def _api(self, path: str, **params: str) -> Any:
        data = _get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}", self._auth)
        if data.get("status") != "success":
            raise PrometheusError(f"Prometheus {path}: {data.get('error', data)}")
        return data["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant vector: ``[{"metric": {...}, "value": [ts, "v"]}, …]`` (scalars come back as one item)."""
        if not promql.strip():
            raise InputError("empty PromQL query")
        data = self._api("query", query=promql)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range matrix: ``[{"metric": {...}, "values": [[ts, "v"], …]}, …]``."""
        data = self._api("query_range", query=promql, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}")
        return list(data["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Prometheus holds (pending and firing)."""
        return list(self._api("alerts")["alerts"])

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        """Alerts Alertmanager received and holds (active, not silenced)."""
        if not self.alertmanager:
            return []
        return list(_get(f"{self.alertmanager}/api/v2/alerts", self._auth))

    def rule_groups(self) -> list[dict[str, Any]]:
        """The rule groups Prometheus has loaded (``/api/v1/rules``): name, file, rules with their state."""
        return list(self._api("rules")["groups"])

    def loaded_config(self) -> str:
        """The configuration Prometheus runs with, as YAML (``/api/v1/status/config``)."""
        return str(self._api("status/config")["yaml"])

    def reload(self) -> None:
        """Re-read the configuration and rule files (needs ``--web.enable-lifecycle``); PrometheusError saying
        why when it fails."""
        _post(f"{self.url}/-/reload", self._auth)

    def reload_alertmanager(self) -> None:
        """Re-read Alertmanager's configuration; PrometheusError with Alertmanager's answer when it is refused."""
        _post(f"{self.alertmanager}/-/reload", self._auth)

    def alertmanager_config(self) -> str:
        """The configuration Alertmanager runs with, as YAML (``/api/v2/status``)."""
        return str(_get(f"{self.alertmanager}/api/v2/status", self._auth)["config"]["original"])

    def targets_up(self) -> dict[str, bool]:
        """``{scrape URL: up}`` of every active target."""
        data = self._api("targets", state="active")
        return {t["scrapeUrl"]: t.get("health") == "up" for t in data["activeTargets"]}

    def wait_for_alert(self, name: str, timeout: float = 60.0, *, state: str = "firing") -> dict[str, Any]:
        """The first alert ``name`` in ``state`` (firing | pending); WaitTimeout naming what Prometheus holds."""
        def found() -> dict[str, Any] | None:
            return next((a for a in self.alerts() if a["labels"].get("alertname") == name
                         and a.get("state") == state), None)

        return wait_until(found, timeout=timeout, what=f"alert {name} to be {state} in Prometheus",
                          describe=lambda: ", ".join(f"{a['labels'].get('alertname')}={a.get('state')}"
                                                     for a in self.alerts()) or "no alerts")

    def wait_for_series(self, promql: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The result of ``promql`` once it is not empty."""
        return wait_until(lambda: self.query(promql) or None, timeout=timeout, what=f"{promql} to have a series")

