"""The prompt layout a server's prefix cache relies on (vLLM reuses the KV of a prompt's
longest cached prefix, its own generated tokens included).

- Within a run, a role's next prompt is its previous prompt, unchanged, plus the reply it
  gave and what came back: the whole previous call is a cache hit.
- Across tasks of one environment, what every task shares (the role's instructions, the
  reference) comes first and is the same, so it is prefilled once per server.

Models are LangChain's fake chat models and the environment is `ScriptedEnvironment`
(FAKES): the layout is a property of the graphs, not of a server.
"""

from __future__ import annotations

import os

from fakes import PromptLog, ScriptedEnvironment, code, fail, ok, replies
from langchain_core.messages import AIMessage, BaseMessage
from test_paradigms import AppsEnvironment, forever, run

from trirole.artifacts import extract_artifacts
from trirole.graphs import build_base_graph, build_multi_agent_graph, build_react_graph, build_scaffold_graph


def as_pairs(messages: list[BaseMessage]) -> list[tuple[str, str]]:
    return [(m.type, str(m.content)) for m in messages]


def assert_appends(prompts: list[list[BaseMessage]], replies_given: list[str]) -> None:
    """Each prompt is the one before plus the reply to it (verbatim) and new messages."""
    for number, (before, after) in enumerate(zip(prompts, prompts[1:]), start=1):
        assert as_pairs(after[:len(before)]) == as_pairs(before), f"call {number + 1} rewrote its earlier prompt"
        assert as_pairs(after[len(before):len(before) + 1]) == [("ai", replies_given[number - 1])], \
            f"call {number + 1} does not continue with the reply to call {number}"
        assert len(after) > len(before) + 1, f"call {number + 1} added nothing after the reply"


STEPS = [code("x = 1\nprint(x)"), code("y = x + 1\nprint(y)"), code("print(x + y)"), code("complete_task(x + y)")]


async def test_react_prompts_only_grow_at_the_end():
    log = PromptLog()
    out = await run(build_react_graph(model=replies(*STEPS), environment=ScriptedEnvironment()), log=log)
    assert out["status"] == "completed"
    prompts = log.prompts("agent")
    assert len(prompts) == 4
    assert_appends(prompts, STEPS)


async def test_scaffold_prompts_only_grow_at_the_end_between_summaries():
    # An error at step 2 sends the next code to the corrector; the agent's prompts still only grow.
    env = ScriptedEnvironment(lambda c, i: fail("KeyError", "'y'") if i == 1 else ok(str(i)))
    models = {"agent": replies(*STEPS), "corrector": forever("No change.\n" + code("y = x + 1\nprint(y)"))}
    log = PromptLog()
    out = await run(build_scaffold_graph(models=models, environment=env), log=log)
    assert out["status"] == "completed" and out["counters"].get("summarizations", 0) == 0
    assert len(log.prompts("corrector")) >= 1
    assert_appends(log.prompts("agent"), STEPS)


CREDENTIAL_OUTPUTS = ['{"access_token": "tok-91xzQ7abcdef"}', "password=Pa55-w0rd-7781", "no news", "done"]


async def test_new_artifacts_do_not_rewrite_the_prompt():
    """A step that reveals credentials adds its observation; the task message before the
    turns stays as it was (the credentials are in their turn, verbatim)."""
    env = ScriptedEnvironment(lambda c, i: ok(CREDENTIAL_OUTPUTS[min(i, 3)]))
    for build in (build_react_graph, build_scaffold_graph):
        log = PromptLog()
        out = await run(build(model=replies(*STEPS), environment=env), log=log)
        assert out["status"] == "completed"
        found = [extract_artifacts(o, step=1, source="", code="").values() for o in CREDENTIAL_OUTPUTS]
        assert {"tok-91xzQ7abcdef", "Pa55-w0rd-7781"} <= {a["value"] for items in found for a in items}
        prompts = log.prompts("agent")
        assert_appends(prompts, STEPS)
        assert "tok-91xzQ7abcdef" in PromptLog.text(prompts[-1]) and "Pa55-w0rd-7781" in PromptLog.text(prompts[-1])


async def test_between_summaries_the_scaffold_prompt_only_grows():
    """The memory (summary and artifact block) changes only when the summarizer writes:
    from one summary to the next, each agent prompt continues the one before."""
    steps = [code(f"step_{i}()") for i in range(11)] + [code("complete_task()")]
    env = ScriptedEnvironment(lambda c, i: ok(f'{{"access_token": "tok-{i}-secretvalue"}}\n' + "a long listing line\n" * 70))
    log = PromptLog()
    graph = build_scaffold_graph(
        models={"agent": replies(*steps), "corrector": replies(), "summarizer": forever("Earlier steps ran.")},
        environment=env, settings={"max_context_tokens": 2200, "max_completion_tokens": 256, "keep_recent_turns": 1,
                                   "use_corrector": False, "max_steps": 12})
    out = await run(graph, log=log)
    assert out["counters"].get("summarizations", 0) >= 2
    agent_calls = [i for i, (role, _) in enumerate(log.calls) if role == "agent"]
    continued = 0
    for (a, b), (before, after) in zip(zip(agent_calls, agent_calls[1:]), zip(log.prompts("agent"), log.prompts("agent")[1:])):
        if any(role == "summarizer" for role, _ in log.calls[a:b]):
            continue
        assert as_pairs(after[:len(before)]) == as_pairs(before), f"agent call after {a} rewrote its prompt"
        continued += 1
    assert continued >= 3


async def test_two_tasks_share_the_agent_system_prompt_and_differ_first_in_the_task():
    env = ScriptedEnvironment(reference="REFERENCE " * 50)
    firsts = []
    for instruction in ("Pay Alice for the playlist.", "Like every song of my favourite album."):
        log = PromptLog()
        await run(build_react_graph(model=replies(code("complete_task()")), environment=env),
                  {"instruction": instruction}, log=log)
        firsts.append(log.prompts("agent")[0])
    (one, two) = firsts
    assert as_pairs(one[:1]) == as_pairs(two[:1]) and "REFERENCE" in str(one[0].content)
    assert one[1].content != two[1].content


async def test_every_role_that_reads_the_reference_opens_with_it():
    """The agent's, the base program's and the corrector's system prompts share the
    reference as their first part, so one cached copy serves all three roles."""
    reference = "REFERENCE_LINE " * 60
    env = ScriptedEnvironment(lambda c, i: fail("KeyError", "'x'"), reference=reference)
    log = PromptLog()
    models = {"agent": forever(code("x['a']")), "corrector": forever("Same.\n" + code("x['a']"))}
    await run(build_scaffold_graph(models=models, environment=env), log=log, max_steps=3)
    await run(build_base_graph(model=replies(code("x['a']")), environment=env), log=log)
    (agent, corrector, base) = (log.prompts("agent")[0], log.prompts("corrector")[0], log.calls[-1][1])
    shared = os.path.commonprefix([str(agent[0].content), str(corrector[0].content), str(base[0].content)])
    assert reference.strip() in shared


async def test_corrector_calls_in_a_loop_differ_only_in_their_last_line():
    """In a repetition loop the corrector is asked about the same code and error again;
    only why (which step it repeats) changes, so it comes last."""
    env = ScriptedEnvironment(lambda c, i: fail("KeyError", "'items'"))
    looping = code("rows = fetch(page=1)\nprint(rows['items'])")
    models = {"agent": forever(looping), "corrector": forever("Same.\n" + looping)}
    log = PromptLog()
    await run(build_scaffold_graph(models=models, environment=env), log=log, max_steps=4)
    requests = [str(p[-1].content) for p in log.prompts("corrector")]
    assert len(requests) >= 2 and requests[0] != requests[1]
    shared = os.path.commonprefix(requests[:2])
    assert "rows['items']" in shared and "KeyError" in shared
    assert "\n" not in requests[0][len(shared):].strip()  # they differ in the last line only


async def test_the_supervisor_continues_one_dialogue_through_plan_final_and_retry():
    env = ScriptedEnvironment(lambda c, i: fail("RuntimeError", "nope"))
    log = PromptLog()
    graph = build_multi_agent_graph(models={"supervisor": replies("general: try it", code("finish()"), code("finish(1)")),
                                            "specialist": forever(code("try_it()"))},
                                    environment=env, specialist_steps=1, settings={"max_steps": 50})
    await run(graph, log=log)
    prompts = log.prompts("supervisor")
    assert len(prompts) == 3  # the plan, the final code, its retry
    assert_appends(prompts, ["general: try it", code("finish()")])
    assert "nope" in str(prompts[2][-1].content)  # the retry is told what the failed code printed


async def test_specialists_share_their_instructions_before_their_name_and_reference():
    log = PromptLog()
    model = replies("1. spotify: find the playlist id\n2. venmo: pay Alice 5 dollars",
                    "RESULT: playlist id 7", "RESULT: paid", code("complete_task()"))
    await run(build_multi_agent_graph(model=model, environment=AppsEnvironment()), log=log)
    (spotify, venmo) = [str(p[0].content) for p in log.prompts("specialist")]
    shared = os.path.commonprefix([spotify, venmo])
    assert "How each step works" in shared and "RESULT:" in shared
    assert "spotify" not in shared and "SPOTIFY_DOCS" in spotify[len(shared):]


async def test_a_specialist_given_the_whole_task_reads_it_once():
    """A plan without sub-goal lines hands the whole task to one specialist; its prompt
    does not repeat the task as "the whole task, for context" (new text is never cached)."""
    log = PromptLog()
    instruction = "Pay Alice 5 dollars on venmo for the spotify playlist."
    model = replies("I am not sure how to split this.", "RESULT: paid", code("complete_task()"))
    await run(build_multi_agent_graph(model=model, environment=AppsEnvironment()), {"instruction": instruction}, log=log)
    (prompt,) = log.prompts("specialist")
    task = str(prompt[1].content)
    assert task.count(instruction) == 1 and "same as your sub-goal" in task


def test_assert_appends_catches_a_rewritten_prompt():
    """The check above can fail: an earlier message that changes is caught."""
    from langchain_core.messages import HumanMessage, SystemMessage

    first = [SystemMessage("s"), HumanMessage("task, memory v1")]
    second = [SystemMessage("s"), HumanMessage("task, memory v2"), AIMessage("r"), HumanMessage("out")]
    try:
        assert_appends([first, second], ["r"])
    except AssertionError as exc:
        assert "rewrote" in str(exc)
    else:
        raise AssertionError("a rewritten prompt passed")
