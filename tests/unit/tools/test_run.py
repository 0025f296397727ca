import pytest

from sandbox.errors import CommandError, InputError
from sandbox.tools.run import run


def test_failure_names_command_code_and_stderr_with_secrets_masked() -> None:
    with pytest.raises(CommandError) as info:
        run(["sh", "-c", "echo token=hunter2 >&2; exit 3", "hunter2"], secrets=["hunter2"])
    message = str(info.value)
    assert "exited with code 3" in message and "token=***" in message
    assert "hunter2" not in message
    assert info.value.returncode == 3


def test_missing_program_is_an_input_error() -> None:
    with pytest.raises(InputError, match="sandbox doctor"):
        run(["definitely-not-a-program-xyz"])


def test_allowed_exit_codes() -> None:
    assert run(["sh", "-c", "exit 1"], ok_codes=(0, 1)).returncode == 1


def test_run_streaming_feeds_stdin_and_hands_over_output_as_it_comes() -> None:
    from sandbox.tools.run import run_streaming

    received: list[bytes] = []
    result = run_streaming(["sh", "-c", "cat; echo done; echo token=hunter2 >&2; exit 4"],
                           input_chunks=iter([b"a" * 70000, b"b"]), on_output=received.append, env={},
                           secrets=["hunter2"])
    assert b"".join(received) == b"a" * 70000 + b"bdone\n"
    assert result.returncode == 4
    assert result.stderr_tail == "token=***"


def test_run_streaming_with_a_clean_environment() -> None:
    from sandbox.tools.run import run_streaming

    received: list[bytes] = []
    run_streaming(["/usr/bin/env"], input_chunks=iter([]), on_output=received.append, env={"ONLY": "1"},
                  inherit_env=False)
    assert b"".join(received) == b"ONLY=1\n"
