"""`BfclEnvironment`: BFCL entries as trirole episodes, scored by BFCL's own checkers.

The agent writes Python code actions in the python sandbox (bubblewrap), as everywhere in
trirole. What the sandbox holds comes from ``_sandbox_setup.py``:

- single-turn entries: the listed functions as stubs that check each call against its
  JSON schema (the error says what is wrong, never what value is expected); the accepted
  calls are the answer;
- multi-turn entries: BFCL's own classes (their source files bound read-only; no data
  file, no ground truth), loaded from the entry's ``initial_config`` as BFCL does
  (``long_context`` for that category); the agent calls their methods and sees real
  results. User requests arrive one at a time: ``complete_task()`` ends the current one,
  and the next is the output of that step; functions held back (miss_func) are defined
  when their turn starts.

Every call the agent's code makes to these functions is recorded by the sandbox
(`trirole.calls`), rendered in BFCL's call-string form per turn and step, and scored in
BFCL's venv by BFCL's functions (`trirole.environments.bfcl.scorer`): AST checking for
single-turn, state and execution checking for multi-turn, relevance as BFCL defines it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from trirole.calls import call_string
from trirole.parsing import clip_middle
from trirole.prompts import load_prompts
from trirole.state import ExecutionResult, TaskSpec
from trirole.environments.base import EnvironmentInfo, Evaluation
from trirole.environments.bfcl import data
from trirole.environments.bfcl.errors import BfclError
from trirole.environments.bfcl.scorer import BfclScorer, current_scorer

_SETUP = Path(__file__).with_name("_sandbox_setup.py")
SOURCE_PREFIX = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
_SANDBOX_ROOT = "/bfcl"
COMPLETE = "complete_task"
# Recorded calls reach trirole in the step's reply; the agent's view is clipped by the
# graph's own max_observation_chars (and here, to `max_observation_chars`).
_INNER_OUTPUT_CHARS = 200_000
_PROMPTS = load_prompts()  # the environment's own texts (requests, functions): bfcl_*.md


def answer_string(calls: list[dict[str, Any]]) -> str:
    """A list of recorded calls as a prompting model's BFCL reply: ``[f(a=1), g(b='x')]``."""
    return "[" + ", ".join(call_string(c) for c in calls) + "]"


def first_instruction(item: dict[str, Any]) -> str:
    """The task's instruction: the first request, as the user wrote it (nothing says how
    many follow, as in BFCL)."""
    return data.instruction_of(item, 0)


def request_text(item: dict[str, Any], turn: int) -> str:
    """What the user says at `turn` (> 0) of a multi-turn entry, as the step output shows
    it: the request, and the functions that became available at this turn (miss_func),
    if any; a turn that only adds functions asks to continue with them."""
    request = data.instruction_of(item, turn)
    held = (item.get("missed_function") or {}).get(str(turn))
    if held:
        request = (request + "\n" if request else "") + _PROMPTS.render(
            "bfcl_new_functions", functions=render_functions(held)).rstrip()
    return request


def restated_request(item: dict[str, Any], turn: int) -> str:
    """How every later step output of `turn` restates the request being worked on (on one
    line; without the functions' docs, which the step that brought them shows)."""
    request = " ".join(data.instruction_of(item, turn).split())
    return request or _PROMPTS.render("bfcl_continue").strip()


def request_markers(item: dict[str, Any]) -> list[list[str]]:
    """Per turn of a multi-turn entry, the texts its step outputs show while that turn is
    being worked on (turn 0: the task's instruction): the oracle tells the current request
    from them (the latest one a prompt holds), since no prompt numbers the requests."""
    markers = [[first_instruction(item)]]
    for turn in range(1, len(item["question"])):
        markers.append([request_text(item, turn), restated_request(item, turn)])
    return markers


SINGLE_TURN_PROMPTS = {
    "agent_system": "bfcl_system", "base_system": "bfcl_system", "agent_task": "bfcl_task",
    "agent_example_request": "bfcl_example_request", "agent_example_reply": "bfcl_example_reply",
    "no_code": "bfcl_no_code", "corrector_system": "bfcl_corrector_system", "corrector_user": "bfcl_corrector_user",
    "corrector_example_request": "bfcl_corrector_example_request",
    "corrector_example_reply": "bfcl_corrector_example_reply"}
"""The prompt templates an evaluation of single-turn entries uses instead of the general
ones (by name): a short constant system prompt asking for the calls alone as a Python
list, four worked examples of this project's own (made-up functions: a string, an integer,
lists, a boolean, a dotted name) as exchanges before the task, and the functions with the
request in the task message; the same for the corrector, with the functions as JSON
schemas. Measured on SmolLM2-135M (simple_python): with the general agent prompt it mostly
writes prose or defines the function; in this form most replies are calls, and four
examples solve more entries than one (docs/bfcl.md).
Multi-turn entries keep the general agent prompts (they need steps that read results)."""


def render_functions(docs: list[dict[str, Any]]) -> str:
    """Function docs (BFCL's JSON schemas) as compact Python-like signatures with docstrings."""
    blocks = []
    for doc in docs:
        parameters = doc.get("parameters") or {}
        properties = parameters.get("properties") or {}
        required = set(parameters.get("required") or [])
        signature = ", ".join(f"{name}: {spec.get('type', 'any')}" + ("" if name in required else " = <optional>")
                              for name, spec in properties.items())
        lines = [f"{doc['name']}({signature})", f"    {(doc.get('description') or '').strip()}"]
        for name, spec in properties.items():
            extra = ""
            if "enum" in spec:
                extra += f" One of {spec['enum']}."
            if "default" in spec and name not in required:
                extra += f" Default {spec['default']!r}."
            if spec.get("type") in ("array", "tuple") and isinstance(spec.get("items"), dict):
                extra += f" Items: {spec['items'].get('type', 'any')}."
            description = " ".join(str(spec.get("description") or "").split())
            lines.append(f"    - {name} ({spec.get('type', 'any')}{', required' if name in required else ''}): "
                         f"{description}{extra}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def entry_info(item: dict[str, Any], *, isolation: str = "") -> EnvironmentInfo:
    """What `BfclEnvironment.reset` tells the agent about `item`, built without a sandbox
    (an evaluation checks with it that every entry's prompts fit before it starts). A
    multi-turn entry's instruction and reference hold no entry id, category or count of
    requests, as in BFCL (an id names its category: `irrelevance_3` would tell the model
    that no function fits)."""
    multi_turn = data.is_multi_turn(data.category_of(item["id"]))
    functions = render_functions(item["function"])
    if multi_turn:
        return EnvironmentInfo(instruction=first_instruction(item), reference=_PROMPTS.render(
            "bfcl_multi", functions=functions).rstrip(), completion_hint="complete_task()",
            isolation=isolation, one_request_at_a_time=len(item["question"]) > 1)
    system = data.system_of(item)
    system = f"The system's instructions for this conversation: {system}\n\n" if system else ""
    reference = _PROMPTS.render("bfcl_single", functions=functions, system=system).rstrip()
    # The corrector's other view: the functions as BFCL's JSON schemas.
    corrector_reference = _PROMPTS.render(
        "bfcl_single_json", system=system,
        functions="\n".join(json.dumps(doc, ensure_ascii=False) for doc in item["function"])).rstrip()
    return EnvironmentInfo(instruction=first_instruction(item), reference=reference,
                           corrector_reference=corrector_reference, completion_hint="complete_task()",
                           isolation=isolation)


class BfclEnvironment:
    """One BFCL entry per episode (`reset` with ``task_id`` = the entry's id).

    step_timeout_s, memory_limit_mb, isolation, scratch_limit_mb, python, bwrap: the
        python sandbox's (`trirole.environments.python_sandbox.PythonSandbox`).
    max_observation_chars: an execution's output is clipped (head and tail) to this.
    scorer: a running `BfclScorer` to use; default: the enclosing evaluation's
        (`shared_scorer`), else one started at the first `evaluate` and stopped by `close`.
    """

    name = "bfcl"

    def __init__(self, *, step_timeout_s: float = 30.0, memory_limit_mb: int = 1024,
                 max_observation_chars: int = 3000, isolation: str = "bwrap", scratch_limit_mb: int = 64,
                 python: str = sys.executable, bwrap: str = "bwrap", scorer: BfclScorer | None = None) -> None:
        self.sandbox_options = {"step_timeout_s": step_timeout_s, "memory_limit_mb": memory_limit_mb,
                                "isolation": isolation, "scratch_limit_mb": scratch_limit_mb, "python": python,
                                "bwrap": bwrap, "max_observation_chars": _INNER_OUTPUT_CHARS}
        self.isolation = isolation
        self.max_observation_chars = int(max_observation_chars)
        self._scorer = scorer
        self._own_scorer: BfclScorer | None = None
        self._sandbox: Any = None
        self.entry: dict[str, Any] | None = None
        self.category = ""
        self.turn = 0
        self.turns: list[list[str]] = []  # multi-turn: per turn, per step, BFCL's reply string
        self.accepted: list[dict[str, Any]] = []  # single-turn: the accepted calls
        self.completed = False

    @property
    def multi_turn(self) -> bool:
        return data.is_multi_turn(self.category)

    # -- the Environment protocol ---------------------------------------------------------
    async def reset(self, task: TaskSpec) -> EnvironmentInfo:
        task_id = str((task or {}).get("task_id") or "").strip()
        if not task_id:
            raise BfclError("a BFCL task needs a task_id (an entry id such as simple_python_0); list them with "
                            "`trirole env tasks bfcl --dataset bfcl:single-turn`")
        item = await asyncio.to_thread(data.entry, task_id)
        await self._close_sandbox()
        self.entry, self.category = item, data.category_of(task_id)
        self.turn, self.turns, self.accepted, self.completed = 0, [[]], [], False
        setup, binds = await asyncio.to_thread(self._setup, item)
        from trirole.environments.python_sandbox import PythonSandbox

        self._sandbox = PythonSandbox(setup_code=setup, bind_files=binds, **self.sandbox_options)
        await self._sandbox.reset({"instruction": "a BFCL entry", "context": {}})
        return entry_info(item, isolation=self.isolation)

    def _setup(self, item: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """The sandbox's setup code for `item`, and the files it binds (multi-turn: the
        classes' sources and mpmath, never BFCL's data)."""
        if not self.multi_turn:
            config = {"mode": "single", "functions": item["function"]}
            binds: dict[str, str] = {}
        else:
            from trirole.environments.bfcl.install import package_dir, venv_dir

            package = package_dir()
            if package is None:
                raise BfclError(f"BFCL is not installed in {venv_dir()}")
            sources = package / "eval_checker" / "multi_turn_eval" / "func_source_code"
            mpmath = package.parent / "mpmath"
            binds = {f"{_SANDBOX_ROOT}/bfcl_eval/eval_checker/multi_turn_eval/func_source_code": str(sources),
                     f"{_SANDBOX_ROOT}/mpmath": str(mpmath)}
            config = {"mode": "multi", "classes": item["involved_classes"], "prefix": SOURCE_PREFIX,
                      "modules": {c: data.CLASS_FILES[c] for c in item["involved_classes"]},
                      "stateless": list(data.STATELESS_CLASSES), "initial_config": item.get("initial_config") or {},
                      "long_context": "long_context" in self.category,
                      "held": {turn: [doc["name"] for doc in docs]
                               for turn, docs in (item.get("missed_function") or {}).items()}}
        code = _SETUP.read_text(encoding="utf-8")
        code += f"\n_bfcl_setup(__import__('json').loads({json.dumps(json.dumps(config))}))\n"
        code += "del _bfcl_setup, _schema_stub\n"
        return code, binds

    async def execute(self, code: str) -> ExecutionResult:
        if self._sandbox is None or self.entry is None:
            raise BfclError("no BFCL episode is active: call reset(task) first")
        result = dict(await self._sandbox.execute(code))
        calls = result.get("calls") or []
        made = [c for c in calls if c["name"] != COMPLETE]
        ended = any(c["name"] == COMPLETE and not c.get("error") for c in calls)
        output = result.get("output") or ""
        said = ""  # what the user says after the step's own output (never clipped: it may hold function docs)
        if self.multi_turn:
            if made:
                self.turns[self.turn].append(answer_string(made))
            if ended and not self.completed:
                request = await self._next_turn()
                if request is not None:
                    said = _PROMPTS.render("bfcl_next_turn", request=request)
                    result["next_request"] = request
            elif self.turn > 0 and not self.completed:
                # The request being worked on stays in the newest turn of every prompt,
                # even after a summary compressed the step that brought it.
                said = _PROMPTS.render("bfcl_current_turn", request=restated_request(self.entry, self.turn))
        else:
            accepted = [c for c in made if not c.get("error")]
            self.accepted += accepted
            # The answer is given once a step's calls are all accepted (or complete_task()
            # is called): a single-turn entry has one turn, and more steps could only add calls.
            self.completed = self.completed or ended or bool(accepted and len(accepted) == len(made))
        result["output"] = clip_middle(output, max(self.max_observation_chars - len(said), 200)) + said
        result["task_completed"] = self.completed
        result["answer"] = self.answer()
        return result  # type: ignore[return-value]

    async def _next_turn(self) -> str | None:
        """The current request is done: the user's next one, or None at the end."""
        assert self.entry is not None
        if self.turn + 1 >= len(self.entry["question"]):
            self.completed = True
            return None
        self.turn += 1
        self.turns.append([])
        if (self.entry.get("missed_function") or {}).get(str(self.turn)):
            reveal = await self._sandbox.execute(f"__bfcl_reveal__({self.turn})")
            if reveal.get("error"):
                raise BfclError(f"could not define the functions of turn {self.turn}: {reveal.get('output')}")
        return request_text(self.entry, self.turn)

    def answer(self) -> Any:
        """What the agent answered so far: single-turn, the accepted calls' strings;
        multi-turn, per turn, per step, BFCL's reply strings."""
        if self.multi_turn:
            return [list(turn) for turn in self.turns]
        return [call_string(c) for c in self.accepted]

    def model_result(self) -> Any:
        """The answer as BFCL's result files hold a prompting model's reply."""
        if self.multi_turn:
            return [list(turn) for turn in self.turns]
        return answer_string(self.accepted)

    async def evaluate(self) -> Evaluation | None:
        if self.entry is None:
            raise BfclError("no BFCL episode to evaluate: call reset(task) first")
        scorer = self._scorer or current_scorer()
        if scorer is None:
            if self._own_scorer is None:
                self._own_scorer = await BfclScorer().__aenter__()
            scorer = self._own_scorer
        result = self.model_result()
        verdict = await scorer.score(self.category, self.entry["id"], result)
        details = {"entry": self.entry["id"], "category": self.category, "model_result": result,
                   "turns": len(self.entry["question"]), "error_type": verdict.get("error_type"),
                   **{key: verdict[key] for key in ("requests", "requests_correct") if key in verdict}}
        if verdict["valid"]:
            return Evaluation(success=True, passed=["bfcl"], details=details)
        error = verdict.get("error")
        message = json.dumps(error, default=str)[:2000] if not isinstance(error, str) else error[:2000]
        return Evaluation(success=False, failed=[{"check": verdict.get("error_type") or "bfcl", "message": message}],
                          details=details)

    async def _close_sandbox(self) -> None:
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            await sandbox.close()

    async def close(self) -> None:
        """Stop the sandbox and the scorer this environment started (idempotent)."""
        try:
            await self._close_sandbox()
        finally:
            scorer, self._own_scorer = self._own_scorer, None
            if scorer is not None:
                await scorer.aclose()

    async def __aenter__(self) -> "BfclEnvironment":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()


__all__ = ["SINGLE_TURN_PROMPTS", "BfclEnvironment", "answer_string", "entry_info", "render_functions"]
