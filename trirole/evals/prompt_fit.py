"""Before an evaluation's first pair: every task's documentation fits the prompt budget.

Each role's prompt holds a fixed part: the system prompt with the environment's reference
(a benchmark's function docs), the worked examples and the task. The prompt is cut to the
budget by dropping and clipping turns, and the fixed part is clipped only when nothing
else is left (`trirole.nodes.context.fit_to_budget`): a model cannot call a function whose
documentation was cut. So a run whose largest fixed part, with room for the step being
worked on, exceeds the prompt budget (``max_context_tokens - max_completion_tokens``) is
refused before it starts, with one line naming the context it needs.

Checked for environments whose reference is known without starting an episode (BFCL);
measured with the counter the graphs use (the server's ``/tokenize``; the conservative
heuristic for an injected model, e.g. the oracle).
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable, Mapping

from trirole.backend import HeuristicTokenCounter, ServerTokenCounter, TokenCounter
from trirole.environments import EnvironmentInfo
from trirole.errors import TriroleError
from trirole.evals.datasets import Dataset, EvalTask
from trirole.evals.oracle import ORACLE
from trirole.graphs.base import base_prompt
from trirole.nodes.context import agent_prompt
from trirole.nodes.corrector import corrector_prompt
from trirole.prompts import Prompts, load_prompts, substitutes
from trirole.settings import TriroleSettings

STEP_ROOM = 256
"""Prompt tokens left for the step being worked on (its reply and output, clipped) beside
the fixed part: less, and no step could be shown at all."""


class ContextTooSmall(TriroleError, ValueError):
    """The run's context cannot hold a task's documentation and instructions."""


def fixed_prompts(info: EnvironmentInfo, prompts: Prompts) -> dict[str, list]:
    """The fixed part of each role's first prompt for a task `info` describes, by role:
    the agent's (ReAct, scaffold; a specialist's shows no more than it), the base model's,
    and the corrector's (with no code yet)."""
    state: dict[str, Any] = {"task": {"instruction": info.instruction, "context": info.context},
                             "reference": info.reference, "completion_hint": info.completion_hint, "messages": []}
    return {"agent": agent_prompt(state, prompts),  # type: ignore[arg-type]
            "base": base_prompt(state, prompts),  # type: ignore[arg-type]
            "corrector": corrector_prompt(instruction=info.instruction, code="", reason="review", error="",
                                          reference=info.corrector_reference or info.reference, prompts=prompts)}


def task_infos(data: Dataset, tasks: Iterable[EvalTask]) -> list[tuple[str, EnvironmentInfo]]:
    """What each task's episode will tell the agent, for environments that know it without
    starting one (BFCL); [] for the others."""
    if data.env != "bfcl":
        return []
    from trirole.environments.bfcl import data as bfcl
    from trirole.environments.bfcl.environment import entry_info

    return [(task.id, entry_info(bfcl.entry(task.id))) for task in tasks]


def run_counter(settings: TriroleSettings, graph_options: Mapping[str, Any]) -> TokenCounter:
    """The counter the run's agent prompts are measured with (`trirole.resources.Resources.counter`)."""
    if graph_options.get("token_counter") is not None:
        return graph_options["token_counter"]
    endpoint = settings.endpoint("agent")
    if {"model", "models"} & set(graph_options) or endpoint.model == ORACLE:
        return HeuristicTokenCounter()
    return ServerTokenCounter(endpoint.base_url, endpoint.model)


async def largest_fixed_prompt(infos: list[tuple[str, EnvironmentInfo]], prompts: Prompts,
                               counter: TokenCounter) -> tuple[int, str, str]:
    """(tokens, task id, role) of the largest fixed prompt part among `infos`."""
    limit = asyncio.Semaphore(8)

    async def measure(task_id: str, info: EnvironmentInfo) -> list[tuple[int, str, str]]:
        async with limit:
            return [(await counter.acount(prompt), task_id, role)
                    for role, prompt in fixed_prompts(info, prompts).items()]

    sizes = await asyncio.gather(*(measure(task_id, info) for task_id, info in infos))
    return max((size for found in sizes for size in found), default=(0, "", ""))


async def check_prompts_fit(data: Dataset, tasks: Iterable[EvalTask], settings: TriroleSettings,
                            graph_options: Mapping[str, Any] | None = None) -> None:
    """Raise `ContextTooSmall` (one line: the context needed and the setting to raise)
    when a task's fixed prompt part and `STEP_ROOM` exceed the run's prompt budget."""
    graph_options = graph_options or {}
    infos = task_infos(data, tasks)
    if not infos:
        return
    prompts = load_prompts(graph_options.get("prompts") or substitutes(data.prompts))
    tokens, task_id, role = await largest_fixed_prompt(infos, prompts, run_counter(settings, graph_options))
    if tokens + STEP_ROOM <= settings.prompt_budget:
        return
    needed = tokens + STEP_ROOM + settings.max_completion_tokens
    raise ContextTooSmall(
        f"the documentation and instructions of {task_id} take {tokens} prompt tokens ({role}'s prompt), so its "
        f"prompts need a context of at least {needed} tokens ({settings.max_completion_tokens} for the reply, "
        f"{STEP_ROOM} for a step) and max_context_tokens is {settings.max_context_tokens}; raise the setting "
        f"`max_context_tokens` to {needed} or more, with a model server that serves that context (function docs "
        "are never clipped)")
