"""Images of the controllers built here: named under sandbox.local/fluxcd (never as the published ghcr.io images),
the binary as entrypoint, a non-root user Flux's Deployments can run as."""

from __future__ import annotations

from pathlib import Path

from sandbox.fluxdev import images


def test_the_image_holds_the_controller_and_a_non_root_user(tmp_path: Path) -> None:
    binary = tmp_path / "source-controller"
    binary.write_bytes(b"\x7fELF")
    files = images.files("source-controller", binary)
    assert files["/usr/local/bin/source-controller"] == (binary, 0o755)
    passwd = files["/etc/passwd"][0]
    assert isinstance(passwd, bytes) and b":65534:65534:" in passwd
    assert images.image_name("source-controller", "v1.9.5") == "sandbox.local/fluxcd/source-controller:v1.9.5"
    assert not images.image_name("x", "v1").startswith("ghcr.io")
