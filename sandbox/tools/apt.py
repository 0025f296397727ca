"""apt-get, used only with a private sources list so the system's apt configuration is never edited."""

from __future__ import annotations

from pathlib import Path

from sandbox.tools.run import run


def _private_options(private_dir: Path) -> list[str]:
    return [
        "-o", "Dir::Etc::SourceList=/dev/null",
        "-o", f"Dir::Etc::SourceParts={private_dir}",
        "-o", f"Dir::State::Lists={private_dir / 'lists'}",
        "-o", "APT::Sandbox::User=root",
    ]


def write_source_stanza(system_sources: Path, private_dir: Path) -> Path:
    """Copy the first deb822 stanza of ``system_sources`` as a ``deb-src`` entry into ``private_dir``."""
    text = system_sources.read_text()
    stanzas = [s for s in text.split("\n\n") if s.strip()]
    if not stanzas:
        raise FileNotFoundError(f"{system_sources} holds no deb822 stanza")
    lines = []
    for line in stanzas[0].splitlines():
        if line.startswith("Types:"):
            line = "Types: deb-src"
        lines.append(line)
    (private_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    target = private_dir / "sandbox-src.sources"
    target.write_text("\n".join(lines) + "\n")
    return target


def update(private_dir: Path) -> None:
    run(["apt-get", *_private_options(private_dir), "update"], timeout=600)


def download_source(private_dir: Path, package: str, into: Path) -> None:
    run(["apt-get", *_private_options(private_dir), "source", "--download-only", package], cwd=into, timeout=1200)


def installed_version(package: str) -> str | None:
    result = run(["dpkg-query", "-W", "-f=${Status} ${Version}", package], ok_codes=(0, 1), timeout=30)
    if result.returncode != 0 or "install ok installed" not in result.stdout:
        return None
    return result.stdout.split()[-1]
