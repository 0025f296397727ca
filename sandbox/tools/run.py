"""The one place that runs an external program to completion (long-running ones belong to the supervisor)."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import CommandError, InputError

_TAIL_LINES = 20


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in ``text`` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    timeout: float | None = 300,
    ok_codes: Sequence[int] = (0,),
    secrets: Iterable[str] = (),
    capture: bool = True,
    unset_env: Iterable[str] = (),
) -> Completed:
    """Run ``argv`` (a list, never a shell string) and return its output. ``env`` is added to this process's
    environment, less the variables named in ``unset_env``.

    Raises CommandError with the quoted command, exit code and stderr tail (secrets masked) when the exit
    code is not in ``ok_codes``, InputError when the program is missing.
    """
    args = [str(a) for a in argv]
    secret_list = [s for s in secrets if s]
    full_env = None
    unset = set(unset_env)
    if env is not None or unset:
        full_env = {name: value for name, value in os.environ.items() if name not in unset}
        full_env.update(env or {})
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            input=input_text,
            capture_output=capture,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as err:
        raise InputError(f"program not found: {args[0]!r}; run `sandbox doctor` to see how to get it") from err
    except subprocess.TimeoutExpired as err:
        quoted = mask(shlex.join(args), secret_list)
        raise CommandError(f"`{quoted}` did not finish within {timeout}s", argv=args) from err
    stdout = proc.stdout or ""
    stderr = proc.stderr or ""
    if proc.returncode not in ok_codes:
        quoted = mask(shlex.join(args), secret_list)
        tail = mask("\n".join(stderr.strip().splitlines()[-_TAIL_LINES:]), secret_list)
        if not tail:
            tail = mask("\n".join(stdout.strip().splitlines()[-_TAIL_LINES:]), secret_list)
        raise CommandError(
            f"`{quoted}` exited with code {proc.returncode}" + (f":\n{tail}" if tail else ""),
            argv=args,
            returncode=proc.returncode,
            stderr_tail=tail,
        )
    return Completed(tuple(args), proc.returncode, stdout, stderr)


def stream(
    argv: Sequence[str | Path],
    *,
    on_line: Callable[[str], None],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Run ``argv`` to completion, handing each output line (stdout and stderr merged) to ``on_line``."""
    args = [str(a) for a in argv]
    secret_list = [s for s in secrets if s]
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    tail: list[str] = []
    try:
        proc = subprocess.Popen(
            args, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, bufsize=1,
        )
    except FileNotFoundError as err:
        raise InputError(f"program not found: {args[0]!r}; run `sandbox doctor` to see how to get it") from err
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            line = mask(line.rstrip("\n"), secret_list)
            tail.append(line)
            del tail[:-_TAIL_LINES]
            on_line(line)
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if code != 0:
        quoted = mask(shlex.join(args), secret_list)
        text = "\n".join(tail)
        raise CommandError(f"`{quoted}` exited with code {code}:\n{text}", argv=args, returncode=code,
                           stderr_tail=text)


@dataclass(frozen=True)
class Streamed:
    returncode: int
    stderr_tail: str


def run_streaming(
    argv: Sequence[str | Path],
    *,
    input_chunks: Iterable[bytes],
    on_output: Callable[[bytes], None],
    env: Mapping[str, str],
    inherit_env: bool = True,
    cwd: Path | None = None,
    timeout: float | None = 600,
    secrets: Iterable[str] = (),
) -> Streamed:
    """Run ``argv`` feeding it ``input_chunks`` on stdin while handing its stdout, as it comes, to ``on_output``.

    For programs that sit between two sockets (a CGI such as ``git http-backend``): neither side is buffered
    whole in memory. stdin is written from a thread so a program that answers before reading everything cannot
    deadlock us. Returns the exit code and the masked stderr tail; the caller decides what a failure means.
    """
    args = [str(a) for a in argv]
    secret_list = [s for s in secrets if s]
    full_env = dict(os.environ) if inherit_env else {}
    full_env.update(env)
    try:
        proc = subprocess.Popen(args, cwd=cwd, env=full_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError as err:
        raise InputError(f"program not found: {args[0]!r}; run `sandbox doctor` to see how to get it") from err
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    errors: list[bytes] = []
    feed_error: list[BaseException] = []

    def feed() -> None:
        try:
            for chunk in input_chunks:
                stdin.write(chunk)
        except BrokenPipeError:
            pass  # the program stopped reading; its exit code tells the story
        except BaseException as err:  # the request body broke off: kill the program rather than hang
            feed_error.append(err)
            proc.kill()
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    def drain_stderr() -> None:
        errors.append(stderr.read())

    feeder = threading.Thread(target=feed, daemon=True)
    collector = threading.Thread(target=drain_stderr, daemon=True)
    feeder.start()
    collector.start()
    try:
        # os.read returns what is there now instead of waiting to fill a buffer: the client sees output at once.
        while chunk := os.read(stdout.fileno(), 1 << 16):
            on_output(chunk)
        code = proc.wait(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        feeder.join(timeout=5)
        collector.join(timeout=5)
        stdout.close()
        stderr.close()
    if feed_error:
        raise CommandError(f"`{mask(shlex.join(args), secret_list)}`: reading its input failed: {feed_error[0]}",
                           argv=args) from feed_error[0]
    text = b"".join(errors).decode(errors="replace")
    tail = mask("\n".join(text.strip().splitlines()[-_TAIL_LINES:]), secret_list)
    return Streamed(code, tail)
