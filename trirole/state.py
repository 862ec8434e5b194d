"""The one shared state of every trirole graph.

A `TypedDict` with reducers in the schema, as LangGraph expects: nodes return partial
updates and the reducers below merge them. Every value is JSON-friendly (plain dicts,
lists, strings, numbers, and LangChain messages), so checkpointers, `langgraph dev` and
Studio can store and show it.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

# typing_extensions' TypedDict: pydantic (LangGraph's JSON schemas, Studio) rejects
# typing.TypedDict before Python 3.12.
from typing_extensions import NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class TaskSpec(TypedDict):
    """What the agent must do.

    instruction: the task in natural language.
    task_id: an id in a task pack ("" for ad-hoc instructions).
    context: facts the agent is given up front, e.g. the supervisor's name, email and
        phone in AppWorld, or input values for a python task.
    """

    instruction: str
    task_id: NotRequired[str]
    context: NotRequired[dict[str, Any]]


class Artifact(TypedDict):
    """A value that must survive compression verbatim (see `trirole.artifacts`).

    name: the field it was found under, e.g. ``access_token`` or ``playlist_id``.
    kind: a secret (``access_token``, ``refresh_token``, ``password``, ``api_key``,
        ``verification_code``, ``session_id``), ``record`` (an id with its record),
        ``api_response``; ``id`` in states written before records existed.
    value: the exact text as seen in the observation (for a record: its id).
    source: where it came from, e.g. ``step 3 output, field access_token``.
    step: the step it was first seen at.
    record: a record's identifying fields (``song_id=4 title="Velvet Tides"``); for a
        secret, the record it sat in (``account_name="spotify"``).
    last_seen: the last step an observation showed it.
    used_at: the last step whose code used it (records).
    """

    name: str
    kind: str
    value: str
    source: str
    step: int
    record: NotRequired[str]
    last_seen: NotRequired[int]
    used_at: NotRequired[int]


class CallRecord(TypedDict):
    """One call a code action made to a recorded function (see `trirole.calls`): a tool
    bridged out of the sandbox, or a function setup code marked as recorded.

    name: the function's name as the agent's code calls it.
    arguments: the arguments by parameter name (positional ones bound to their names;
        ``**kwargs`` spread out), as they crossed (JSON values).
    result: what it returned (JSON value), or ``None`` when it raised.
    error: ``ErrorType: message`` when it raised (or timed out), else ``None``.
    latency_ms: wall time of the call, measured where the agent's code called it.
    """

    name: str
    arguments: dict[str, Any]
    result: Any
    error: str | None
    latency_ms: float


class ExecutionResult(TypedDict):
    """What one code execution produced.

    output: what the environment printed (clipped to ``max_observation_chars``).
    error: whether the code raised (or timed out, or ran out of memory).
    error_type / error_message: e.g. ``KeyError`` / ``'access_token'``.
    task_completed: whether the environment considers the task finished.
    answer: the answer given to the environment's completion call, if any.
    calls: the recorded function calls the code made, in call order (`CallRecord`;
        absent or empty when it made none).
    next_request: for a task that brings several user requests one at a time (BFCL
        multi-turn): this step ended the current request and this is the user's next one
        (also at the end of ``output``). Absent otherwise.
    """

    code: str
    output: str
    error: bool
    error_type: NotRequired[str]
    error_message: NotRequired[str]
    task_completed: NotRequired[bool]
    answer: NotRequired[Any]
    calls: NotRequired[list[CallRecord]]
    next_request: NotRequired[str]


class Attempt(TypedDict):
    """One executed action, for repetition detection.

    fingerprint: the code normalised (comments, blank lines, literals' spacing removed).
    error_signature: ``ErrorType: normalised message`` or ``""`` on success.
    corrected: whether the corrector rewrote this code before it ran.
    """

    step: int
    fingerprint: str
    error_signature: str
    corrected: bool


class RoleUsage(TypedDict):
    """What one role cost. Tokens are the server's counts (its `usage` field).

    cached_prompt_tokens: of the prompt tokens, those the server served from its prefix
    cache (present only when the server reports them: vLLM with
    ``--enable-prompt-tokens-details``, as the embedded server runs; hosted APIs' cache reads).
    """

    calls: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached_prompt_tokens: NotRequired[int]


Status = Literal["running", "completed", "step_budget", "env_error", "model_error", "context_overflow",
                 "handed_back"]
"""``handed_back``: a multi-agent specialist's loop ended with its report; it ends that
loop only and is never a run's final status."""


def merge_artifacts(left: dict[str, Artifact] | None, right: dict[str, Artifact] | None) -> dict[str, Artifact]:
    """Artifacts are keyed by value (or a record's id); the first sighting (its step and
    source) wins, while ``last_seen``/``used_at`` keep the latest step and ``record`` the
    latest rendering. Entries of kind ``use`` are marks, not artifacts: they set
    ``used_at`` on the records whose id they name (any id field when ``name`` is empty)."""
    merged = dict(left or {})
    marks = []
    for key, artifact in (right or {}).items():
        if artifact.get("kind") == "use":
            marks.append(artifact)
        elif key not in merged:
            merged[key] = artifact
        else:
            old = merged[key]
            newer = {field: max(old.get(field, -1), artifact.get(field, -1)) for field in ("last_seen", "used_at")
                     if field in old or field in artifact}
            if artifact.get("record") and artifact.get("step", 0) >= old.get("step", 0):
                newer["record"] = artifact["record"]
            merged[key] = {**old, **newer}  # type: ignore[typeddict-item]
    for mark in marks:
        for key, artifact in merged.items():
            if artifact.get("kind") in ("record", "id") and artifact.get("value") == mark["value"] \
                    and (not mark.get("name") or artifact.get("name", "").split(".")[-1] == mark["name"]):
                merged[key] = {**artifact, "used_at": max(artifact.get("used_at", -1), mark["used_at"])}
    return merged


def add_usage(left: dict[str, RoleUsage] | None, right: dict[str, RoleUsage] | None) -> dict[str, RoleUsage]:
    """Per-role usage adds up across calls."""
    total = {role: dict(usage) for role, usage in (left or {}).items()}
    for role, usage in (right or {}).items():
        current = total.setdefault(role, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "latency_s": 0.0})
        for key in ("calls", "prompt_tokens", "completion_tokens", "latency_s"):
            current[key] = current.get(key, 0) + usage.get(key, 0)
        if "cached_prompt_tokens" in usage:  # only where the server reports it
            current["cached_prompt_tokens"] = current.get("cached_prompt_tokens", 0) + usage["cached_prompt_tokens"]
    return total  # type: ignore[return-value]


def add_counts(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    """Counters (steps, corrections, summarizations, ...) add up."""
    total = dict(left or {})
    for key, value in (right or {}).items():
        total[key] = total.get(key, 0) + value
    return total


class TriroleState(TypedDict):
    """The state every trirole graph reads and writes.

    task: the task (see `TaskSpec`).
    env_session: the id of this run's environment episode (see `trirole.episode.Episode`).
    reference: the environment's reference material (API docs, helpers), shown to the
        agent and to the isolated corrector.
    corrector_reference: the environment's other view of it for the corrector (""
        or absent: the corrector reads ``reference``).
    completion_hint: how the agent declares the task done in this environment.
    isolation: how the environment confines agent code (``bwrap``, ``process``; "" unknown).
    messages: the full dialogue, never compressed (``add_messages`` reducer): a chat
        input's messages, the run's steps, and last the final answer (an AI message named
        ``trirole``). Steps are written as LangChain's tool-calling agents write theirs
        (`trirole.nodes.chat`): a role's reply is an AI message named after the role whose
        code is a call of the ``python`` tool, its output the ToolMessage answering that
        call, a hint a human message named ``trirole``; each is marked
        (``response_metadata["trirole_role"]``), so none reads as a turn of the user's.
        Prompts show the model its steps as plain turns (`trirole.nodes.context.model_turns`).
    summary: the summarizer's compression of the agent's turns before ``summarized_upto``.
    summarized_upto: how many of ``messages`` the agent no longer sees verbatim: a chat
        input's messages (the task carries them) and the turns the summary covers; the
        agent sees the summary, then ``messages[summarized_upto:]`` verbatim.
    memory_artifacts: the artifact block written with the summary; the agent's prompt
        shows it beside the summary, unchanged until the next one (artifacts seen since
        are in their turns), so the turns after it stay a prefix a server has cached.
    artifacts: values kept verbatim whatever the summary says: secrets keyed by value,
        records by their id, short responses (`merge_artifacts`: first sighting wins,
        last seen and last used kept).
    proposed_code: the code action the agent wrote this step.
    code_to_run: what the executor runs next: the proposal, or the corrector's revision.
    correction_reason: why this step's code goes to the corrector (``""``: it doesn't).
    last_result: the last execution's result.
    request: the user's request being worked on, when the task brings several one at a
        time (each execution's ``next_request``); absent while the first is worked on (it
        is the task's instruction).
    request_start_step: how many steps were taken when that request arrived (0 for the
        first): the step budget ``max_steps`` counts per request from here.
    attempts: every executed action (append reducer).
    usage: per-role model usage (summing reducer).
    counters: ``steps``, ``corrections``, ``summarizations``, ``no_code``, ``requests`` (the
        requests that arrived after the first) (summing reducer).
    status / status_reason: ``running`` until the run ends; then why it ended.
    answer: the final answer passed to ``complete_task`` if any.
    evaluation: the environment's verdict when the task has a checker.
    """

    task: TaskSpec
    env_session: NotRequired[str]
    reference: NotRequired[str]
    corrector_reference: NotRequired[str]
    completion_hint: NotRequired[str]
    isolation: NotRequired[str]
    messages: Annotated[list[AnyMessage], add_messages]
    summary: NotRequired[str]
    summarized_upto: NotRequired[int]
    memory_artifacts: NotRequired[str]
    artifacts: Annotated[dict[str, Artifact], merge_artifacts]
    proposed_code: NotRequired[str]
    code_to_run: NotRequired[str]
    correction_reason: NotRequired[str]
    last_result: NotRequired[ExecutionResult]
    request: NotRequired[str]
    request_start_step: NotRequired[int]
    attempts: Annotated[list[Attempt], operator.add]
    usage: Annotated[dict[str, RoleUsage], add_usage]
    counters: Annotated[dict[str, int], add_counts]
    status: NotRequired[Status]
    status_reason: NotRequired[str]
    answer: NotRequired[Any]
    evaluation: NotRequired[dict[str, Any]]


class TriroleInput(TypedDict):
    """What a caller passes in: a task (a `TaskSpec`, or its instruction as a string), or
    a chat whose last human message is the instruction (earlier messages become the task's
    ``context["conversation"]``; see `trirole.nodes.chat`). A ``task`` wins when both are given."""

    task: NotRequired[TaskSpec | str]
    messages: NotRequired[list[AnyMessage]]


class TriroleOutput(TypedDict):
    """What a caller gets back (the full state is still in the checkpoint). `langgraph
    dev` streams only these keys, so the last execution and code are among them.
    ``messages[-1]`` is the final answer as an `AIMessage` (named ``trirole``; its
    ``response_metadata`` holds ``status`` and ``status_reason``); the run's steps come
    before it, marked (`trirole.nodes.chat.is_step`)."""

    task: TaskSpec
    status: Status
    status_reason: str
    answer: NotRequired[Any]
    evaluation: NotRequired[dict[str, Any]]
    usage: dict[str, RoleUsage]
    counters: dict[str, int]
    messages: list[AnyMessage]
    code_to_run: NotRequired[str]
    last_result: NotRequired[ExecutionResult]


def steps_taken(state: TriroleState) -> int:
    return (state.get("counters") or {}).get("steps", 0)


def steps_in_request(state: TriroleState) -> int:
    """Steps taken on the user request being worked on (all of them for a one-request task)."""
    return steps_taken(state) - (state.get("request_start_step") or 0)


def current_request(state: TriroleState) -> str:
    """The user request being worked on: the latest that arrived, else the task's instruction."""
    return state.get("request") or state["task"]["instruction"]


def status_is_final(state: TriroleState) -> bool:
    """The run has a final status: a node ended it (anything but ``running``)."""
    return state.get("status") not in (None, "running")
