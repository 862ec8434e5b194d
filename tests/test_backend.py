"""Endpoint errors and token counting against real sockets: a closed port, and a scripted
OpenAI-compatible server (a FAKE model endpoint; see scripted_openai.py)."""

import pytest
from fakes import ScriptedEnvironment, code, fail, ok, replies
from langchain_core.messages import HumanMessage
from scripted_openai import ScriptedOpenAIServer

from trirole import build_scaffold_graph
from trirole.backend import (EndpointUnreachable, HeuristicTokenCounter, ModelNotFound, ServerTokenCounter,
                             check_endpoint)
from trirole.graphs.loop import make_resources
from trirole.serving.process import free_port


def test_unreachable_endpoint_names_the_url_and_the_fix():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EndpointUnreachable) as info:
        check_endpoint(url, "m", timeout_s=2)
    assert url in str(info.value) and "trirole model serve" in str(info.value)


def test_wrong_model_name_lists_the_served_models():
    with ScriptedOpenAIServer(lambda m: "hi", model="served-one") as server:
        assert check_endpoint(server.base_url, "served-one") == ["served-one"]
        with pytest.raises(ModelNotFound) as info:
            check_endpoint(server.base_url, "typo-model")
    assert "typo-model" in str(info.value) and "set the setting `model` to served-one" in str(info.value).lower()


async def test_a_run_against_an_unreachable_endpoint_ends_with_a_clear_reason():
    url = f"http://127.0.0.1:{free_port()}/v1"
    graph = build_scaffold_graph(environment=ScriptedEnvironment(),
                                 settings={"base_url": url, "max_retries": 0, "request_timeout_s": 5})
    out = await graph.ainvoke({"task": {"instruction": "x"}})
    assert out["status"] == "model_error"
    assert url in out["status_reason"] and "trirole model serve" in out["status_reason"]


async def test_a_run_with_a_wrong_model_name_ends_with_a_clear_reason():
    with ScriptedOpenAIServer(lambda m: code("complete_task()"), model="served-one") as server:
        graph = build_scaffold_graph(environment=ScriptedEnvironment(),
                                     settings={"base_url": server.base_url, "model": "typo", "max_retries": 0})
        out = await graph.ainvoke({"task": {"instruction": "x"}})
    assert out["status"] == "model_error" and "'typo' was not found" in out["status_reason"]


async def test_a_prompt_over_the_servers_context_ends_context_overflow_naming_the_python_setting():
    # The run's budget (max_context_tokens) is larger than the server's context: the server
    # refuses the prompt (HTTP 400, as vLLM does), and the Python caller is told which setting to change.
    with ScriptedOpenAIServer(lambda m: code("complete_task()"), model="m", max_model_len=300) as server:
        graph = build_scaffold_graph(environment=ScriptedEnvironment(reference="docs " * 400), settings={
            "base_url": server.base_url, "model": "m", "max_retries": 0, "max_context_tokens": 12288})
        out = graph.invoke({"task": {"instruction": "x"}})
    assert out["status"] == "context_overflow", out["status_reason"]
    reason = out["status_reason"]
    assert "max_context_tokens=12288" in reason and "the setting `max_context_tokens`" in reason
    assert "to at most 300" in reason and "--max-context-tokens" not in reason


def test_the_command_line_names_its_flags_where_python_callers_read_settings():
    from trirole.cli import flag_names

    said = "set the setting `max_context_tokens` to at most 300; point the setting `base_url` at it"
    assert flag_names(said) == "set `--max-context-tokens` to at most 300; point `--base-url` at it"


async def test_a_run_through_an_openai_compatible_server_uses_its_usage_and_tokenize():
    with ScriptedOpenAIServer(lambda m: code("complete_task('done')"), model="m") as server:
        graph = build_scaffold_graph(environment=ScriptedEnvironment(), settings={"base_url": server.base_url,
                                                                                  "model": "m"})
        out = await graph.ainvoke({"task": {"instruction": "say done"}})
        assert out["status"] == "completed"
        assert out["usage"]["agent"]["calls"] == 1
        # The server's count (words, in this fake), not trirole's heuristic.
        assert out["usage"]["agent"]["completion_tokens"] == len(code("complete_task('done')").split())
        assert server.requests[0]["chat_template_kwargs"] == {"enable_thinking": False}


async def test_each_role_counts_its_prompts_with_its_own_endpoints_tokenizer():
    # The corrector served by another server (another model, another tokenizer): its
    # prompts are measured there; the agent's on the agent's server.
    env = ScriptedEnvironment(lambda c, i: fail() if "bad" in c else ok())
    with ScriptedOpenAIServer(lambda m: code("bad()") if len(m) <= 2 else code("complete_task()"),
                              model="agent-model") as agent, \
         ScriptedOpenAIServer(lambda m: code("complete_task()"), model="corrector-model") as corrector:
        graph = build_scaffold_graph(environment=env, settings={
            "base_url": agent.base_url, "model": "agent-model",
            "roles": {"corrector": {"base_url": corrector.base_url, "model": "corrector-model"}}})
        out = await graph.ainvoke({"task": {"instruction": "x"}})
    assert out["status"] == "completed" and out["counters"]["corrections"] == 1
    assert agent.tokenized and {body["model"] for body in agent.tokenized} == {"agent-model"}
    assert corrector.tokenized and {body["model"] for body in corrector.tokenized} == {"corrector-model"}


def test_an_injected_role_model_is_measured_by_the_heuristic_and_the_others_by_their_servers():
    graph_roles = {"supervisor": "agent", "specialist": "agent"}
    resources = make_resources(model=None, models={"specialist": replies()}, settings=None, prompts=None,
                               token_counter=None, environment=None, roles=graph_roles)
    settings = resources.defaults
    assert isinstance(resources.counter(settings, "specialist"), HeuristicTokenCounter)
    assert isinstance(resources.counter(settings, "supervisor"), ServerTokenCounter)
    with pytest.raises(ValueError, match="unknown roles \\['agent'\\]"):
        make_resources(model=None, models={"agent": replies()}, settings=None, prompts=None,
                       token_counter=None, environment=None, roles=graph_roles)


async def test_server_counter_falls_back_to_the_heuristic_without_tokenize():
    messages = [HumanMessage("one two three")]
    with ScriptedOpenAIServer(lambda m: "", tokenize=True) as server:
        counter = ServerTokenCounter(server.base_url, "m")
        assert await counter.acount(messages) == 7 and counter.exact
    with ScriptedOpenAIServer(lambda m: "", tokenize=False) as server:
        counter = ServerTokenCounter(server.base_url, "m")
        assert await counter.acount(messages) == HeuristicTokenCounter().count(messages) and not counter.exact


def test_a_graph_runs_again_in_a_new_event_loop():
    """Each asyncio.run() is a new event loop; HTTP clients bound to a closed one must not
    be reused (langchain-openai caches its default client per base URL)."""
    import asyncio

    with ScriptedOpenAIServer(lambda m: code("complete_task('done')"), model="m") as server:
        graph = build_scaffold_graph(environment=ScriptedEnvironment(),
                                     settings={"base_url": server.base_url, "model": "m", "max_retries": 0})
        for _ in range(2):
            out = asyncio.run(graph.ainvoke({"task": {"instruction": "say done"}}))
            assert out["status"] == "completed", out["status_reason"]
        fresh = build_scaffold_graph(environment=ScriptedEnvironment(),
                                     settings={"base_url": server.base_url, "model": "m", "max_retries": 0})
        assert asyncio.run(fresh.ainvoke({"task": {"instruction": "again"}}))["status"] == "completed"
