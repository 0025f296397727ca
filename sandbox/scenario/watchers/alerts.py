"""Notification deliveries as ``alert`` entries, by tailing the reconciler's alert log (one JSON line per delivery
outcome: sent, retrying, failed, dropped; see ``sandbox.reconciler.notification.alertlog``)."""

from __future__ import annotations

from typing import Any

from sandbox.scenario.watchers.tail import Entry, JsonLogSource


def alert_data(line: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The subject (the involved object) and data of the ``alert`` entry for one line of the alert log."""
    alerts = [str(a) for a in line.get("alerts") or [] if a]
    data: dict[str, Any] = {
        "provider": str(line.get("provider") or ""), "type": str(line.get("providerType") or ""),
        "alerts": alerts, "severity": str(line.get("severity") or ""), "reason": str(line.get("reason") or ""),
        "message": str(line.get("message") or ""), "outcome": str(line.get("outcome") or "")}
    if line.get("attempt"):
        data["attempt"] = int(line["attempt"])
    detail = line.get("error") or line.get("why")
    if detail:
        data["error" if line.get("error") else "why"] = str(detail)
    return str(line.get("involvedObject") or ""), data


class AlertLogSource(JsonLogSource):
    """The reconciler's alert log, tailed."""

    name = "alerts"

    def entry_of(self, line: dict[str, Any]) -> Entry | None:
        if not line.get("outcome"):
            return None
        subject, data = alert_data(line)
        return "alert", subject, data
