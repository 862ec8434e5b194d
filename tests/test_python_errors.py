"""Mistakes a LangGraph developer makes from Python get ONE line naming the fix, as the
command line's do: a misspelled setting in ``context=`` or ``configurable`` (while
LangGraph's and the app's own ``configurable`` keys still work), a checkpointer without a
thread id, a task of the wrong shape (a string is the instruction), one tool not in a
list, and a base URL without ``/v1``.

FAKES: LangChain's fake chat model and the scripted in-memory environment (fakes.py); the
base URL test runs against the scripted OpenAI-compatible HTTP server (scripted_openai.py),
a real HTTP server that answers 404 for paths it does not serve, as vLLM does.
"""

from __future__ import annotations

from typing import TypedDict

import pytest
from fakes import ScriptedEnvironment, code, replies
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from scripted_openai import ScriptedOpenAIServer

from trirole import build_react_graph, build_scaffold_graph
from trirole.cli import main
from trirole.nodes.chat import TaskError
from trirole.settings import misspelled_setting

TASK = {"task": {"instruction": "Print twice, then complete the task."}}


def graph(**options):
    """Four steps unless a setting says otherwise: a typo that is ignored shows as 4 steps."""
    script = [code("print(1)")] * 3 + [code("complete_task(1)")]
    return build_react_graph(model=replies(*script), environment=lambda settings: ScriptedEnvironment(), **options)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip() == text, text
    return text


# -- settings per run --------------------------------------------------------------------------

def test_a_misspelled_setting_in_context_is_refused_as_settings_refuses_it():
    with pytest.raises(ValueError) as exc:
        graph().invoke(TASK, context={"max_step": 1})
    assert one_line(exc) == ("unknown setting 'max_step' in context=: did you mean 'max_steps'? "
                             "the settings are trirole.TriroleSettings' fields")
    with pytest.raises(ValueError, match=r"unknown setting 'user_id' in context="):
        graph().invoke(TASK, context={"user_id": "u1"})  # the run's own context holds settings only
    with pytest.raises(ValueError) as exc:
        build_react_graph(settings={"max_step": 1})
    assert one_line(exc).startswith("unknown setting 'max_step' in settings=: did you mean 'max_steps'?")
    assert graph().invoke(TASK, context={"max_steps": 1})["counters"]["steps"] == 1


def test_configurable_refuses_a_misspelled_setting_but_keeps_langgraphs_and_the_apps_own_keys():
    with pytest.raises(ValueError) as exc:
        graph().invoke(TASK, {"configurable": {"max_step": 1}})
    assert one_line(exc).startswith("unknown setting 'max_step' in config[\"configurable\"]: did you mean 'max_steps'?")
    for typo, meant in [("maxSteps", "max_steps"), ("temprature", "temperature"), ("base-url", "base_url"),
                        ("step_timeout", "step_timeout_s"), ("Model", "model")]:
        assert misspelled_setting(typo) == meant
    # LangGraph's keys, its server's, and an app's own (one letter from a setting named by an everyday word)
    app_keys = {"thread_id": "t1", "checkpoint_ns": "", "langgraph_step": 3, "__pregel_x": 1, "assistant_id": "a",
                "user_id": "u1", "models": ["gpt"], "role": "admin", "tool": "search", "model_name": "m",
                "system_prompt": "be brief", "max_tokens": 99}
    assert all(misspelled_setting(key) is None for key in app_keys)
    out = graph().invoke(TASK, {"configurable": {**app_keys, "max_steps": 2}})
    assert out["counters"]["steps"] == 2


class Parent(TypedDict):
    task: dict
    status: str


def test_a_parent_apps_configurable_keys_reach_a_trirole_subgraph_unrefused():
    builder = StateGraph(Parent)
    builder.add_node("solve", graph())
    builder.add_edge(START, "solve")
    builder.add_edge("solve", END)
    app = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "app-1", "user_id": "u1", "tenant": "acme", "max_steps": 2}}
    assert app.invoke(TASK, config)["status"] == "step_budget"  # its max_steps reached the subgraph
    with pytest.raises(ValueError, match="did you mean 'max_steps'"):
        app.invoke(TASK, {"configurable": {"thread_id": "app-2", "max_step": 2}})


# -- checkpointers, tasks, tools ---------------------------------------------------------------

def test_a_checkpointer_without_a_thread_id_names_the_key():
    checkpointed = graph(checkpointer=InMemorySaver())
    for config in (None, {"configurable": {"user_id": "u1"}}):
        with pytest.raises(ValueError) as exc:
            checkpointed.invoke(TASK, config)
        assert one_line(exc) == ('this graph has a checkpointer, so each run needs a thread: pass '
                                 'config={"configurable": {"thread_id": "..."}}')
    assert checkpointed.invoke(TASK, {"configurable": {"thread_id": "t1"}})["status"] == "completed"


def test_a_string_task_is_the_instruction_and_other_shapes_say_what_a_task_is():
    out = graph().invoke({"task": "Print twice, then complete the task."})
    assert out["status"] == "completed" and out["task"]["instruction"] == "Print twice, then complete the task."
    shape = '{"instruction": str, "task_id"?: str, "context"?: dict}'
    for task, says in [({"instructions": "typo"}, f"the task has unknown keys ['instructions']: a task is {shape}"),
                       (["a", "list"], f"a task is a dict {shape} or the instruction as a string, not list"),
                       ({"context": {"a": 1}}, 'the task has no instruction: pass {"task": {"instruction": "..."}}'),
                       ({"instruction": 42}, "the task's instruction must be a string")]:
        with pytest.raises(TaskError) as exc:
            graph().invoke({"task": task})
        assert one_line(exc).startswith(says)


def test_one_tool_not_in_a_list_says_to_put_it_in_one():
    def price(item: str) -> float:
        """The price of `item`."""
        return 1.0

    for single, name in [(price, "price"), (tool(price), "price")]:
        with pytest.raises(TypeError) as exc:
            build_scaffold_graph(tools=single)
        assert one_line(exc) == f"tools must be a list: tools=[{name}] (got the single tool {name!r})"
    with pytest.raises(TypeError, match="tools must be a list of LangChain tools"):
        build_scaffold_graph(tools="my_tools:TOOLS")
    assert build_scaffold_graph(tools=[price]) is not None


# -- the endpoint ------------------------------------------------------------------------------

def test_a_base_url_without_v1_gets_the_same_fix_from_python_and_from_the_command_line(capsys):
    with ScriptedOpenAIServer(lambda messages: code("complete_task(1)"), model="m") as server:
        root = server.base_url.removesuffix("/v1")
        fix = (f"{root} answered HTTP 404 for /chat/completions: it is not an OpenAI-compatible base URL "
               f"(vLLM's and most servers' end in /v1); set the setting `base_url` to {root}/v1")
        out = build_react_graph(settings={"base_url": root, "model": "m", "max_retries": 0},
                                environment=lambda settings: ScriptedEnvironment()).invoke(TASK)
        assert out["status"] == "model_error" and out["status_reason"] == fix
        assert main(["run", "--instruction", "x", "--base-url", root, "--model", "m"]) == 1
        fixed = build_react_graph(settings={"base_url": server.base_url, "model": "m"},
                                  environment=lambda settings: ScriptedEnvironment())
        assert fixed.invoke(TASK)["status"] == "completed"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"trirole run: error: {root} answered HTTP 404 for /models")
    assert err.rstrip().endswith(f"set `--base-url` to {root}/v1")
