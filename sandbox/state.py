"""The on-disk record of a sandbox: its directory, component specs, live status and credentials (files 0600)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandbox import config


def write_private(path: Path, data: str | bytes) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Probe:
    """How the supervisor decides a component is ready: an HTTP GET answering 200 (``url``), or a listening port."""

    url: str = ""
    ca_file: str = ""
    token_file: str = ""
    expect_body: str = ""
    cert_file: str = ""  # a client certificate (PEM) to present, with its key
    key_file: str = ""
    username: str = ""  # HTTP basic authentication, with the password read from password_file
    password_file: str = ""


@dataclass(frozen=True)
class ComponentSpec:
    """One supervised process of a sandbox."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)  # components that must be ready before this one starts
    after_started: list[str] = field(default_factory=list)  # components that need only have been started
    probe: Probe | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    startup_timeout: float = 60.0
    stop_timeout: float = 10.0
    cwd: str = ""
    # The signal a component gets when the supervisor dies without stopping it (SIGTERM lets it clean up; SIGKILL
    # for one whose graceful shutdown waits on a sibling that dies at the same moment).
    parent_death_signal: str = "SIGTERM"

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ComponentSpec:
        probe = data.get("probe")
        return ComponentSpec(
            name=data["name"],
            argv=list(data["argv"]),
            env=dict(data.get("env", {})),
            after=list(data.get("after", [])),
            after_started=list(data.get("after_started", [])),
            probe=Probe(**probe) if probe else None,
            endpoints=dict(data.get("endpoints", {})),
            startup_timeout=float(data.get("startup_timeout", 60.0)),
            stop_timeout=float(data.get("stop_timeout", 10.0)),
            cwd=data.get("cwd", ""),
            parent_death_signal=data.get("parent_death_signal", "SIGTERM"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StateDir:
    """Paths inside one sandbox's state directory."""

    def __init__(self, name: str, root: Path | None = None) -> None:
        self.name = name
        self.path = (root or config.state_root()) / name

    @property
    def spec_file(self) -> Path:
        return self.path / "components.json"

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    @property
    def record_file(self) -> Path:
        return self.path / "sandbox.json"

    @property
    def kubeconfig(self) -> Path:
        return self.path / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def secrets(self) -> Path:
        return self.path / "secrets"

    @property
    def data(self) -> Path:
        return self.path / "data"

    def exists(self) -> bool:
        return self.path.is_dir()

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.mkdir(mode=0o700)
        for sub in (self.logs, self.secrets, self.data):
            sub.mkdir(mode=0o700)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def write_specs(self, specs: list[ComponentSpec]) -> None:
        write_json(self.spec_file, [s.to_dict() for s in specs])

    def read_specs(self) -> list[ComponentSpec]:
        return [ComponentSpec.from_dict(d) for d in read_json(self.spec_file)]

    def read_status(self) -> dict[str, Any] | None:
        try:
            data = read_json(self.status_file)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def read_record(self) -> dict[str, Any]:
        try:
            data = read_json(self.record_file)
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_record(self, record: dict[str, Any]) -> None:
        write_json(self.record_file, record)


def list_sandboxes(root: Path | None = None) -> list[str]:
    base = root or config.state_root()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "sandbox.json").exists())
