"""Where the local git server keeps its things inside a sandbox's state directory, and its token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sandbox.state import write_private

OWNER = "sandbox"  # the one user (and repository owner) of both backends


@dataclass(frozen=True)
class LocalLayout:
    state_dir: Path

    @property
    def data(self) -> Path:
        return self.state_dir / "data" / "git"

    @property
    def token_file(self) -> Path:
        return self.state_dir / "secrets" / "git-token"

    @property
    def delivery_log(self) -> Path:
        return self.data / "webhook-deliveries.jsonl"

    @property
    def push_log(self) -> Path:
        """One JSON line per pushed ref (repo, ref, before, after, pusher, commits), whether hooks exist or not."""
        return self.data / "pushes.jsonl"

    @property
    def tmp(self) -> Path:
        return self.data / "tmp"


def ensure_token(path: Path) -> str:
    """The token in ``path``; a new random one (0600) when the file does not exist yet."""
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_hex(20)
    write_private(path, token + "\n")
    return token


def read_token(path: Path) -> str:
    return path.read_text().strip()
