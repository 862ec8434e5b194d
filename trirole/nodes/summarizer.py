"""The summarizer role: compresses older turns when the agent's next prompt would not fit.

`summarize` is the pure core. Artifacts are not its job: they were extracted
deterministically from every observation, and the node writes the artifact block beside
the summary (`memory_artifacts`), which the agent's prompt shows verbatim until the next
summary, so a bad summary cannot lose a token or a password. The summary only has to
carry what happened.
"""

from __future__ import annotations

from typing import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from trirole.backend import TokenCounter
from trirole.nodes.context import artifact_block, fit_to_budget, model_turns
from trirole.parsing import strip_thinking
from trirole.prompts import Prompts
from trirole.model_call import calls_role, invoke_role
from trirole.resources import Resources
from trirole.state import RoleUsage, TriroleState


def transcript(messages: Sequence[BaseMessage]) -> str:
    """Turns as text: the agent's replies and the observations, labelled (as the agent read them)."""
    parts = []
    for message in model_turns(messages):
        label = "Agent" if isinstance(message, AIMessage) else "Observation"
        parts.append(f"[{label}]\n{message.content}")
    return "\n\n".join(parts)


def summary_prompt(instruction: str, previous_summary: str, turns: Sequence[BaseMessage],
                   prompts: Prompts) -> list[BaseMessage]:
    return [
        SystemMessage(content=prompts.render("summarizer_system")),
        HumanMessage(content=prompts.render("summarizer_user", instruction=instruction,
                                            previous_summary=previous_summary or "(none)",
                                            transcript=transcript(turns))),
    ]


async def summarize(model: BaseChatModel, instruction: str, previous_summary: str, turns: Sequence[BaseMessage],
                    prompts: Prompts, counter: TokenCounter, budget: int) -> tuple[str, RoleUsage]:
    """A new summary covering `previous_summary` and `turns`, and the call's usage.

    The prompt is cut to `budget` like the agent's. An empty or garbled answer falls
    back to the previous summary plus a plain list of the turns' first lines, so the
    agent never loses the thread entirely.
    """
    prompt = await fit_to_budget(summary_prompt(instruction, previous_summary, turns, prompts), budget, counter, fixed=1)
    response, usage = await invoke_role(model, prompt, role="summarizer", counter=counter)
    summary = strip_thinking(response.content if isinstance(response.content, str) else str(response.content))
    if len(summary) < 20:
        digest = "\n".join(f"- {line}" for line in (_first_line(m) for m in turns) if line)
        summary = "\n".join(part for part in (previous_summary, digest) if part)
    return summary, usage


def turns_to_compress(state: TriroleState, keep_recent_turns: int) -> tuple[int, int]:
    """The slice ``messages[start:end]`` to fold into the summary.

    Keeps the last `keep_recent_turns` turns verbatim when there is anything older;
    otherwise everything after the summary goes. Turns are (reply, observation) pairs,
    so both ends stay on a reply.
    """
    start = state.get("summarized_upto", 0)
    total = len(state.get("messages") or [])
    end = total - 2 * keep_recent_turns
    if end <= start:
        end = total
    end -= (end - start) % 2
    return start, end


def make_summarizer_node(resources: Resources):
    @calls_role(resources, "summarizer")
    async def summarizer(state: TriroleState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        start, end = turns_to_compress(state, settings.keep_recent_turns)
        if end <= start:
            return {}
        counter = resources.counter(settings, "summarizer")
        summary, usage = await summarize(
            resources.model("summarizer", settings), state["task"]["instruction"], state.get("summary", ""),
            state["messages"][start:end], resources.prompts, counter, settings.prompt_budget)
        return {"summary": summary, "summarized_upto": end, "usage": {"summarizer": usage},
                "memory_artifacts": artifact_block(state, settings=settings), "counters": {"summarizations": 1}}

    return summarizer


def _first_line(message: BaseMessage) -> str:
    text = str(message.content).strip()
    return text.splitlines()[0][:160] if text else ""
