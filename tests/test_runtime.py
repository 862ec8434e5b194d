"""The runtime every paradigm shares: who owns a run's environment, per-run settings,
model-call failures, prompt overrides and the transcript.

REAL parts: the python sandbox (`PythonSandbox`, its worker subprocess) in the
cancellation test, whose processes are looked up with psutil. FAKES (fakes.py): LangChain's
fake chat models, `ScriptedEnvironment`, and models that raise on purpose.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import tempfile

import httpx
import openai
import psutil
import pytest
from fakes import ScriptedEnvironment, code, ok, replies
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from trirole import Episode, TriroleSettings
from trirole.graphs import PARADIGMS, build_base_graph, build_multi_agent_graph, build_scaffold_graph
from trirole.settings import recursion_limit
from trirole.environments.python_sandbox import PythonSandbox
from trirole.transcript import TranscriptPrinter, print_run

TASK = {"task": {"instruction": "Keep working."}}


def forever(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=(AIMessage(content=text) for _ in itertools.count()))


class FailingModel(GenericFakeChatModel):
    """A FAKE chat model whose every call raises `error`."""

    error: BaseException

    async def _agenerate(self, *args, **kwargs):
        raise self.error


def failing(error: BaseException) -> FailingModel:
    return FailingModel(messages=iter([]), error=error)


# -- per-run settings win over the builder's ------------------------------------------------------

@pytest.mark.parametrize("run", [
    {"context": {"max_steps": 20}},
    {"context": TriroleSettings(max_steps=20)},
    {"config": {"configurable": {"max_steps": 20}}},
])
async def test_a_per_run_setting_equal_to_the_class_default_still_wins(run):
    graph = build_scaffold_graph(model=forever(code("work()")), environment=ScriptedEnvironment(lambda c, i: ok()),
                                 settings={"max_steps": 3, "use_corrector": False, "use_summarizer": False})
    # No recursion_limit given: the run's own (from its 20 steps) applies, not LangGraph's 25.
    out = await graph.ainvoke(TASK, run.get("config"), context=run.get("context"))
    assert out["counters"]["steps"] == 20 and "step budget of 20" in out["status_reason"]


async def test_the_builder_default_holds_when_the_run_does_not_set_it():
    graph = build_scaffold_graph(model=forever(code("work()")), environment=ScriptedEnvironment(lambda c, i: ok()),
                                 settings={"max_steps": 3})
    out = await graph.ainvoke(TASK, context={"correction_policy": "never"})
    assert out["counters"]["steps"] == 3


async def test_a_copy_of_the_graph_keeps_the_builder_defaults():
    # The LangGraph server runs a copy of the graph (`with_config`); the run's settings are
    # resolved once, from the copy's defaults and the run's context.
    graph = build_scaffold_graph(model=forever(code("work()")), environment=ScriptedEnvironment(lambda c, i: ok()),
                                 settings={"max_steps": 3})
    copy = graph.with_config({"tags": ["per-run"]})
    out = await copy.ainvoke(TASK, context={"correction_policy": "never"})
    assert out["counters"]["steps"] == 3 and "step budget of 3" in out["status_reason"]


def test_the_recursion_limit_grows_with_the_step_budget():
    assert recursion_limit(TriroleSettings(max_steps=40)) > recursion_limit(TriroleSettings(max_steps=20)) > 5 * 20


# -- the run owns its environment ------------------------------------------------------------------

class BlockingEnvironment(ScriptedEnvironment):
    """A FAKE environment whose execution never returns (until cancelled)."""

    def __init__(self) -> None:
        super().__init__()
        self.running = asyncio.Event()

    async def execute(self, code: str):
        self.running.set()
        await asyncio.Event().wait()


@pytest.mark.parametrize("paradigm", sorted(PARADIGMS))
async def test_cancelling_a_run_mid_step_closes_its_environment(paradigm):
    env = BlockingEnvironment()
    script = {"multi-agent": replies("general: do it", code("work()"))}.get(paradigm, replies(code("work()")))
    run = asyncio.create_task(PARADIGMS[paradigm](model=script, environment=env).ainvoke(TASK))
    await asyncio.wait_for(env.running.wait(), 10)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert env.closed


def sandbox_processes(before: set[int]) -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)
            if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE}


async def test_a_cancelled_run_leaves_no_sandbox_process_or_folder_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the sandbox makes its working folder
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    graph = build_scaffold_graph(model=replies(code("import time\ntime.sleep(120)")),
                                 environment=lambda settings: PythonSandbox(step_timeout_s=120))
    run = asyncio.create_task(asyncio.wait_for(graph.ainvoke(TASK), 30))
    for _ in range(300):  # until the real sandbox worker runs the step
        if sandbox_processes(before):
            break
        await asyncio.sleep(0.05)
    assert sandbox_processes(before), "the sandbox worker never started"
    assert list(tmp_path.glob("trirole-sandbox-*"))
    await asyncio.sleep(0.5)
    run.cancel()  # what a timeout does to the run
    with pytest.raises(asyncio.CancelledError):
        await run
    for _ in range(50):  # the kill is immediate; reaping may take a moment
        if not sandbox_processes(before):
            break
        await asyncio.sleep(0.1)
    assert not sandbox_processes(before), "the sandbox worker outlived its cancelled run"
    assert not list(tmp_path.glob("trirole-sandbox-*")), "the sandbox's working folder outlived its run"


async def test_a_run_that_raises_closes_its_environment():
    env = ScriptedEnvironment()
    graph = build_scaffold_graph(model=failing(KeyError("a bug")), environment=env)
    with pytest.raises(KeyError):
        await graph.ainvoke(TASK)
    assert env.closed


async def test_a_thread_resumed_by_another_graph_instance_restarts_its_episode():
    saver, config = InMemorySaver(), {"configurable": {"thread_id": "moved"}}
    first_env = ScriptedEnvironment()
    first = build_scaffold_graph(model=replies(code("x = 1")), environment=first_env, checkpointer=saver)
    await first.ainvoke(TASK, config, interrupt_before=["executor"])
    session = (await first.aget_state(config)).values["env_session"]
    assert first_env.closed  # the pause ended the call that owned the episode
    second_env = ScriptedEnvironment()  # another process's graph, the same checkpoints
    second = build_scaffold_graph(model=replies(code("complete_task(x)")), environment=second_env,
                                  checkpointer=saver)
    out = await second.ainvoke(None, config)
    assert out["status"] == "completed" and second_env.executed == ["x = 1", "complete_task(x)"]
    assert (await second.aget_state(config)).values["env_session"] != session  # a fresh episode, recorded
    assert second_env.closed


async def test_a_caller_held_episode_is_reattached_and_closed_only_by_the_caller():
    saver, env = InMemorySaver(), ScriptedEnvironment()
    graph = build_scaffold_graph(model=replies(code("x = 1"), code("complete_task(x)")), environment=env,
                                 checkpointer=saver)
    async with Episode() as episode:
        config = episode.bind({"configurable": {"thread_id": "held"}})
        await graph.ainvoke(TASK, config, interrupt_after=["executor"])
        assert not env.closed
        out = await graph.ainvoke(None, config)
        assert out["status"] == "completed" and env.executed == ["x = 1", "complete_task(x)"]
        assert not env.closed
    assert env.closed


# -- model calls: endpoint failures end the run, bugs raise -------------------------------------

ENDPOINT_ERRORS = [openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat")),
                   httpx.ConnectError("connection refused")]


@pytest.mark.parametrize("error", ENDPOINT_ERRORS, ids=["openai", "httpx"])
@pytest.mark.parametrize("paradigm", sorted(PARADIGMS))
async def test_an_endpoint_failure_ends_every_paradigm_as_model_error(paradigm, error):
    env = ScriptedEnvironment()
    out = await PARADIGMS[paradigm](model=failing(error), environment=env).ainvoke(TASK)
    assert out["status"] == "model_error" and out["status_reason"], paradigm
    assert env.closed


@pytest.mark.parametrize("role", ["agent", "corrector", "summarizer"])
async def test_anything_else_out_of_a_model_call_is_a_bug_and_raises(role):
    models = {"agent": replies(code("bad()"), code("bad()")), "corrector": replies(code("x()")),
              "summarizer": replies("a summary long enough to keep")}
    models[role] = failing(ValueError("a bug in a node"))
    graph = build_scaffold_graph(models=models, environment=ScriptedEnvironment(lambda c, i: ok("x" * 4000)),
                                 settings={"max_context_tokens": 900, "max_completion_tokens": 100})
    with pytest.raises(ValueError, match="a bug in a node"):
        await graph.ainvoke(TASK, context={"max_steps": 4})


@pytest.mark.parametrize("builder,name", [(build_scaffold_graph, "agent_system"),
                                          (build_scaffold_graph, "corrector_user"),
                                          (build_base_graph, "base_system"),
                                          (build_multi_agent_graph, "specialist_task")])
def test_a_wrong_placeholder_in_a_prompt_override_fails_at_build_time(builder, name):
    with pytest.raises(ValueError, match=rf"prompt override '{name}' uses unknown placeholders \$\{{typo\}}; "
                                         r"its placeholders are: \$\{"):
        builder(prompts={name: "Use ${typo} here."})


def test_a_prompt_override_with_its_own_placeholders_builds():
    build_scaffold_graph(prompts={"corrector_user": "Fix this:\n${code}\n(${error})", "corrector_system": "Be brief."})


# -- the transcript shows every role's replies --------------------------------------------------

async def transcript(graph, task=None) -> str:
    out = io.StringIO()
    await print_run(graph, task or TASK, printer=TranscriptPrinter(out))
    return out.getvalue()


async def test_the_base_transcript_shows_the_models_program_and_its_execution():
    text = await transcript(build_base_graph(model=replies(code("print('BASE_OUTPUT')\ncomplete_task(1)")),
                                             environment=ScriptedEnvironment(lambda c, i: ok("BASE_OUTPUT"))))
    assert "step 1 · agent" in text and "print('BASE_OUTPUT')" in text
    assert "· executed (ok) · task complete" in text and "status: completed" in text


async def test_the_multi_agent_transcript_shows_supervisor_and_specialist_replies():
    model = replies("general: find x", code("x = 41"), "RESULT: x is 41", code("complete_task(x + 1)"))
    text = await transcript(build_multi_agent_graph(model=model, environment=ScriptedEnvironment()))
    for expected in ("step 1 · supervisor", "general: find x", "step 2 · specialist", "x = 41",
                     "step 3 · specialist", "RESULT: x is 41", "step 4 · supervisor", "complete_task(x + 1)",
                     "status: completed"):
        assert expected in text, expected
    assert text.count("· executed (ok)") == 2  # the specialist's step and the final code


async def test_the_scaffold_transcript_shows_the_corrector_and_summarizer():
    models = {"agent": replies(code("bad()"), code("bad()"), code("complete_task()")),
              "corrector": replies(code("FIXED_BY_CORRECTOR()")), "summarizer": replies()}
    env = ScriptedEnvironment(lambda c, i: {"output": "boom", "error": True, "error_type": "KeyError",
                                            "error_message": "x"} if "bad" in c else ok())
    text = await transcript(build_scaffold_graph(models=models, environment=env))
    assert "· corrector reviewed the code:" in text and "FIXED_BY_CORRECTOR()" in text
    assert "· the corrector's revision runs instead of the agent's code" in text


async def test_the_transcript_says_when_the_corrector_changed_nothing():
    models = {"agent": replies(code("bad()"), code("bad()"), code("complete_task()")),
              "corrector": replies("The code looks right to me.", code("complete_task()")), "summarizer": replies()}
    env = ScriptedEnvironment(lambda c, i: {"output": "boom", "error": True, "error_type": "KeyError",
                                            "error_message": "x"} if "bad" in c else ok())
    text = await transcript(build_scaffold_graph(models=models, environment=env))
    assert "· corrector reviewed the code:" in text and "The code looks right to me." in text
    assert "· the corrector changed nothing (no code, or the same code): the agent's code runs" in text
    assert "revision runs instead" not in text


async def test_a_multi_agent_thread_pauses_and_resumes_in_another_graph_instance():
    saver, config = InMemorySaver(), {"configurable": {"thread_id": "supervised"}}
    first_env = ScriptedEnvironment()
    first = build_multi_agent_graph(model=replies("general: set x", code("x = 41"), "RESULT: x is 41"),
                                    environment=first_env, checkpointer=saver)
    await first.ainvoke(TASK, config, interrupt_before=["final"])
    paused = await first.aget_state(config)
    assert paused.next == ("final",) and paused.values["reports"][0]["result"] == "RESULT: x is 41"
    assert first_env.executed == ["x = 41"] and first_env.closed
    second_env = ScriptedEnvironment()
    second = build_multi_agent_graph(model=replies(code("complete_task(42)")), environment=second_env,
                                     checkpointer=saver)
    out = await second.ainvoke(None, config)
    assert out["status"] == "completed" and out["counters"]["steps"] == 4
    assert second_env.executed == ["complete_task(42)"] and second_env.closed  # a fresh episode of the task


async def test_a_specialists_endpoint_failure_ends_the_multi_agent_run_through_finish():
    env = ScriptedEnvironment()
    graph = build_multi_agent_graph(models={"supervisor": replies("general: do it"),
                                            "specialist": failing(ENDPOINT_ERRORS[0])}, environment=env)
    out = await graph.ainvoke(TASK)
    assert out["status"] == "model_error" and "cannot reach the model endpoint" in out["status_reason"]
    assert out["usage"]["supervisor"]["calls"] == 1 and "evaluation" in out  # finish ran and asked for the verdict
    assert env.closed
