"""What a provider is given (the Provider's settings, its Secret read) and what it produces: one HTTP POST."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import InputError

Obj = dict[str, Any]
JSON = "application/json"
# One HTTP call made for a provider: (method, url, JSON body or None) -> the answer's body; HTTP errors raise.
Fetch = Callable[[str, str, bytes | None], bytes]


@dataclass(frozen=True)
class Settings:
    type: str
    address: str
    channel: str = ""
    username: str = ""
    token: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Request:
    """A POST of ``body`` to ``url``; with ``check_url``, a GET there first whose answer ``duplicate`` reads: when
    it says the same thing was posted already, nothing is posted (commit statuses). With ``exchange``, that
    function makes the calls itself through the ``Fetch`` it is given (``url`` and ``body`` only describe the
    request): pull-request comments read the user and the comments, then edit one or create one."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    check_url: str = ""
    duplicate: Callable[[bytes], bool] | None = field(default=None, repr=False, compare=False)
    exchange: Callable[[Fetch], None] | None = field(default=None, repr=False, compare=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def basic(username: str, password: str) -> dict[str, str]:
    if not (username and password):
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def require_url(address: str, what: str) -> str:
    if not address.startswith(("http://", "https://")):
        raise InputError(f"invalid {what} URL {address!r}: an http:// or https:// address is required")
    return address
