"""The one error tree of the project: every failure a user can act on is a SandboxError."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error the sandbox raises on purpose; its message is meant for a person."""

    exit_code = 1


class InputError(SandboxError):
    """Bad input from the user: a flag, a file, an object. The message names it and says what to do."""


class UsageError(InputError):
    exit_code = 2


class CommandError(SandboxError):
    """An external program failed; carries the quoted command, exit code and the tail of stderr (masked)."""

    def __init__(self, message: str, *, argv: list[str] | None = None, returncode: int | None = None,
                 stderr_tail: str = "") -> None:
        super().__init__(message)
        self.argv = argv or []
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class APIError(SandboxError):
    """The Kubernetes API answered with an error status."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(APIError):
    pass


class Conflict(APIError):
    pass


class Forbidden(APIError):
    """The API server refused the request to the identity that made it (HTTP 403: RBAC, impersonation)."""


class Gone(APIError):
    """A watch's resourceVersion is too old (HTTP 410): relist."""


class WaitTimeout(SandboxError):
    """Something awaited did not happen in time; the message says what, how long, the last state and a hint."""


class NotRunning(SandboxError):
    """The named sandbox is not up."""


class AlreadyRunning(SandboxError):
    """The named sandbox is already up."""


class NotSupported(SandboxError):
    """The chosen backend lacks this feature; the message names one that has it."""
