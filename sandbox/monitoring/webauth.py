"""Basic authentication in front of the sandbox's Prometheus and Alertmanager: one random password per sandbox
(``secrets/monitoring-password``, 0600) and the ``--web.config.file`` both programs read (``basic_auth_users`` with
its bcrypt hash). Every client in the sandbox (CLI, scenario runner, recorder, reports, the supervisor's probe and
Prometheus's own alerting) presents it; anything else on loopback gets 401, ``/-/reload`` and ``/-/quit`` too."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import bcrypt
import yaml

from sandbox.state import StateDir, write_private

USER = "sandbox"
PASSWORD_FILE = "monitoring-password"
# The password is 192 random bits: no dictionary to guess from, so a low bcrypt cost loses nothing and keeps each
# authenticated request cheap for the two Go servers (they compare the hash on requests they have not cached).
_BCRYPT_ROUNDS = 6


def password_file(state: StateDir) -> Path:
    return state.secrets / PASSWORD_FILE


def ensure_password(state: StateDir) -> Path:
    """The sandbox's monitoring password file, made once (0600)."""
    path = password_file(state)
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return path


def web_config(password: str) -> str:
    """The ``--web.config.file`` YAML (exporter-toolkit's format) allowing user ``sandbox`` with ``password``."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=_BCRYPT_ROUNDS)).decode()
    return yaml.safe_dump({"basic_auth_users": {USER: hashed}}, sort_keys=False)


def write_web_config(state: StateDir, target: Path) -> Path:
    """Write the web config for this sandbox's password at ``target`` (0600)."""
    write_private(target, web_config(read_password(state)))
    return target


def read_password(state: StateDir) -> str:
    return password_file(state).read_text().strip()


def credentials(state: StateDir) -> tuple[str, str] | None:
    """``(user, password)`` for a client of this sandbox's Prometheus and Alertmanager; None for a sandbox whose
    monitoring runs without a password (started by a version before it had one)."""
    if not password_file(state).exists():
        return None
    return USER, read_password(state)


def header(auth: tuple[str, str]) -> str:
    """The ``Authorization`` header value for ``(user, password)``."""
    user, password = auth
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
