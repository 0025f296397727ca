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


def go_duration(seconds: float) -> str:
    """A duration as Go prints ``time.Duration`` (``176.163666ms``, ``1m30s``, ``10m0s``): Flux's messages
    use this form."""
    nanoseconds = round(seconds * 1e9)
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    nanoseconds = abs(nanoseconds)
    if nanoseconds < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanoseconds >= size:
                return sign + _trim(f"{nanoseconds / size:.9f}") + unit
    hours, rest = divmod(nanoseconds, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs = _trim(f"{rest / 1e9:.9f}") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    if minutes:
        return f"{sign}{minutes}m{secs}"
    return sign + secs


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number
