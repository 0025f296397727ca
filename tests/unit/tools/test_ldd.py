from pathlib import Path

from sandbox.tools.ldd import parse

OUTPUT = """\tlinux-vdso.so.1 (0x00007ffd5a1f2000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3ede603000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f3ede7f8000)
"""


def test_parse_keeps_libraries_and_loader_and_drops_the_vdso() -> None:
    assert parse(OUTPUT) == [Path("/lib/x86_64-linux-gnu/libc.so.6"), Path("/lib64/ld-linux-x86-64.so.2")]


def test_static_binary_has_none() -> None:
    assert parse("\tnot a dynamic executable\n") == []
