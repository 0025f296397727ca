"""Time helpers in Kubernetes' formats, and Flux's duration strings (``1m30s``)."""

from __future__ import annotations

import datetime
import re

from sandbox.errors import InputError

_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def rfc3339(moment: datetime.datetime | None = None) -> str:
    """Seconds precision, as metav1.Time serialises."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(moment: datetime.datetime | None = None) -> str:
    """As ``flux reconcile`` writes the requestedAt annotation."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_duration(value: str, *, field: str = "duration") -> float:
    """Seconds in a Go duration string such as ``10m``, ``1m30s`` or ``500ms``."""
    text = str(value).strip()
    if not _DURATION_RE.match(text):
        raise InputError(f"{field}: {value!r} is not a duration; use forms like 30s, 5m, 1h30m")
    return sum(float(number) * _UNITS[unit] for number, unit in _PART_RE.findall(text))


def format_duration(seconds: float) -> str:
    """Go-style rendering: ``1m0s``, ``2.5s``, ``150ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    secs = f"{rest:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
