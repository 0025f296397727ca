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
