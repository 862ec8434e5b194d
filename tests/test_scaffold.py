"""The three-role scaffold's routing and state, on fakes (LangChain's fake chat model and
a scripted in-memory environment; see fakes.py). The real model and real environments
are exercised in test_local_model_e2e.py, test_python_sandbox.py and test_appworld_env.py."""

from __future__ import annotations

import pytest
from fakes import PromptLog, ScriptedEnvironment, code, fail, ok, replies

from trirole import build_scaffold_graph
from trirole.backend import HeuristicTokenCounter
from trirole.nodes.context import agent_prompt
from trirole.prompts import EXAMPLE_SEPARATOR, load_prompts

TASK = {"task": {"instruction": "Find the playlist and report its id."}}


async def run(graph, log: PromptLog | None = None, **context):
    callbacks = [log] if log else []
    return await graph.ainvoke(TASK, config={"callbacks": callbacks, "recursion_limit": 500}, context=context or None)


async def test_repeated_failing_code_goes_to_the_corrector():
    env = ScriptedEnvironment(lambda c, i: fail() if "bad" in c else ok())
    agent = replies(code("bad()"), code("bad()  # retry"), code("complete_task()"))
    corrector = replies(code("fixed()"))
    graph = build_scaffold_graph(models={"agent": agent, "corrector": corrector, "summarizer": replies()},
                                 environment=env, settings={"correction_policy": "never"})
    out = await run(graph)
    # Step 1 fails and runs as written; step 2 repeats it, so the corrector rewrites it.
    assert env.executed == ["bad()", "fixed()", "complete_task()"]
    assert out["counters"]["corrections"] == 1
    assert out["status"] == "completed"


async def test_running_the_previous_successful_action_again_goes_to_the_corrector():
    env = ScriptedEnvironment(lambda c, i: ok("42"))
    agent = replies(code("print(6 * 7)"), code("print(6 * 7)  # again"), code("complete_task(42)"))
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies(code("complete_task(42)")),
                                         "summarizer": replies()}, environment=env)
    out = await run(graph)
    assert env.executed == ["print(6 * 7)", "complete_task(42)"]
    assert out["status"] == "completed" and out["counters"]["corrections"] == 1


async def test_same_error_k_times_in_a_row_counts_as_repetition():
    env = ScriptedEnvironment(lambda c, i: fail("KeyError", f"'token_{i}'") if i < 2 else ok())
    agent = replies(code("a = login()"), code("b = fetch_all(x=1)"), code("zzz = other_thing(42)"),
                    code("complete_task()"))
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies(code("fixed()")),
                                         "summarizer": replies()},
                                 environment=env, settings={"correction_policy": "never", "repeated_error_k": 2})
    await run(graph)
    # Two different codes failed with the same signature (KeyError on a quoted value):
    # the third code is reviewed.
    assert env.executed[2] == "fixed()"


@pytest.mark.parametrize("policy,n,expected", [
    ("always", 1, ["a()", "fixed()", "complete_task()"]),
    ("never", 1, ["a()", "b()", "complete_task()"]),
    ("after_n", 2, ["a()", "b()", "fixed()"]),
])
async def test_failed_execution_routes_to_the_corrector_per_policy(policy, n, expected):
    env = ScriptedEnvironment(lambda c, i: fail("ValueError", f"bad input {c}") if c in ("a()", "b()") else ok())
    agent = replies(code("a()"), code("b()"), code("complete_task()"))
    graph = build_scaffold_graph(
        models={"agent": agent, "corrector": replies(code("fixed()"), code("fixed()")), "summarizer": replies()},
        environment=env,
        settings={"correction_policy": policy, "correction_after_n": n, "repetition_similarity": 1.0,
                  "repeated_error_k": 5, "max_steps": 3})
    await run(graph)
    assert env.executed == expected


async def test_corrector_prompt_holds_no_earlier_turn():
    env = ScriptedEnvironment(lambda c, i: fail("TypeError", "UNIQUE_ERROR_MARKER") if i == 0 else ok("UNIQUE_OUTPUT"))
    agent = replies("Thinking about EARLIER_TURN_MARKER.\n" + code("first_try()"),
                    code("second_try()"), code("complete_task()"))
    log = PromptLog()
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies(code("fixed()")),
                                         "summarizer": replies()}, environment=env)
    await run(graph, log)
    (prompt,) = log.prompts("corrector")
    text = PromptLog.text(prompt)
    assert "second_try()" in text                    # the code under review
    assert "UNIQUE_ERROR_MARKER" in text             # the error it follows
    assert "Find the playlist" in text               # the task instruction
    assert "Reference: use print()." in text         # the environment's reference
    assert "EARLIER_TURN_MARKER" not in text         # ... and nothing of the conversation
    assert "first_try()" not in text
    assert len(prompt) == 2                          # system + review request


async def test_corrector_with_history_ablation_sees_the_conversation():
    env = ScriptedEnvironment(lambda c, i: fail() if i == 0 else ok())
    agent = replies("EARLIER_TURN_MARKER\n" + code("first_try()"), code("second_try()"), code("complete_task()"))
    log = PromptLog()
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies(code("fixed()")),
                                         "summarizer": replies()},
                                 environment=env, settings={"corrector_sees_history": True})
    await run(graph, log)
    assert "EARLIER_TURN_MARKER" in PromptLog.text(log.prompts("corrector")[0])


TOKENS = ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXZhbHVl", "pw-Zq81!x", "acc-7731"]


def artifact_outputs(code_text: str, i: int) -> dict:
    outputs = [
        '{"access_token": "%s", "token_type": "Bearer"}' % TOKENS[0],
        "{'account_name': 'venmo', 'password': '%s'}" % TOKENS[1],
        '{"account_id": "%s"}' % TOKENS[2],
    ]
    return ok(outputs[i] + "\n" + "filler line of a long listing\n" * 60) if i < 3 else ok("x" * 400)


async def test_summarization_fires_at_the_budget_and_keeps_every_artifact_verbatim():
    env = ScriptedEnvironment(artifact_outputs)
    steps = [code(f"step_{i}()") for i in range(6)] + [code("complete_task()")]
    # The summarizer writes a useless summary: the artifacts must survive anyway.
    log = PromptLog()
    graph = build_scaffold_graph(
        models={"agent": replies(*steps), "corrector": replies(), "summarizer": replies(*["ok"] * 10)},
        environment=env,
        settings={"max_context_tokens": 1800, "max_completion_tokens": 256, "keep_recent_turns": 1,
                  "max_observation_chars": 2500, "use_corrector": False})
    out = await run(graph, log)
    assert out["counters"].get("summarizations", 0) >= 1
    agent_prompts = log.prompts("agent")
    first_summarized = next(i for i, p in enumerate(agent_prompts) if "Summary of the earlier steps" in PromptLog.text(p))
    # Agent prompt i follows i executions; execution j < 3 revealed TOKENS[j].
    for i, prompt in enumerate(agent_prompts[first_summarized:], start=first_summarized):
        text = PromptLog.text(prompt)
        for token in TOKENS[:i]:
            assert token in text, f"artifact {token} lost after summarization (agent prompt {i})"
    # The observation that carried the first token was compressed away, and the useless
    # summary did not keep it: the token survives only through the artifact store.
    last = PromptLog.text(agent_prompts[-1])
    assert '"token_type": "Bearer"' not in last and TOKENS[0] in last


async def test_no_prompt_exceeds_the_budget():
    budget_settings = {"max_context_tokens": 1500, "max_completion_tokens": 200, "keep_recent_turns": 1,
                       "max_observation_chars": 6000}
    env = ScriptedEnvironment(lambda c, i: fail("RuntimeError", "boom " + "y" * 3000) if i % 2 else ok("z" * 4000))
    log = PromptLog()
    graph = build_scaffold_graph(
        models={"agent": replies(*[code(f"work_{i}()") for i in range(8)]),
                "corrector": replies(*[code("fix()")] * 8), "summarizer": replies(*["summary " * 50] * 8)},
        environment=env, settings={**budget_settings, "max_steps": 8})
    await run(graph, log)
    counter = HeuristicTokenCounter()
    budget = 1500 - 200
    assert {role for role, _ in log.calls} == {"agent", "corrector", "summarizer"}
    for role, prompt in log.calls:
        assert counter.count(prompt) <= budget, f"{role} prompt over budget"


async def test_the_loop_ends_at_the_step_budget_with_that_reason():
    env = ScriptedEnvironment(lambda c, i: ok("still going"))
    graph = build_scaffold_graph(model=replies(*[code(f"step({i})") for i in range(10)]), environment=env,
                                 settings={"max_steps": 4})
    out = await run(graph)
    assert out["status"] == "step_budget"
    assert "step budget of 4" in out["status_reason"]
    assert out["counters"]["steps"] == 4
    assert env.closed and out["evaluation"]["success"] is False


async def test_an_answer_without_code_is_fed_back_and_the_run_goes_on():
    env = ScriptedEnvironment()
    log = PromptLog()
    graph = build_scaffold_graph(model=replies("I think the answer is 42.", code("complete_task(42)")), environment=env)
    out = await run(graph, log)
    assert out["status"] == "completed"
    assert out["counters"]["no_code"] == 1
    assert "no ```python code block" in PromptLog.text(log.prompts("agent")[1])
    assert env.executed == ["complete_task(42)"]


async def test_think_blocks_are_never_executed():
    env = ScriptedEnvironment()
    reply = "<think>\n```python\nimport os; os.remove('/x')\n```\n</think>\nDone.\n```python\ncomplete_task()\n```"
    graph = build_scaffold_graph(model=replies(reply), environment=env)
    await run(graph)
    assert env.executed == ["complete_task()"]


async def test_settings_come_from_the_run_context():
    env = ScriptedEnvironment()
    graph = build_scaffold_graph(model=replies(*[code("x()")] * 5), environment=env, settings={"max_steps": 5})
    out = await run(graph, max_steps=2)
    assert out["counters"]["steps"] == 2


def test_the_builder_rejects_bad_options_at_build_time():
    with pytest.raises(ValueError, match="unknown setting 'max_stepz' in settings=: did you mean 'max_steps'"):
        build_scaffold_graph(settings={"max_stepz": 3})
    with pytest.raises(ValueError, match="max_context_tokens"):
        build_scaffold_graph(settings={"max_context_tokens": 300, "max_completion_tokens": 200})
    with pytest.raises(ValueError, match="cannot replace unknown nodes"):
        build_scaffold_graph(nodes={"critic": lambda s: {}})
    with pytest.raises(TypeError, match="BaseChatModel"):
        build_scaffold_graph(model="gpt")
    with pytest.raises(ValueError, match="unknown roles"):
        build_scaffold_graph(models={"planner": replies()})
    with pytest.raises(ValueError, match="unknown prompt names"):
        build_scaffold_graph(prompts={"agent_sytem": "x"})


def test_agent_prompt_shows_summary_then_recent_turns_verbatim():
    from langchain_core.messages import AIMessage, HumanMessage

    state = {"task": {"instruction": "do it"}, "summary": "did A then B",
             "messages": [AIMessage("old reply"), HumanMessage("old output"), AIMessage("new reply"),
                          HumanMessage("new output")],
             "summarized_upto": 2, "artifacts": {}}
    text = PromptLog.text(agent_prompt(state, load_prompts()))
    assert "did A then B" in text and "new reply" in text and "new output" in text
    assert "old reply" not in text and "old output" not in text


async def test_with_review_no_code_a_reply_without_code_goes_to_the_corrector_which_writes_the_step():
    env = ScriptedEnvironment(lambda c, i: ok())
    agent = replies("PROSE_REPLY_MARKER: the answer is 42.", code("complete_task()"))
    log = PromptLog()
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies(code("complete_task(42)")),
                                         "summarizer": replies()},
                                 environment=env, settings={"review_no_code": True})
    out = await run(graph, log)
    # The corrector's code is step 1's: the agent is not asked again.
    assert env.executed == ["complete_task(42)"] and out["status"] == "completed"
    assert out["counters"] == {**out["counters"], "steps": 1, "corrections": 1, "no_code": 1}
    (prompt,) = log.prompts("corrector")
    assert "PROSE_REPLY_MARKER" in PromptLog.text(prompt)  # it reviews the reply itself


async def test_a_reply_without_code_that_the_corrector_cannot_fix_either_returns_to_the_agent():
    env = ScriptedEnvironment(lambda c, i: ok())
    agent = replies("Only prose.", code("complete_task()"))
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies("Still only prose."),
                                         "summarizer": replies()},
                                 environment=env, settings={"review_no_code": True})
    out = await run(graph)
    assert env.executed == ["complete_task()"]  # nothing ran at step 1
    assert out["counters"]["steps"] == 2 and out["counters"]["corrections"] == 1


async def test_without_review_no_code_or_without_a_corrector_a_reply_without_code_only_gets_the_hint():
    from trirole import build_react_graph

    for build, models in ((build_scaffold_graph, {"corrector": replies(code("never()")), "summarizer": replies()}),
                          (build_react_graph, {})):
        env = ScriptedEnvironment(lambda c, i: ok())
        agent = replies("Only prose.", code("complete_task()"))
        settings = {"review_no_code": build is build_react_graph}  # react has no corrector to send it to
        graph = build(**({"models": {"agent": agent, **models}} if models else {"model": agent}),
                      environment=env, settings=settings)
        out = await run(graph)
        assert env.executed == ["complete_task()"] and not out["counters"].get("corrections")
        assert any("no ```python code block" in str(m.content) for m in out["messages"] if m.type == "human")


async def test_the_corrector_reads_the_environments_other_view_of_the_reference():
    class TwoViews(ScriptedEnvironment):
        async def reset(self, task):
            info = await super().reset(task)
            info.corrector_reference = "CORRECTOR_VIEW_MARKER"
            return info

    env = TwoViews(lambda c, i: fail() if i == 0 else ok())
    log = PromptLog()
    graph = build_scaffold_graph(models={"agent": replies(code("a()"), code("b()"), code("complete_task()")),
                                         "corrector": replies(code("fixed()")), "summarizer": replies()},
                                 environment=env)
    await run(graph, log)
    assert "CORRECTOR_VIEW_MARKER" in PromptLog.text(log.prompts("corrector")[0])
    assert all("CORRECTOR_VIEW_MARKER" not in PromptLog.text(p) for p in log.prompts("agent"))
    assert all("Reference: use print()." in PromptLog.text(p) for p in log.prompts("agent"))


async def test_a_worked_example_in_the_prompt_templates_is_one_exchange_before_the_task():
    env = ScriptedEnvironment(lambda c, i: ok())
    log = PromptLog()
    graph = build_scaffold_graph(model=replies(code("complete_task()")), environment=env,
                                 prompts={"agent_example_request": "EXAMPLE_REQUEST", "agent_example_reply": "EX()",
                                          "agent_task": "${reference}\n\nRequest: ${instruction}"})
    await run(graph, log)
    (prompt,) = log.prompts("agent")
    assert [m.type for m in prompt] == ["system", "human", "ai", "human"]
    assert prompt[1].content == "EXAMPLE_REQUEST" and prompt[2].content == "EX()"
    assert prompt[3].content.startswith("Reference: use print().") and "Find the playlist" in prompt[3].content
    # Without them (the default), nothing is added.
    log = PromptLog()
    await run(build_scaffold_graph(model=replies(code("complete_task()")), environment=env), log)
    assert [m.type for m in log.prompts("agent")[0]] == ["system", "human"]


async def test_several_worked_examples_are_exchanges_in_their_order_and_must_pair_up():
    env = ScriptedEnvironment(lambda c, i: ok())
    log = PromptLog()
    separated = f"\n{EXAMPLE_SEPARATOR}\n"
    graph = build_scaffold_graph(model=replies(code("complete_task()")), environment=env,
                                 prompts={"agent_example_request": separated.join(["REQ_1", "REQ_2", "REQ_3"]),
                                          "agent_example_reply": separated.join(["ONE()", "TWO()", "THREE()"])})
    await run(graph, log)
    (prompt,) = log.prompts("agent")
    assert [(m.type, m.content) for m in prompt[1:7]] == [
        ("human", "REQ_1"), ("ai", "ONE()"), ("human", "REQ_2"), ("ai", "TWO()"), ("human", "REQ_3"), ("ai", "THREE()")]
    assert "Find the playlist" in prompt[7].content
    # An example without its reply is refused when the graph is built, with the fix.
    with pytest.raises(ValueError, match="same number of worked examples"):
        build_scaffold_graph(model=replies(), environment=env,
                             prompts={"agent_example_request": separated.join(["REQ_1", "REQ_2"]),
                                      "agent_example_reply": "ONE()"})


async def test_a_prompt_cut_to_fit_keeps_the_worked_example_and_the_task():
    env = ScriptedEnvironment(lambda c, i: fail("ValueError", "x" * 400))
    agent = replies(*[code(f"step_{i}()") for i in range(8)])
    log = PromptLog()
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies(*[code("fix()")] * 8),
                                         "summarizer": replies()},
                                 environment=env, prompts={"agent_example_request": "EXAMPLE_REQUEST",
                                                           "agent_example_reply": "EX()"},
                                 settings={"max_steps": 8, "max_context_tokens": 900, "max_completion_tokens": 64,
                                           "use_summarizer": False, "correction_policy": "never",
                                           "repeated_error_k": 99, "repetition_similarity": 1.0})
    await run(graph, log)
    prompts = log.prompts("agent")
    assert len(prompts[-1]) < len(prompts[-2]) + 2  # turns were dropped to fit
    for prompt in prompts:
        assert [m.type for m in prompt[:4]] == ["system", "human", "ai", "human"]
        assert prompt[1].content == "EXAMPLE_REQUEST" and "Find the playlist" in prompt[3].content
