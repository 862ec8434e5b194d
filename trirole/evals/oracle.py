"""The oracle: a chat model that answers every role with the task's ground-truth solution.

With it every paradigm must score 100% on a dataset that ships solutions (trirole's
offline AppWorld pack; AppWorld's official train and dev splits): it checks an
installation, the harness and one's own data in minutes, without a GPU or an endpoint.

    trirole eval --model oracle --dataset dev --paradigms base,react --out runs/oracle

    from trirole.evals.oracle import OracleChatModel
    graph = build_react_graph(model=OracleChatModel.for_appworld(), settings={"env": "appworld"})

It is an ordinary LangChain chat model (injectable like any other). It knows the task from
the run's metadata when an evaluation (or ``trirole run``) names it there (`TASK_METADATA`),
else from the prompt: every paradigm's prompts (agent, corrector, summarizer, base,
supervisor plan / specialist / final) carry the task's instruction, and the supervisor's
name and email where tasks share an instruction. Its answer is the solution as one Python
code action; as a plan it has no sub-goal lines, so the supervisor hands the whole task to
one specialist, which runs that code. For a task of several user requests (BFCL
multi-turn) it answers the request the prompt shows last, with that request's code.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from trirole.errors import TriroleError

ORACLE = "oracle"
"""The model name that selects the oracle (``--model oracle``)."""

TASK_METADATA = "trirole_task_id"
"""The run metadata key naming the task a run is about (`trirole.evals.pair.run_pair` sets
it): the oracle reads it, no prompt shows it."""


class OracleError(TriroleError, ValueError):
    """The oracle cannot answer: the data has no solutions, or the prompt names no known task."""


@dataclass(frozen=True)
class Solution:
    """One task's ground truth as the oracle answers it."""

    task_id: str
    instruction: str
    supervisor: str  # the supervisor's email ('' if unknown): tells apart tasks of one instruction
    code: str


def code_action(compiled_solution: str) -> str:
    """AppWorld's ``compiled_solution.py`` as one code action for its execution shell:
    the imports (which the shell forbids; they only name the annotations' types) become
    plain names, then ``solution(apis, requester)`` runs it."""
    tree = ast.parse(compiled_solution)
    names: list[str] = []
    lines = compiled_solution.splitlines()
    drop: set[int] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(alias.asname or alias.name).split(".")[0] for alias in node.names]
            drop.update(range(node.lineno - 1, node.end_lineno))
    body = "\n".join(line for number, line in enumerate(lines) if number not in drop).strip()
    stubs = " = ".join(dict.fromkeys(names)) + " = object\n" if names else ""
    return f"{stubs}{body}\n\nsolution(apis, requester)"


def appworld_solutions(task_ids: Iterable[str] | None = None, root: str | os.PathLike | None = None) -> list[Solution]:
    """The solutions of AppWorld tasks (default: every task of the data root). Raises
    `OracleError` naming the first task without ``ground_truth/compiled_solution.py``."""
    from trirole.environments.appworld.data import default_root

    base = Path(root) if root is not None else default_root()
    tasks = base / "data" / "tasks"
    ids = list(task_ids) if task_ids is not None else sorted(p.name for p in tasks.iterdir() if p.is_dir())
    solutions = []
    for task_id in ids:
        folder = tasks / task_id
        compiled = folder / "ground_truth" / "compiled_solution.py"
        if not compiled.is_file():
            raise OracleError(f"the oracle needs ground-truth solutions, and AppWorld task {task_id!r} has none "
                              f"({compiled} is missing: test splits ship no solutions); use a split that has them, "
                              "e.g. --dataset dev or train")
        specs = json.loads((folder / "specs.json").read_text())
        solutions.append(Solution(task_id=task_id, instruction=specs.get("instruction", "").strip(),
                                  supervisor=(specs.get("supervisor") or {}).get("email", ""),
                                  code=code_action(compiled.read_text())))
    return solutions


class OracleChatModel(BaseChatModel):
    """Answers every call with the ground-truth solution of the task its run is about (the
    run's metadata `TASK_METADATA`), else of the task its prompt is about.

    turns: for tasks of several user requests (BFCL multi-turn), each request's solution;
    turn_markers: per such task, per request, the texts a prompt holds while that request
    is worked on. The current request is the one whose text occurs last in the prompt (the
    first when none does). A corrector's prompt gets the code under review back unchanged
    (the oracle's own code is right)."""

    solutions: list[Solution]
    turns: dict[str, list[str]] = {}
    turn_markers: dict[str, list[list[str]]] = {}

    @classmethod
    def for_appworld(cls, task_ids: Iterable[str] | None = None,
                     root: str | os.PathLike | None = None) -> "OracleChatModel":
        """The oracle of AppWorld tasks (default: every task of ``APPWORLD_ROOT`` or the pack)."""
        return cls(solutions=appworld_solutions(task_ids, root))

    @property
    def _llm_type(self) -> str:
        return "trirole-oracle"

    def solution_for(self, prompt: str) -> Solution:
        """The task whose instruction (and supervisor, when several share it) is in `prompt`."""
        found = [s for s in self.solutions if s.instruction and s.instruction in prompt]
        if len({s.code for s in found}) > 1:
            found = [s for s in found if s.supervisor and s.supervisor in prompt] or found
            longest = max(len(s.instruction) for s in found)
            found = [s for s in found if len(s.instruction) == longest]
        if not found:
            raise OracleError("the oracle knows no task whose instruction is in this prompt; "
                              "build it for the dataset being run (OracleChatModel.for_appworld(...))")
        if len({s.code for s in found}) > 1:
            raise OracleError(f"the prompt fits several tasks ({', '.join(s.task_id for s in found)}) "
                              "with different solutions; the oracle cannot tell them apart")
        return found[0]

    def _code(self, prompt: str, solution: Solution) -> str:
        turns = self.turns.get(solution.task_id)
        if not turns:
            return solution.code
        review = re.search(r"Code to review:\n```python\n(.*?)\n```", prompt, re.S)
        if review:
            return review.group(1)
        return turns[self.current_turn(prompt, solution.task_id)]

    def current_turn(self, prompt: str, task_id: str) -> int:
        """The 0-based request of `task_id` that `prompt` is about: the one whose marker
        occurs last in it (0 when none does)."""
        markers = self.turn_markers.get(task_id) or []
        where = [max((prompt.rfind(text) for text in texts if text), default=-1) for texts in markers]
        return max(range(len(where)), key=lambda turn: (where[turn], turn)) if any(w >= 0 for w in where) else 0

    def _answer(self, messages: list[BaseMessage], run_manager: Any = None) -> ChatResult:
        prompt = "\n".join(m.content if isinstance(m.content, str) else str(m.content) for m in messages)
        task_id = ((run_manager.metadata if run_manager is not None else None) or {}).get(TASK_METADATA)
        named = [s for s in self.solutions if s.task_id == task_id]
        solution = named[0] if named else self.solution_for(prompt)
        # (No task id in the reply: later prompts hold it, and no prompt names the task.)
        content = f"The ground-truth solution:\n\n```python\n{self._code(prompt, solution)}\n```"
        usage = {"input_tokens": len(prompt) // 3, "output_tokens": len(content) // 3,
                 "total_tokens": (len(prompt) + len(content)) // 3}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=content, usage_metadata=usage))])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._answer(messages, run_manager)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._answer(messages, run_manager)


def oracle_for(dataset: Any) -> OracleChatModel:
    """The oracle of an evaluation dataset (`trirole.evals.datasets.Dataset`). Raises
    `OracleError` (one line) when the dataset has no ground-truth solutions."""
    if dataset.env == "bfcl":
        return bfcl_oracle([t.id for t in dataset.tasks])
    if dataset.env != "appworld":
        raise OracleError(f"the oracle needs ground-truth solutions, and dataset {dataset.name!r} ({dataset.env} "
                          "tasks) has none: python tasks ship a checker, not a solution; use an AppWorld split "
                          "with solutions, e.g. --dataset dev")
    return OracleChatModel.for_appworld([t.id for t in dataset.tasks], dataset.env_options.get("root"))


def bfcl_oracle(task_ids: Iterable[str]) -> OracleChatModel:
    """The oracle of BFCL entries: their ground truth as code actions, one per user request
    (`trirole.environments.bfcl.oracle`). In an evaluation it knows the entry from the run's
    metadata (no prompt names the entry); called on its own, from the instruction."""
    from trirole.environments.bfcl import data
    from trirole.environments.bfcl.environment import first_instruction, request_markers
    from trirole.environments.bfcl.oracle import turn_codes

    solutions, turns, markers = [], {}, {}
    for task_id in task_ids:
        item, codes = data.entry(task_id), turn_codes(task_id)
        turns[task_id] = codes
        if data.is_multi_turn(data.category_of(task_id)):
            markers[task_id] = request_markers(item)
        solutions.append(Solution(task_id=task_id, instruction=first_instruction(item), supervisor="",
                                  code="\n\n".join(codes)))
    return OracleChatModel(solutions=solutions, turns=turns, turn_markers=markers)
