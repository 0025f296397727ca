"""The proc-receive hook of the local git server: AGit pushes to ``refs/for/<base>`` open or update pull requests.

git's receive-pack (``receive.procReceiveRefs=refs/for``) hands every ``refs/for/…`` command and the push options
to this program over pkt-lines (githooks(5), "proc-receive"); it answers ``ok`` with the ref it really updated
(``refs/pull/N/head``) or ``ng`` with Gitea's reason. The pull requests it opened or updated are written as JSON
lines to ``$SANDBOX_PULL_RECORD`` so that the server sends their webhooks once the push is over.

Run by the hook script the store installs: ``$SANDBOX_PYTHON -m sandbox.git.agit``, with the server's
environment (``SANDBOX_GIT_DATA``, ``SANDBOX_GIT_OWNER``, ``SANDBOX_GIT_BASE_URL``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import BinaryIO

from sandbox.git.pulls import AGitResult, PullStore
from sandbox.git.store import RepoStore

FLUSH = b"0000"


def read_packet(stream: BinaryIO) -> bytes | None:
    """One pkt-line's payload; None for a flush packet."""
    header = stream.read(4)
    if len(header) < 4:
        raise EOFError("receive-pack closed the proc-receive protocol early")
    size = int(header, 16)
    if size == 0:
        return None
    return stream.read(size - 4)


def read_section(stream: BinaryIO) -> list[str]:
    lines = []
    while (packet := read_packet(stream)) is not None:
        lines.append(packet.decode().rstrip("\n"))
    return lines


def packet(text: str) -> bytes:
    data = text.encode() + b"\n"
    return f"{len(data) + 4:04x}".encode() + data


def parse_options(lines: list[str]) -> dict[str, str]:
    """``key=value`` push options (a bare ``key`` means true); the last of a repeated key wins."""
    options = {}
    for line in lines:
        key, sep, value = line.partition("=")
        options[key] = value if sep else "true"
    return options


def result_packets(result: AGitResult) -> list[bytes]:
    if result.error:
        return [packet(f"ng {result.original_ref} {result.error}")]
    return [packet(f"ok {result.original_ref}"), packet(f"option refname {result.ref}"),
            packet(f"option old-oid {result.old}"), packet(f"option new-oid {result.new}")]


def serve(stdin: BinaryIO, stdout: BinaryIO, pulls: PullStore, repo: str, *, user: str,
          record: Path | None, base_url: str) -> list[AGitResult]:
    """Speak proc-receive version 1 on ``stdin``/``stdout`` for ``repo``; the results of the commands."""
    version = read_section(stdin)
    server_caps = version[0].partition("\0")[2].split() if version else []
    wants_options = "push-options" in server_caps
    stdout.write(packet("version=1\0push-options" if wants_options else "version=1") + FLUSH)
    stdout.flush()
    commands = [line.split(" ", 2) for line in read_section(stdin)]
    options = parse_options(read_section(stdin)) if wants_options else {}
    results = [pulls.agit(repo, ref=ref, old=old, new=new, options=options, user=user) for old, new, ref in commands]
    for result in results:
        for data in result_packets(result):
            stdout.write(data)
    stdout.write(FLUSH)
    stdout.flush()
    for result in results:
        if result.pull is None:
            continue
        url = f"{base_url}/{pulls.store.owner}/{repo}/pulls/{result.pull.number}"
        verb = "opened" if result.created else "updated"
        print(f"Pull request #{result.pull.number} {verb} ({result.pull.head} -> {result.pull.base}): {url}",
              file=sys.stderr)
        if record is not None:
            with record.open("a") as out:
                out.write(json.dumps({"number": result.pull.number,
                                      "action": "opened" if result.created else "synchronized"}) + "\n")
    return results


def main() -> int:
    git_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
    owner = os.environ.get("SANDBOX_GIT_OWNER", git_dir.parent.name)
    root = Path(os.environ.get("SANDBOX_GIT_DATA", str(git_dir.parent.parent.parent)))
    store = RepoStore(root, owner)
    record = os.environ.get("SANDBOX_PULL_RECORD")
    serve(sys.stdin.buffer, sys.stdout.buffer, PullStore(store), git_dir.name.removesuffix(".git"),
          user=owner, record=Path(record) if record else None,
          base_url=os.environ.get("SANDBOX_GIT_BASE_URL", "").rstrip("/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
