"""Tasks of several user requests that arrive one at a time (BFCL multi-turn's form): each
request has its own step budget, the base model answers each with one program, the
multi-agent supervisor plans each. With a FAKE environment and scripted models; the real
BFCL episodes are in test_bfcl_env.py."""

from __future__ import annotations

from trirole.graphs import build_base_graph, build_multi_agent_graph, build_react_graph

from tests.fakes import PromptLog, RequestsEnvironment, code, replies

REQUESTS = ["Open the first folder.", "Now list what is in it.", "Finally delete the old file."]


async def run(graph, env: RequestsEnvironment, log: PromptLog | None = None) -> dict:
    return await graph.ainvoke({"task": {"instruction": "", "task_id": "requests"}}, config={"callbacks": [log] if log else []})


async def test_each_request_gets_its_own_step_budget():
    env = RequestsEnvironment(REQUESTS)
    model = replies(*[code("work()"), code("complete_task()")] * 3)
    out = await run(build_react_graph(model=model, environment=env, settings={"max_steps": 2}), env)
    # Six steps in all, two per request: a budget shared by the episode would have ended it at two.
    assert out["status"] == "completed" and out["counters"]["steps"] == 6 and out["counters"]["requests"] == 2


async def test_a_request_that_uses_its_steps_ends_the_run_and_says_so():
    env = RequestsEnvironment(REQUESTS)
    model = replies(code("complete_task()"), *[code("work()")] * 5)
    out = await run(build_react_graph(model=model, environment=env, settings={"max_steps": 2}), env)
    assert out["status"] == "step_budget" and out["counters"]["steps"] == 3  # 1 for the first request, 2 for the second
    assert "step budget of 2 of the user's current request" in out["status_reason"]
    assert env.current == 1


async def test_max_total_steps_caps_the_whole_run():
    env = RequestsEnvironment(REQUESTS)
    model = replies(*[code("work()"), code("complete_task()")] * 3)
    out = await run(build_react_graph(model=model, environment=env, settings={"max_steps": 2, "max_total_steps": 3}),
                    env)
    assert out["status"] == "step_budget" and out["counters"]["steps"] == 3
    assert "cap of 3 steps in all" in out["status_reason"]


async def test_the_base_model_answers_every_request_with_one_program_and_never_sees_its_output():
    env = RequestsEnvironment(REQUESTS, printed="SECRET-OUTPUT-42")
    model = replies("Plan.\n```python\nwork()\ncomplete_task()\n```",
                    "```python\nwork(2)\n```",  # forgets to end its request: the harness ends it
                    "```python\nwork(3)\ncomplete_task()\n```")
    log = PromptLog()
    out = await run(build_base_graph(model=model, environment=env), env, log)
    assert out["status"] == "completed" and out["usage"]["agent"]["calls"] == 3
    assert env.executed == ["work()\ncomplete_task()", "work(2)", "complete_task()", "work(3)\ncomplete_task()"]
    prompts = [PromptLog.text(p) for p in log.prompts("agent")]
    assert REQUESTS[2] in prompts[2] and "work(2)" in prompts[2] and REQUESTS[1] not in prompts[0]
    assert not any("SECRET-OUTPUT-42" in p for p in prompts)


async def test_the_supervisor_plans_each_request_in_one_dialogue():
    env = RequestsEnvironment(REQUESTS)
    supervisor = replies(*["general: do what the user asked", code("complete_task()")] * 3)
    specialist = replies(*[code("work()"), "RESULT: done."] * 3)
    log = PromptLog()
    out = await run(build_multi_agent_graph(models={"supervisor": supervisor, "specialist": specialist},
                                            environment=env), env, log)
    assert out["status"] == "completed" and env.current == 3
    plans = [p for p in log.prompts("supervisor") if "Write the sub-goals" in str(p[-1].content)]
    assert [request in str(plan[-1].content) for plan, request in zip(plans, REQUESTS)] == [True] * 3
    assert len(plans[2]) > len(plans[0])  # the same dialogue: the later plan follows the earlier requests' turns
