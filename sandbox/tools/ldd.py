"""ldd: which shared libraries (and which dynamic loader) a binary needs, to copy them into a minimal rootfs."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.errors import CommandError
from sandbox.tools.run import run

# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the loader line "/lib64/ld-linux-x86-64.so.2 (0x...)"
_LINE_RE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def parse(output: str) -> list[Path]:
    """The absolute paths in ``ldd`` output, in order; virtual objects such as linux-vdso have none."""
    paths = []
    for line in output.splitlines():
        match = _LINE_RE.match(line)
        if match:
            paths.append(Path(match.group(1)))
    return paths


def shared_libraries(binary: Path) -> list[Path]:
    """The libraries and loader ``binary`` loads at run time; empty for a statically linked binary."""
    result = run(["ldd", binary], timeout=30, ok_codes=(0, 1))
    text = result.stdout + result.stderr
    if result.returncode != 0:
        if "not a dynamic executable" in text:
            return []
        raise CommandError(f"`ldd {binary}` failed: {text.strip()}", argv=["ldd", str(binary)],
                           returncode=result.returncode, stderr_tail=text.strip())
    missing = [line.split("=>")[0].strip() for line in text.splitlines() if "=> not found" in line]
    if missing:
        raise CommandError(f"{binary} needs libraries that are not installed: {', '.join(missing)}",
                           argv=["ldd", str(binary)], returncode=0)
    return parse(text)
