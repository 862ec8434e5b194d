"""The artifact store: every credential kept verbatim, ids kept with their records within a
share of the prompt budget.

The corpus (tests/data/artifacts/) is REAL output of the AppWorld engine on the offline
pack (captured once by tests/data/artifacts/capture.py, labelled by the engine's own
values) plus hand-written plain-text shapes, each labelled with the secrets it holds.
The graph tests drive the scaffold with FAKES (LangChain's fake chat model and the
scripted in-memory environment of fakes.py): they test the state, the routing and the
prompt, not a model or an environment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import PromptLog, ScriptedEnvironment, code, ok, replies
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from trirole import build_react_graph, build_scaffold_graph
from trirole.artifacts import extract_artifacts, format_artifacts, is_secret
from trirole.backend import HeuristicTokenCounter
from trirole.middleware import TriroleSummarizerMiddleware
from trirole.nodes.context import artifact_block_chars
from trirole.settings import TriroleSettings
from trirole.state import merge_artifacts

DATA = Path(__file__).parent / "data" / "artifacts"
ARTIFACTS_HEADER = "Artifacts (exact values, always use these verbatim):\n"
# A false positive costs one line of the block (secrets are never dropped), not a lost
# credential; the negatives in the corpus ("the token is invalid", max_tokens=512, a guessed
# password in a traceback, promo and zip codes) must stay out, so at most two may slip.
MAX_FALSE_POSITIVES = 2


def artifact_block(prompt) -> str:
    """The artifact block of an agent prompt (the end of its task message), or ""."""
    task = str(prompt[1].content)
    return task.split(ARTIFACTS_HEADER)[1] if ARTIFACTS_HEADER in task else ""


def corpus() -> list[dict]:
    return [s for name in ("appworld.json", "shapes.json") for s in json.loads((DATA / name).read_text())]


def score(samples: list[dict]) -> tuple[int, list[tuple[str, str]], list[tuple[str, str]]]:
    """(true positives, missed (id, secret), false positives (id, value)) over `samples`."""
    hits, missed, extra = 0, [], []
    for sample in samples:
        found = {a["value"] for a in extract_artifacts(sample["output"], step=1, source="step 1 output",
                                                       code=sample["code"]).values() if is_secret(a)}
        hits += len(found & set(sample["secrets"]))
        missed += [(sample["id"], s) for s in sample["secrets"] if s not in found]
        extra += [(sample["id"], v) for v in sorted(found - set(sample["secrets"]))]
    return hits, missed, extra


def test_the_corpus_holds_real_appworld_output_and_every_shape():
    samples = corpus()
    ids = {s["id"] for s in samples}
    assert {"appworld/account_passwords", "appworld/login_response", "appworld/song_library_page0",
            "appworld/error_wrong_password", "appworld/reset_email"} <= ids
    assert sum(len(s["secrets"]) for s in samples) >= 40
    assert any(not s["secrets"] for s in samples)  # negatives too


def test_every_secret_of_the_corpus_is_found_and_false_positives_are_few():
    hits, missed, extra = score(corpus())
    print(f"\nsecrets found {hits}, missed {len(missed)}, false positives {len(extra)}: {extra}")
    assert missed == []
    assert len(extra) <= MAX_FALSE_POSITIVES, extra


def test_a_secret_keeps_its_exact_value_and_where_it_came_from():
    text = "{'account_name': 'venmo', 'password': 'it\\'s \"pä ss\" ✓'}"
    (artifact,) = [a for a in extract_artifacts(text, step=4, source="step 4 output").values() if is_secret(a)]
    assert artifact["value"] == "it's \"pä ss\" ✓"
    assert artifact["source"].startswith("step 4 output") and artifact["record"] == 'account_name="venmo"'
    block = format_artifacts({"k": artifact}, max_chars=10)  # secrets ignore the budget
    assert "it's \"pä ss\" ✓" in block and 'account_name="venmo"' in block


def test_ids_are_kept_with_their_record_and_code_use_is_recorded():
    listing = json.dumps([{"song_id": 12, "title": "Paper Meadow", "artist_id": 8, "duration": 172}])
    found = extract_artifacts(listing, step=1, source="step 1 output")
    (record,) = [a for a in found.values() if a["kind"] == "record"]
    assert record["record"] == 'song_id=12 artist_id=8 title="Paper Meadow"'
    state = merge_artifacts({}, found)
    state = merge_artifacts(state, extract_artifacts("done", step=3, source="step 3 output",
                                                     code="apis.spotify.like_song(song_id=12)"))
    assert state["record:song_id=12"]["used_at"] == 3
    assert not any(a["kind"] == "use" for a in state.values())  # marks are applied, not stored
    json.dumps(state)  # checkpointers store it as JSON


def test_an_old_unused_listing_leaves_the_block_and_a_used_record_stays():
    state: dict = {}
    for step in range(1, 4):
        songs = [{"song_id": step * 1000 + i, "title": f"Song {step}-{i}"} for i in range(100)]
        state = merge_artifacts(state, extract_artifacts(json.dumps(songs), step=step, source=f"step {step} output"))
        if step == 1:
            state = merge_artifacts(state, extract_artifacts('{"access_token": "T0K-1"}', step=1, source="s"))
        if step == 2:
            state = merge_artifacts(state, extract_artifacts("ok", step=2, source="s", code="play(song_id=1007)"))
    block = format_artifacts(state, max_chars=1500)
    assert len(block) <= 1500
    assert "T0K-1" in block and "song_id=1007" in block and "song_id=3000" in block
    assert "song_id=1050" not in block and "not shown" in block


def test_a_token_printed_bare_is_named_by_the_code_that_printed_it():
    code_text = "token = apis.venmo.login(username='ada', password=pw)['access_token']\nprint('ok')\nprint(token)"
    (artifact,) = [a for a in extract_artifacts("ok\ntok-bare-91xzQ7\n", step=2, source="step 2 output",
                                                code=code_text).values() if is_secret(a)]
    assert (artifact["name"], artifact["kind"], artifact["value"]) == ("token", "access_token", "tok-bare-91xzQ7")
    assert "print(token)" in artifact["source"]


def test_artifacts_of_an_older_checkpoint_still_render():
    old = {"playlist_id=42": {"name": "playlist_id", "kind": "id", "value": "42", "source": "step 1", "step": 1},
           "access_token=T0K": {"name": "access_token", "kind": "access_token", "value": "T0K", "source": "step 1",
                                "step": 1}}
    block = format_artifacts(merge_artifacts(old, extract_artifacts("x", step=2, source="s", code="f(playlist_id=42)")))
    assert "T0K" in block and "playlist_id=42 (step 1, used at step 2)" in block


def test_artifact_share_is_validated_at_build_time():
    with pytest.raises(ValueError, match="artifact_share must be in"):
        TriroleSettings(artifact_share=1.5)
    with pytest.raises(ValueError, match="artifact_share must be in"):
        build_scaffold_graph(settings={"artifact_share": 0})


# Credentials in several shapes, one per step; step 3's token is printed bare by the code.
SHAPES = [
    ("print(login_log)", "2024-06-14 INFO login ok\naccess_token: tok-log-5f4e3d2c1b\n", "tok-log-5f4e3d2c1b"),
    ("print(sms)", "Your verification code is 482913.", "482913"),
    ("token = apis.venmo.login(username='ada', password=pw)['access_token']\nprint(token)",
     "tok-bare-91xzQ7", "tok-bare-91xzQ7"),
    ("print(env)", "export SERVICE_API_KEY=sk_live_51HabcDEF\n", "sk_live_51HabcDEF"),
    ("print(headers)", "Authorization: Bearer ya29.a0AfH6SMBx-3kQ\n", "ya29.a0AfH6SMBx-3kQ"),
    ("print(creds)", "{'account_name': 'venmo', 'password': 'pä ss \"wörd\" 1'}", 'pä ss "wörd" 1'),
]


async def test_every_credential_shape_is_verbatim_in_every_prompt_after_summarization():
    steps = [code(c) for c, _, _ in SHAPES] + [code(f"filler_{i}()") for i in range(4)] + [code("complete_task()")]

    def script(code_text: str, i: int) -> dict:
        output = SHAPES[i][1] if i < len(SHAPES) else "nothing new"
        return ok(output + "\n" + "filler line of a long listing\n" * 40)

    log = PromptLog()
    graph = build_scaffold_graph(
        models={"agent": replies(*steps), "corrector": replies(), "summarizer": replies(*["ok"] * 20)},
        environment=ScriptedEnvironment(script),
        settings={"max_context_tokens": 2200, "max_completion_tokens": 256, "keep_recent_turns": 1,
                  "use_corrector": False, "max_steps": 12})
    out = await graph.ainvoke({"task": {"instruction": "Log in and report."}},
                              config={"callbacks": [log], "recursion_limit": 500})
    assert out["counters"].get("summarizations", 0) >= 2
    prompts = log.prompts("agent")
    # Agent prompt i follows i executions: every secret shown by then is in it, verbatim,
    # whatever the summary says: in the artifact block once its turn was summarized,
    # before that in its turn.
    for i, prompt in enumerate(prompts):
        block, text = artifact_block(prompt), PromptLog.text(prompt)
        summarized = prompt[2:] and "Summary of the earlier steps" in str(prompt[1].content)
        for step, (_, _, secret) in enumerate(SHAPES[:i]):
            assert secret in text, f"{secret!r} missing from agent prompt {i}"
            if summarized and f"Output of step {step + 1}" not in text:
                assert secret in block, f"{secret!r} left agent prompt {i} with its summarized turn"
    last = prompts[-1]
    assert "Summary of the earlier steps" in PromptLog.text(last)
    assert all(secret in artifact_block(last) for _, _, secret in SHAPES)
    # The useless summary did not keep it: the token survives through the artifact store.
    assert "tok-log-5f4e3d2c1b" not in PromptLog.text(last).replace(artifact_block(last), "")


async def test_a_secret_in_the_clipped_middle_of_an_output_is_restated():
    listing = "row of a long listing\n" * 200
    env = ScriptedEnvironment(lambda c, i: ok(listing + "access_token: tok-middle-77aa99bb\n" + listing))
    log = PromptLog()
    graph = build_scaffold_graph(models={"agent": replies(code("print(everything)"), code("complete_task()")),
                                         "corrector": replies(), "summarizer": replies()},
                                 environment=env, settings={"max_observation_chars": 1200, "use_corrector": False})
    await graph.ainvoke({"task": {"instruction": "Find the token."}}, config={"callbacks": [log]})
    observation = str(log.prompts("agent")[-1][-1].content)
    assert "characters cut" in observation
    assert "Kept from the part of this output that was cut" in observation and "tok-middle-77aa99bb" in observation


async def test_a_prompt_cut_to_fit_without_a_summarizer_keeps_the_artifacts_of_the_dropped_turns():
    steps = [code(f"step_{i}()") for i in range(7)] + [code("complete_task()")]

    def script(code_text: str, i: int) -> dict:
        secret = 'password: "first-Pa55-w0rd"\n' if i == 0 else ""
        return ok(secret + "a line of a long listing\n" * 60)

    log = PromptLog()
    graph = build_react_graph(model=replies(*steps), environment=ScriptedEnvironment(script),
                              settings={"max_context_tokens": 2200, "max_completion_tokens": 256, "max_steps": 8})
    await graph.ainvoke({"task": {"instruction": "Log in."}}, config={"callbacks": [log], "recursion_limit": 500})
    prompts = log.prompts("agent")
    cut = [p for p in prompts if "Output of step 1" not in PromptLog.text(p) and len(p) > 2]
    assert cut, "no prompt was cut: the test's budget is too large"
    assert all("first-Pa55-w0rd" in artifact_block(p) for p in cut)


def listing(step: int, per_step: int = 150) -> str:
    songs = [{"song_id": step * 1000 + i, "title": f"Song number {i} of page {step}", "artist_id": 500 + i,
              "duration": 200 + i} for i in range(per_step)]
    return json.dumps(songs, indent=1)


async def test_a_long_listing_episode_keeps_the_block_within_its_share():
    settings = {"max_context_tokens": 4096, "max_completion_tokens": 512, "max_steps": 8, "use_corrector": False,
                "artifact_share": 0.2}
    steps = [code('print(apis.supervisor.show_account_passwords())')]
    steps += [code(f"print(apis.spotify.show_song_library(page_index={i}))") for i in range(1, 7)]
    steps += [code("complete_task()")]

    def script(code_text: str, i: int) -> dict:
        if i == 0:
            return ok('[{"account_name": "spotify", "password": "UBGeLfLSrq"}]')
        return ok(listing(i))

    log = PromptLog()
    graph = build_scaffold_graph(models={"agent": replies(*steps), "corrector": replies(),
                                         "summarizer": replies(*["ok"] * 20)},
                                 environment=ScriptedEnvironment(script), settings=settings)
    await graph.ainvoke({"task": {"instruction": "List my songs."}}, config={"callbacks": [log], "recursion_limit": 500})
    limit = artifact_block_chars(TriroleSettings(**settings))
    budget = TriroleSettings(**settings).prompt_budget
    counter = HeuristicTokenCounter()
    prompts = log.prompts("agent")
    assert len(prompts) == 8
    with_block = [prompt for prompt in prompts if artifact_block(prompt)]
    assert len(with_block) >= 2  # the summarizer fired and the block stood in for the turns
    for prompt in prompts[1:]:
        assert "UBGeLfLSrq" in PromptLog.text(prompt)
    for prompt in with_block:
        block = artifact_block(prompt)
        assert len(block) <= limit
        assert counter.count([HumanMessage(block)]) - counter.tokens_per_message <= 0.2 * budget
        assert "UBGeLfLSrq" in block
    last = artifact_block(prompts[-1])
    assert 'song_id=6000 artist_id=500 title="Song number 0 of page 6"' in last  # the newest listing, with titles
    assert "song_id=1000 " not in last                                         # the oldest left the block


async def test_the_middleware_keeps_a_token_the_code_printed_bare():
    messages = [HumanMessage("Log in to venmo."),
                AIMessage("", tool_calls=[{"name": "run_python", "id": "c1", "args": {
                    "code": "token = apis.venmo.login(username='ada', password=pw)['access_token']\nprint(token)"}}]),
                ToolMessage("tok-bare-91xzQ7", tool_call_id="c1"),
                AIMessage("Logged in." + " filler" * 200), HumanMessage("go on" + " filler" * 200),
                AIMessage("ok"), HumanMessage("next")]
    middleware = TriroleSummarizerMiddleware(replies("A summary that forgot the token."), max_tokens=300,
                                             keep_messages=2)
    update = await middleware.abefore_model({"messages": messages}, None)
    summary = next(m for m in update["messages"] if isinstance(m, HumanMessage)
                   and m.additional_kwargs.get("lc_source") == "summarization")
    assert "tok-bare-91xzQ7" in summary.content
