from pathlib import Path

from sandbox.tools import apt

SOURCES = """Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_private_deb_src_stanza_copies_the_first_stanza_only(tmp_path: Path) -> None:
    system = tmp_path / "debian.sources"
    system.write_text(SOURCES)
    target = apt.write_source_stanza(system, tmp_path / "private")
    text = target.read_text()
    assert text.startswith("Types: deb-src\n")
    assert "bookworm bookworm-updates" in text and "security" not in text
    assert (tmp_path / "private" / "lists" / "partial").is_dir()
    assert system.read_text() == SOURCES, "the system's sources are never edited"
