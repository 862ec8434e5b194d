"""The paradigms of *Rethinking Scale* (base model, single agent, multi-agent) next to the
scaffold, over the same state and environment interface.

End-to-end runs use the real `PythonSandbox` with a checked task; the model is LangChain's
fake chat model (scripted replies, see fakes.py). Routing tests use `ScriptedEnvironment`
(a FAKE environment) so that apps and failures can be scripted.
"""

from __future__ import annotations

import itertools

import pytest
from fakes import PromptLog, ScriptedEnvironment, code, fail, ok, replies
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from trirole.graphs import PARADIGMS, build_base_graph, build_multi_agent_graph
from trirole.graphs.multi_agent import parse_plan
from trirole.environments.base import EnvironmentInfo
from trirole.environments.python_sandbox import PythonSandbox

SUM_TASK = {"id": "sum-xs", "instruction": "Add up context['xs'] and complete the task with the total.",
            "context": {"xs": [1, 2, 3]}, "checker": "def check(answer):\n    return answer == 6", "difficulty": 1}

SCRIPTS = {
    "base": [code("complete_task(sum(context['xs']))")],
    "react": [code("total = sum(context['xs'])\nprint(total)"), code("complete_task(total)")],
    "scaffold": [code("total = sum(context['xs'])\nprint(total)"), code("complete_task(total)")],
    "multi-agent": ["general: add up the numbers in context['xs']",
                    code("total = sum(context['xs'])\nprint(total)"),
                    "RESULT: the total is 6, in the variable `total`.",
                    "Finish with the total.\n" + code("complete_task(total)")],
}


def forever(text: str) -> GenericFakeChatModel:
    """A fake model that gives the same reply on every call."""
    return GenericFakeChatModel(messages=(AIMessage(content=text) for _ in itertools.count()))


class AppsEnvironment(ScriptedEnvironment):
    """A FAKE environment with two apps, each with its own reference."""

    APPS = {"spotify": "Apps you can call:\n- spotify: a music app\nSPOTIFY_DOCS: spotify.login(), spotify.playlists()",
            "venmo": "Apps you can call:\n- venmo: a payment app\nVENMO_DOCS: venmo.login(), venmo.pay(to, amount)"}

    async def reset(self, task):
        info = await super().reset(task)
        return EnvironmentInfo(instruction=info.instruction, context=info.context,
                               reference="WHOLE_REFERENCE " + " ".join(self.APPS.values()), apps=dict(self.APPS))


async def run(graph, task=None, log=None, **context):
    return await graph.ainvoke({"task": task or {"instruction": "Pay Alice for the playlist."}},
                               config={"callbacks": [log] if log else [], "recursion_limit": 500},
                               context=context or None)


@pytest.mark.parametrize("paradigm", ["base", "react", "scaffold", "multi-agent"])
async def test_every_paradigm_solves_an_offline_task_end_to_end(paradigm):
    graph = PARADIGMS[paradigm](model=replies(*SCRIPTS[paradigm]),
                                environment=lambda settings: PythonSandbox(tasks=[SUM_TASK]))
    out = await run(graph, {"instruction": "", "task_id": "sum-xs"})
    assert out["status"] == "completed", out["status_reason"]
    assert out["evaluation"]["success"] is True
    assert out["counters"]["steps"] == len(SCRIPTS[paradigm])


async def test_every_paradigm_ends_with_a_status_when_the_task_cannot_start():
    for paradigm, builder in PARADIGMS.items():
        graph = builder(model=replies(), environment=lambda settings: PythonSandbox(tasks=[SUM_TASK]))
        out = await run(graph, {"instruction": "", "task_id": "no-such-task"})
        assert out["status"] == "env_error" and "no-such-task" in out["status_reason"], paradigm


async def test_base_makes_one_model_call_and_one_execution_even_when_it_fails():
    env = ScriptedEnvironment(lambda c, i: fail("NameError", "name 'spotify' is not defined"))
    log = PromptLog()
    out = await run(build_base_graph(model=replies(code("spotify.login()\ncomplete_task()")), environment=env), log=log)
    assert [role for role, _ in log.calls] == ["agent"]
    assert env.executed == ["spotify.login()\ncomplete_task()"]
    assert out["usage"]["agent"]["calls"] == 1
    assert out["status"] == "step_budget"
    assert "one program" in out["status_reason"] and "NameError" in out["status_reason"]
    assert env.closed


async def test_base_prompt_has_the_task_and_reference_and_a_reply_without_code_runs_nothing():
    env = ScriptedEnvironment(reference="REFERENCE_MARKER")
    log = PromptLog()
    out = await run(build_base_graph(model=replies("I cannot do this."), environment=env), log=log)
    text = PromptLog.text(log.calls[0][1])
    assert "REFERENCE_MARKER" in text and "Pay Alice" in text and "runs exactly once" in text
    assert env.executed == [] and out["status"] == "step_budget" and "no code" in out["status_reason"]


async def test_multi_agent_specialists_see_only_their_apps_reference():
    env = AppsEnvironment()
    log = PromptLog()
    model = replies("1. spotify: find the playlist id\n2. venmo: pay Alice 5 dollars",
                    code("spotify.playlists()"), "RESULT: playlist id 7",
                    code("venmo.pay('alice', 5)"), "RESULT: paid",
                    code("complete_task()"))
    out = await run(build_multi_agent_graph(model=model, environment=env), log=log)
    assert out["status"] == "completed"
    specialists = [PromptLog.text(p) for p in log.prompts("specialist")]
    assert len(specialists) == 4
    for text in specialists[:2]:
        assert "SPOTIFY_DOCS" in text and "VENMO_DOCS" not in text and "WHOLE_REFERENCE" not in text
    for text in specialists[2:]:
        assert "VENMO_DOCS" in text and "SPOTIFY_DOCS" not in text
        assert "playlist id 7" in text  # the earlier specialist's report is handed on
    assert "spotify.playlists()" not in specialists[2]  # ... but not its dialogue
    (plan_prompt, final_prompt) = [PromptLog.text(p) for p in log.prompts("supervisor")]
    assert "- spotify: a music app" in plan_prompt and "- venmo: a payment app" in plan_prompt
    assert "SPOTIFY_DOCS" not in plan_prompt  # the supervisor routes; it does not read the docs
    assert "playlist id 7" in final_prompt and "paid" in final_prompt
    assert set(out["usage"]) == {"supervisor", "specialist"}
    assert out["usage"]["supervisor"]["calls"] == 2 and out["usage"]["specialist"]["calls"] == 4
    assert out["counters"]["steps"] == 6


async def test_multi_agent_without_apps_has_one_general_specialist_with_the_whole_reference():
    env = ScriptedEnvironment(reference="WHOLE_REFERENCE_MARKER")
    log = PromptLog()
    model = replies("no plan lines here", code("x = 1"), "RESULT: x is 1", code("complete_task(x)"))
    out = await run(build_multi_agent_graph(model=model, environment=env), log=log)
    assert out["status"] == "completed"
    (specialist, *_) = log.prompts("specialist")
    assert "general specialist" in PromptLog.text(specialist) and "WHOLE_REFERENCE_MARKER" in PromptLog.text(specialist)


async def test_the_step_budget_bounds_multi_agent():
    env = ScriptedEnvironment(lambda c, i: ok("still working"))
    log = PromptLog()
    graph = build_multi_agent_graph(model=forever(code("keep_going()")), environment=env, specialist_steps=50,
                                    settings={"max_steps": 5})
    out = await run(graph, log=log)
    assert out["status"] == "step_budget" and "step budget of 5" in out["status_reason"]
    assert out["counters"]["steps"] == 5 and len(log.calls) == 5
    assert env.closed


async def test_a_specialist_out_of_steps_hands_back_and_a_failing_final_is_retried_once():
    env = ScriptedEnvironment(lambda c, i: fail("RuntimeError", "nope"))
    log = PromptLog()
    graph = build_multi_agent_graph(model=forever(code("try_it()")), environment=env, specialist_steps=2,
                                    settings={"max_steps": 50})
    out = await run(graph, log=log)
    # plan (no plan lines: one sub-goal), 2 specialist steps, then 2 final attempts.
    assert [role for role, _ in log.calls] == ["supervisor", "specialist", "specialist", "supervisor", "supervisor"]
    assert "used all 2 steps" in PromptLog.text(log.prompts("supervisor")[1])
    assert "did not complete the task" in PromptLog.text(log.prompts("supervisor")[2])  # the retry sees its failure
    assert out["status"] == "step_budget" and "final code" in out["status_reason"]


async def test_a_final_reply_without_code_is_told_so_instead_of_seeing_the_reports_again():
    log = PromptLog()
    graph = build_multi_agent_graph(models={"supervisor": replies("general: look", "I am not sure.", code("complete_task()")),
                                            "specialist": replies("RESULT: found it")},
                                    environment=ScriptedEnvironment())
    out = await run(graph, log=log)
    assert out["status"] == "completed"
    (_, first_final, retry) = log.prompts("supervisor")
    assert "RESULT: found it" in str(first_final[-1].content)
    assert "no ```python code block" in str(retry[-1].content) and "RESULT" not in str(retry[-1].content)


def test_a_plan_without_lines_goes_to_the_app_the_instruction_names():
    plan = parse_plan("Let me think about it.", ["amazon", "simple_note"], max_subgoals=3,
                      instruction="What is the Wi-Fi password in my Simple Note note 'Home'?")
    assert [g["specialist"] for g in plan] == ["simple_note"]


def test_multi_agent_rejects_unknown_roles_and_nodes():
    with pytest.raises(ValueError, match="unknown roles"):
        build_multi_agent_graph(models={"agent": replies()})
    with pytest.raises(ValueError, match="unknown nodes"):
        build_multi_agent_graph(model=replies(), nodes={"corrector": lambda s: {}})
