"""Every paradigm's graph behaves the same through LangGraph's sync and async entry points
(``invoke``/``ainvoke``, ``stream``/``astream``, ``batch``/``abatch``), and takes a chat
input (``{"messages": [...]}``) and gives the final answer back as an AI message.

FAKES: LangChain's fake chat model with scripted replies and the scripted in-memory
environment (fakes.py), one environment per run so that each run's episode can be seen
closed. The chat form through a real ``langgraph dev`` and ``langgraph_sdk`` is in
test_studio.py.
"""

from __future__ import annotations

import asyncio

import pytest
from fakes import PromptLog, ScriptedEnvironment, code, fail, replies
from langchain_core.messages import AIMessage, HumanMessage

from trirole.graphs import PARADIGMS
from trirole.nodes.chat import FINAL_ANSWER_NAME, NoTaskError

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
