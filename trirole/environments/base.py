"""The environment interface every trirole graph runs against.

An environment is where agent code runs: never in trirole's own process, but in a
sandboxed subprocess (`PythonSandbox`) or in an environment server (AppWorld's). The
graphs only see this protocol, so a new tool-use environment is one adapter class.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from trirole.errors import TriroleError
from trirole.state import ExecutionResult, TaskSpec


class EnvironmentFailure(TriroleError, RuntimeError):
    """An environment failed in a way the agent cannot recover from (server gone,
    sandbox cannot start). The graph ends with status ``env_error`` and this message.
    (Formerly ``EnvironmentError_``, a deprecated alias for one release.)"""


def __getattr__(name: str) -> Any:
    if name == "EnvironmentError_":  # the old name, kept one release
        warnings.warn("EnvironmentError_ is deprecated; use trirole.environments.EnvironmentFailure",
                      DeprecationWarning, stacklevel=2)
        return EnvironmentFailure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class EnvironmentInfo:
    """What an environment tells the agent when it is reset to a task.

    instruction: the task as the environment states it.
    context: facts given up front (e.g. AppWorld's supervisor: name, email, phone).
    reference: reference material for agent and corrector (API docs, helper functions).
    corrector_reference: what the corrector reads instead of `reference`, when the
        environment gives it another view of the same material (BFCL single-turn: the
        functions as BFCL's JSON schemas); empty: the corrector reads `reference`.
    completion_hint: how to declare the task done, e.g. ``apis.supervisor.complete_task()``.
    apps: reference material per app (e.g. AppWorld app name -> its API descriptions),
        for paradigms whose specialists each see only their apps' docs; empty when the
        environment has no apps.
    isolation: how agent code is confined (``bwrap`` or ``process``, see
        `trirole.environments.isolation`; empty when the environment does not say).
    one_request_at_a_time: the task brings several user requests, one after another
        (BFCL multi-turn): the completion hint ends the current one and the next arrives
        in that step's output (`ExecutionResult` ``next_request``). How many is not said.
    """

    instruction: str
    context: dict[str, Any] = field(default_factory=dict)
    reference: str = ""
    corrector_reference: str = ""
    completion_hint: str = "complete_task(answer)"
    apps: dict[str, str] = field(default_factory=dict)
    isolation: str = ""
    one_request_at_a_time: bool = False


@dataclass
class Evaluation:
    """An environment's verdict on a finished task.

    success: every check passed (AppWorld's task goal completion).
    passed / failed: the individual checks by name, with failure details.
    """

    success: bool
    passed: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, "passed": self.passed, "failed": self.failed, "details": self.details}


@runtime_checkable
class Environment(Protocol):
    """A tool-use environment, reset to one task at a time.

    All methods are async: evaluation runs many tasks concurrently, each with its own
    environment instance. Recoverable problems in agent code (exceptions, timeouts,
    memory) come back as an `ExecutionResult` with ``error=True``; only failures of the
    environment itself raise `EnvironmentFailure`.
    """

    name: str

    async def reset(self, task: TaskSpec) -> EnvironmentInfo:
        """Start a fresh episode of `task` (may look the task up by ``task_id``)."""
        ...

    async def execute(self, code: str) -> ExecutionResult:
        """Run one code action; its variables persist across calls like a notebook."""
        ...

    async def evaluate(self) -> Evaluation | None:
        """Judge the episode (``None`` when the task has no checker)."""
        ...

    async def close(self) -> None:
        """Release the episode's resources (processes, server-side state)."""
        ...
