"""What a run reports as it goes: an Observer with a no-op method per moment, and one that fans out to several
(the player's narration, a timeline file, a test's log)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.scenario.context import RunContext
    from sandbox.scenario.model import Step
    from sandbox.scenario.runner import RunResult


class Observer:
    """Override what you need; every method is called from the thread running the scenario."""

    def scenario_started(self, ctx: RunContext) -> None:
        """The run's namespaces exist; the repository does not yet."""

    def repository_ready(self, ctx: RunContext) -> None:
        """The repository is pushed and followed, its Kustomizations created; the first step comes next."""

    def step_started(self, ctx: RunContext, step: Step) -> None: ...

    def step_finished(self, ctx: RunContext, step: Step, seconds: float, detail: str,
                      error: BaseException | None) -> None:
        """``detail``: one line on what the step did (empty when it failed; ``error`` says why)."""

    def narration(self, ctx: RunContext, step: Step, text: str) -> None: ...

    def committed(self, ctx: RunContext, sha: str, message: str, files: list[str]) -> None: ...

    def artifact_pushed(self, ctx: RunContext, kind: str, reference: str, digest: str) -> None:
        """``kind``: image or chart."""

    def note(self, ctx: RunContext, text: str) -> None: ...

    def scenario_finished(self, ctx: RunContext, result: RunResult) -> None: ...


class Fanout(Observer):
    """Passes every call to each observer in turn."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = list(observers)

    def _each(self, method: str, *args: Any) -> None:
        for observer in self.observers:
            getattr(observer, method)(*args)

    def scenario_started(self, ctx: RunContext) -> None:
        self._each("scenario_started", ctx)

    def repository_ready(self, ctx: RunContext) -> None:
        self._each("repository_ready", ctx)

    def step_started(self, ctx: RunContext, step: Step) -> None:
        self._each("step_started", ctx, step)

    def step_finished(self, ctx: RunContext, step: Step, seconds: float, detail: str,
                      error: BaseException | None) -> None:
        self._each("step_finished", ctx, step, seconds, detail, error)

    def narration(self, ctx: RunContext, step: Step, text: str) -> None:
        self._each("narration", ctx, step, text)

    def committed(self, ctx: RunContext, sha: str, message: str, files: list[str]) -> None:
        self._each("committed", ctx, sha, message, files)

    def artifact_pushed(self, ctx: RunContext, kind: str, reference: str, digest: str) -> None:
        self._each("artifact_pushed", ctx, kind, reference, digest)

    def note(self, ctx: RunContext, text: str) -> None:
        self._each("note", ctx, text)

    def scenario_finished(self, ctx: RunContext, result: RunResult) -> None:
        self._each("scenario_finished", ctx, result)
