"""Every paradigm's graph behaves the same through LangGraph's sync and async entry points
(``invoke``/``ainvoke``, ``stream``/``astream``, ``batch``/``abatch``), and takes a chat
input (``{"messages": [...]}``) and gives the final answer back as an AI message.

A run's steps sit in ``messages`` as LangChain's tool-calling agents write theirs (each
code reply an AI message calling the ``python`` tool, its output the ToolMessage
answering it, every step marked), so a chat app embedding a trirole graph never mistakes
them for the user's turns, and ``stream_mode="messages"`` sends each reply once.

FAKES: LangChain's fake chat model with scripted replies and the scripted in-memory
environment (fakes.py), one environment per run so that each run's episode can be seen
closed. The chat form through a real ``langgraph dev`` and ``langgraph_sdk`` is in
test_studio.py.
"""

from __future__ import annotations

import asyncio

import pytest
from fakes import PromptLog, ScriptedEnvironment, code, fail, replies
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from trirole.graphs import PARADIGMS
from trirole.nodes.chat import CODE_TOOL, FINAL_ANSWER_NAME, NoTaskError, is_step, without_steps

TASK = {"task": {"instruction": "Add 17 and 25 and complete the task with the total."}}
SCRIPTS = {
    "base": [code("complete_task(17 + 25)")],
    "react": [code("total = 17 + 25\nprint(total)"), code("complete_task(total)")],
    "scaffold": [code("total = 17 + 25\nprint(total)"), code("complete_task(total)")],
    "multi-agent": ["general: add 17 and 25",
                    code("total = 17 + 25\nprint(total)"),
                    "RESULT: the total is 42, in the variable `total`.",
                    "Finish with the total.\n" + code("complete_task(total)")],
}
PARADIGM_NAMES = list(SCRIPTS)


class Runs:
    """A paradigm's graph whose every run gets a fresh scripted model and environment."""

    def __init__(self, paradigm: str, script=None) -> None:
        self.environments: list[ScriptedEnvironment] = []
        self.paradigm, self.script = paradigm, script

    def environment(self, settings) -> ScriptedEnvironment:
        env = ScriptedEnvironment(self.script)
        self.environments.append(env)
        return env

    def graph(self, runs: int = 1):
        """`runs` runs' worth of scripted replies, drawn in order from one fake model (a
        batch runs one input at a time here, so that each run draws its own script)."""
        return PARADIGMS[self.paradigm](model=replies(*SCRIPTS[self.paradigm] * runs),
                                        environment=self.environment)


def summary(out: dict) -> dict:
    """What a caller reads of a run (latencies differ between two runs of the same graph)."""
    return {"status": out["status"], "status_reason": out["status_reason"], "counters": out["counters"],
            "calls": {role: usage["calls"] for role, usage in out["usage"].items()},
            "messages": [(m.type, m.content) for m in out["messages"]]}


def node_names(chunks) -> list[str]:
    return [node for chunk in chunks for node in chunk]


@pytest.mark.parametrize("paradigm", PARADIGM_NAMES)
def test_invoke_and_ainvoke_give_the_same_run_and_close_its_episode(paradigm):
    sync, asyn = Runs(paradigm), Runs(paradigm)
    out = sync.graph().invoke(TASK)
    expected = asyncio.run(asyn.graph().ainvoke(TASK))
    assert out["status"] == "completed", out["status_reason"]
    assert summary(out) == summary(expected)
    assert [env.executed for env in sync.environments] == [env.executed for env in asyn.environments]
    assert all(env.closed for env in sync.environments + asyn.environments)


@pytest.mark.parametrize("paradigm", PARADIGM_NAMES)
def test_stream_and_astream_yield_the_same_updates(paradigm):
    chunks = list(Runs(paradigm).graph().stream(TASK, stream_mode="updates"))

    async def collect():
        return [chunk async for chunk in Runs(paradigm).graph().astream(TASK, stream_mode="updates")]

    expected = asyncio.run(collect())
    assert node_names(chunks) == node_names(expected)
    assert node_names(chunks)[0] == "setup" and node_names(chunks)[-1] == "finish"
    assert chunks[-1]["finish"]["status"] == expected[-1]["finish"]["status"] == "completed"


@pytest.mark.parametrize("paradigm", PARADIGM_NAMES)
def test_batch_and_abatch_run_each_input_in_its_own_episode(paradigm):
    inputs = [TASK, {"task": {"instruction": "The same sum again."}}]
    sync, asyn = Runs(paradigm), Runs(paradigm)
    one_at_a_time = {"max_concurrency": 1}  # one fake model serves both runs' scripts in order
    outs = sync.graph(runs=2).batch(inputs, one_at_a_time)
    expected = asyncio.run(asyn.graph(runs=2).abatch(inputs, one_at_a_time))
    assert [o["status"] for o in outs] == [o["status"] for o in expected] == ["completed", "completed"]
    assert [o["task"]["instruction"] for o in outs] == [i["task"]["instruction"] for i in inputs]
    assert len(sync.environments) == len(asyn.environments) == 2
    assert all(env.closed for env in sync.environments + asyn.environments)


def test_a_sync_stream_left_early_cancels_the_run_and_closes_its_episode():
    runs = Runs("scaffold")
    graph = runs.graph()
    for chunk in graph.stream(TASK, stream_mode="updates"):
        if "agent" in chunk:
            break  # the caller stops reading after the first model reply
    (env,) = runs.environments
    assert env.closed and env.executed == []


def test_a_sync_call_inside_a_running_event_loop_works(paradigm="react"):
    # A Jupyter cell runs in an event loop: a sync invoke there must not need that loop.
    async def cell():
        return Runs(paradigm).graph().invoke(TASK)

    assert asyncio.run(cell())["status"] == "completed"


def test_a_failing_sync_run_raises_the_run_s_own_error():
    graph = PARADIGMS["scaffold"](model=replies(), environment=lambda settings: ScriptedEnvironment())
    with pytest.raises(NoTaskError, match="last human message is the instruction"):
        graph.invoke({"messages": [AIMessage(content="Hello, how can I help?")]})


# -- chat in, AI message out --------------------------------------------------------------------

CHAT = {"messages": [
    {"role": "user", "content": "My numbers are 17 and 25."},
    {"role": "assistant", "content": "Noted."},
    {"role": "user", "content": "Add them and complete the task with the total."},
]}


@pytest.mark.parametrize("paradigm", PARADIGM_NAMES)
def test_a_chat_input_is_a_task_and_the_answer_comes_back_as_an_ai_message(paradigm):
    runs, log = Runs(paradigm), PromptLog()
    out = runs.graph().invoke(CHAT, {"callbacks": [log]})
    assert out["status"] == "completed", out["status_reason"]
    assert out["task"]["instruction"] == "Add them and complete the task with the total."
    assert out["task"]["context"]["conversation"] == [{"role": "user", "content": "My numbers are 17 and 25."},
                                                      {"role": "assistant", "content": "Noted."}]
    final = out["messages"][-1]
    assert isinstance(final, AIMessage) and final.name == FINAL_ANSWER_NAME
    assert final.response_metadata["status"] == "completed"
    assert [m.content for m in out["messages"][:3]] == [m["content"] for m in CHAT["messages"]]
    # The first prompt has the conversation inside its task message, not as turns of its own.
    first = log.calls[0][1]
    assert not any(isinstance(m, AIMessage) and m.content == "Noted." for m in first)
    assert any(isinstance(m, HumanMessage) and "My numbers are 17 and 25." in m.content
               and "Add them and complete the task" in m.content for m in first)


def test_the_final_message_carries_the_answer_or_says_why_there_is_none():
    answered = PARADIGMS["react"](model=replies(code("complete_task(42)")),
                                  environment=lambda settings: AnsweringEnvironment())
    out = answered.invoke(CHAT)
    assert out["messages"][-1].content == "42"
    stuck = PARADIGMS["react"](model=replies(*[code("boom()")] * 2), settings={"max_steps": 2},
                               environment=lambda settings: ScriptedEnvironment(lambda c, i: fail()))
    out = stuck.invoke(CHAT)
    final = out["messages"][-1]
    assert out["status"] == "step_budget"
    assert final.content.startswith("I could not complete the task (step_budget)")
    assert final.response_metadata["status_reason"] == out["status_reason"]


class AnsweringEnvironment(ScriptedEnvironment):
    """Records ``complete_task``'s argument as the answer (literal code only)."""

    async def execute(self, code_text: str):
        result = await super().execute(code_text)
        if result.get("task_completed"):
            result["answer"] = int(code_text.split("complete_task(")[1].split(")")[0])
        return result



@pytest.mark.parametrize("paradigm", PARADIGM_NAMES)
def test_the_next_chat_turn_in_a_thread_is_a_new_task_with_the_conversation_as_context(paradigm):
    # What a chat app (or Studio's chat view) sends: the next human message on the same thread.
    from langgraph.checkpoint.memory import InMemorySaver

    runs = Runs(paradigm)
    graph = PARADIGMS[paradigm](model=replies(*SCRIPTS[paradigm] * 2), environment=runs.environment,
                                checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"chat-{paradigm}"}}
    first = graph.invoke({"messages": [{"role": "user", "content": "Add 17 and 25."}]}, config)
    second = graph.invoke({"messages": [{"role": "user", "content": "Now the same again, please."}]}, config)
    assert first["status"] == second["status"] == "completed", second["status_reason"]
    assert second["task"]["instruction"] == "Now the same again, please."
    assert second["task"]["context"]["conversation"] == [
        {"role": "user", "content": "Add 17 and 25."},
        {"role": "assistant", "content": first["messages"][-1].content}]
    # The second task had its own budget and counts: nothing carried over from the first.
    assert second["counters"] == first["counters"]
    assert {role: u["calls"] for role, u in second["usage"].items()} == \
        {role: u["calls"] for role, u in first["usage"].items()}
    assert len(runs.environments) == 2 and all(env.closed for env in runs.environments)
    assert second["messages"][-1].name == FINAL_ANSWER_NAME and len(second["messages"]) > len(first["messages"])


def test_a_new_task_input_on_a_used_thread_replaces_the_task():
    from langgraph.checkpoint.memory import InMemorySaver

    graph = PARADIGMS["react"](model=replies(*SCRIPTS["react"] * 2), environment=Runs("react").environment,
                               checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "tasks"}}
    graph.invoke(TASK, config)
    again = graph.invoke({"task": {"instruction": "Another sum."}}, config)
    assert again["task"]["instruction"] == "Another sum." and again["status"] == "completed"
    assert again["counters"]["steps"] == 2  # not 4: the first task's steps are not this one's


# -- the caller's chat stays the caller's -------------------------------------------------------

def user_turns(messages) -> list[str]:
    """The human turns of `messages` that are not a run's steps (what reads as the user's)."""
    return [m.content for m in messages if isinstance(m, HumanMessage) and not is_step(m)]


@pytest.mark.parametrize("paradigm", PARADIGM_NAMES)
def test_a_runs_steps_are_tool_calls_and_tool_outputs_never_user_turns(paradigm):
    out = Runs(paradigm).graph().invoke(CHAT)
    messages = out["messages"]
    assert user_turns(messages) == ["My numbers are 17 and 25.", "Add them and complete the task with the total."]
    steps = [m for m in messages if is_step(m)]
    assert steps and messages[:3] == [m for m in messages if not is_step(m)][:3] and not is_step(messages[-1])
    outputs = [m for m in messages if isinstance(m, ToolMessage)]
    calls = {call["id"]: call for m in messages if isinstance(m, AIMessage) for call in m.tool_calls}
    assert outputs and all(m.name == CODE_TOOL and m.tool_call_id in calls for m in outputs)
    assert sorted(calls) == sorted(m.tool_call_id for m in outputs)  # every call answered, once
    # The call and its output sit side by side, as create_agent writes them (a valid chat for any model API).
    for i, message in enumerate(messages):
        if isinstance(message, AIMessage) and message.tool_calls:
            assert messages[i + 1].tool_call_id == message.tool_calls[0]["id"]
            assert message.tool_calls[0]["args"]["code"] in ("total = 17 + 25\nprint(total)", "complete_task(total)",
                                                             "complete_task(17 + 25)")
    assert {m.name for m in steps if isinstance(m, AIMessage)} <= {"agent", "supervisor", "specialist"}


def test_a_reply_without_code_gets_a_hint_marked_as_trirole_s_not_the_user_s():
    graph = PARADIGMS["react"](model=replies("Let me think about it.", code("complete_task(42)")),
                               environment=lambda settings: ScriptedEnvironment())
    out = graph.invoke(TASK)
    hint = next(m for m in out["messages"] if isinstance(m, HumanMessage))
    assert is_step(hint) and hint.name == "trirole" and "no ```python code block" in hint.content
    assert user_turns(out["messages"]) == []


def test_code_the_corrector_wrote_for_a_reply_without_code_is_a_call_of_its_own_the_model_never_reads():
    log = PromptLog()
    graph = PARADIGMS["scaffold"](models={"agent": replies("I would add them.", code("complete_task(total)")),
                                          "corrector": replies(code("total = 17 + 25\nprint(total)")),
                                          "summarizer": replies()},
                                  settings={"review_no_code": True}, environment=lambda settings: ScriptedEnvironment())
    out = graph.invoke(TASK, {"callbacks": [log]})
    kinds = [(m.type, m.name, bool(getattr(m, "tool_calls", None))) for m in out["messages"]]
    assert kinds[:4] == [("ai", "agent", False), ("human", "trirole", False), ("ai", "corrector", True),
                         ("tool", CODE_TOOL, False)]
    assert out["messages"][3].tool_call_id == out["messages"][2].tool_calls[0]["id"]
    assert out["messages"][2].tool_calls[0]["args"]["code"] == "total = 17 + 25\nprint(total)"
    # The agent's next prompt: its reply, the hint, the output; no empty turn for the corrector's call.
    turns = [(m.type, m.content[:18]) for m in log.prompts("agent")[1][-3:]]
    assert turns == [("ai", "I would add them."), ("human", out["messages"][1].content[:18]),
                     ("human", out["messages"][3].content[:18])]


def test_a_server_that_gives_every_reply_the_same_id_loses_no_reply():
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    same_id = GenericFakeChatModel(messages=iter([AIMessage(content=text, id="chatcmpl-1") for text in SCRIPTS["react"]]))
    out = PARADIGMS["react"](model=same_id, environment=lambda settings: ScriptedEnvironment()).invoke(TASK)
    replies_ = [m for m in out["messages"] if isinstance(m, AIMessage) and m.name == "agent"]
    assert [m.content for m in replies_] == SCRIPTS["react"] and len({m.id for m in replies_}) == 2


class Chat(MessagesState):
    pass


def chat_app(trirole_graph, *, final_answer_only: bool):
    """A chat app: MessagesState, the trirole graph as its node (its steps land in the chat,
    marked) or called from a node that keeps only its final answer."""
    builder = StateGraph(Chat)
    if final_answer_only:
        def solve(state: Chat) -> dict:
            out = trirole_graph.invoke({"messages": state["messages"]})
            return {"messages": [out["messages"][-1]]}

        builder.add_node("solve", solve)
    else:
        builder.add_node("solve", trirole_graph)
    builder.add_edge(START, "solve")
    builder.add_edge("solve", END)
    return builder.compile(checkpointer=InMemorySaver())


@pytest.mark.parametrize("final_answer_only", [False, True], ids=["graph-as-node", "final-answer-only"])
def test_a_chat_app_over_two_tasks_gives_the_second_no_fake_user_turns(final_answer_only):
    runs = Runs("react")
    trirole_graph = PARADIGMS["react"](model=replies(*SCRIPTS["react"] * 2), environment=runs.environment)
    app = chat_app(trirole_graph, final_answer_only=final_answer_only)
    config = {"configurable": {"thread_id": f"chat-{final_answer_only}"}}
    tasks = []  # the task each trirole run started on (its setup node's update, streamed from the subgraph)
    for text in ("Add 17 and 25.", "Now the same again, please."):
        for _, update in app.stream({"messages": [("user", text)]}, config, stream_mode="updates", subgraphs=True):
            tasks += [update["setup"]["task"]] if "setup" in update else []
    chat = app.get_state(config).values["messages"]
    first_answer, second_answer = [m for m in chat if isinstance(m, AIMessage) and m.name == FINAL_ANSWER_NAME]
    # The second task's context is the first exchange: no step of the first run, no fake user turn.
    assert tasks[1]["instruction"] == "Now the same again, please."
    assert tasks[1]["context"]["conversation"] == [{"role": "user", "content": "Add 17 and 25."},
                                                   {"role": "assistant", "content": first_answer.content}]
    assert user_turns(chat) == ["Add 17 and 25.", "Now the same again, please."]
    if final_answer_only:
        assert [(m.type, m.content) for m in chat] == [
            ("human", "Add 17 and 25."), ("ai", first_answer.content),
            ("human", "Now the same again, please."), ("ai", second_answer.content)]
    else:  # every step in the chat, marked: without_steps() gives the exchange alone
        assert len(chat) > 4 and [m.content for m in without_steps(chat)] == [
            "Add 17 and 25.", first_answer.content, "Now the same again, please.", second_answer.content]


@pytest.mark.parametrize("paradigm", PARADIGM_NAMES)
def test_stream_mode_messages_yields_each_reply_once(paradigm):
    graph = Runs(paradigm).graph()
    streamed: dict[str, str] = {}
    for chunk, metadata in graph.stream(TASK, stream_mode="messages"):
        if isinstance(chunk, AIMessageChunk):
            streamed[chunk.id] = streamed.get(chunk.id, "") + chunk.content
        else:
            assert chunk.id not in streamed, chunk  # a whole message is never sent after its own tokens
            streamed[chunk.id] = chunk.content
    out = Runs(paradigm).graph().invoke(TASK)
    replies_ = [m.content for m in out["messages"] if isinstance(m, AIMessage) and m.content]
    assert replies_ and all(list(streamed.values()).count(reply) == 1 for reply in replies_), streamed
