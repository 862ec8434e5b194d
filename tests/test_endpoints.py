"""Several model replicas behind one chat model (trirole.backend.replicas).

The replicas are FAKE model servers (tests/scripted_openai.py) on loopback, reached over
real HTTP by the real langchain-openai client: routing, failover and counting are real,
the answers are scripted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import replace

import pytest
from langchain_core.messages import HumanMessage
from scripted_openai import ScriptedOpenAIServer

from trirole.backend import check_endpoint, make_chat_model
from trirole.backend.replicas import PooledChatModel, ReplicaPool
from trirole.evals.report import replica_report
from trirole.evals.results import record_replica_counts
from trirole.settings import parse_base_urls
from trirole.settings import TriroleSettings


def settings_for(base_url: str, **changes) -> TriroleSettings:
    return replace(TriroleSettings(), base_url=base_url, model="scripted-model", **changes)


def closed_port_url() -> str:
    with socket.socket() as sock:  # bound, then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_base_url_lists_and_files_parse_and_bad_ones_fail_in_one_line(tmp_path):
    assert parse_base_urls(" http://a:1/v1/, http://b:2/v1 ,http://a:1/v1") == ("http://a:1/v1", "http://b:2/v1")
    listing = tmp_path / "replicas.txt"
    listing.write_text("# one per GPU\nhttp://a:1/v1\n\nhttp://b:2/v1  # second\n")
    assert parse_base_urls(f"@{listing}") == ("http://a:1/v1", "http://b:2/v1")
    with pytest.raises(ValueError, match="cannot be read"):
        parse_base_urls(f"@{tmp_path / 'missing.txt'}")
    with pytest.raises(ValueError) as info:
        settings_for("http://a:1/v1,localhost:8000")
    assert "'localhost:8000' is not an http(s) URL" in str(info.value) and "\n" not in str(info.value)


def test_the_pool_picks_the_least_loaded_replica_and_benches_a_failed_one_for_its_cooldown():
    clock = Clock()
    pool = ReplicaPool(["a", "b", "c"], cooldown_s=30, clock=clock)
    assert [pool.acquire() for _ in range(3)] == ["a", "b", "c"]  # one each while all are busy
    pool.release("b", ok=True, prompt_tokens=5, completion_tokens=2)
    assert pool.acquire() == "b"  # b is the only idle one
    pool.release("a", ok=False)
    pool.release("b", ok=True)
    pool.release("c", ok=True)
    assert pool.acquire() == "c"  # a failed (cooling down) and b served more
    assert pool.acquire() == "b"
    pool.release("c", ok=True)
    pool.release("b", ok=True)
    clock.now += 31
    assert pool.acquire() == "a"  # back after its cooldown
    assert pool.counts()["a"] == {"requests": 2, "failures": 1, "prompt_tokens": 0, "completion_tokens": 0}
    assert pool.counts()["b"]["prompt_tokens"] == 5


async def test_concurrent_calls_spread_over_the_replicas_and_the_counts_say_who_served_what(tmp_path):
    with ScriptedOpenAIServer(lambda m: "one two three", latency_s=0.3) as first, \
            ScriptedOpenAIServer(lambda m: "one two three", latency_s=0.3) as second:
        model = make_chat_model(settings_for(f"{first.base_url},{second.base_url}"), "agent")
        assert isinstance(model, PooledChatModel)
        replies = await asyncio.gather(*(model.ainvoke([HumanMessage(content=f"q {i}")]) for i in range(4)))
        assert all(r.content == "one two three" for r in replies)
        assert (len(first.requests), len(second.requests)) == (2, 2)  # least in flight, not all to the first
        counts = model.pool.counts()
        assert counts[first.base_url]["requests"] == 2 and counts[second.base_url]["completion_tokens"] >= 6
        record_replica_counts(tmp_path, counts)
        record_replica_counts(tmp_path, counts)  # a resumed run adds up
        table = replica_report(tmp_path)
        assert f"| {first.base_url} | 4 | 0 |" in table


async def test_a_failing_replica_is_taken_out_and_retried_after_its_cooldown():
    down = threading.Event()
    down.set()

    def flaky(messages):
        if down.is_set():
            raise RuntimeError("replica crashed")  # the server drops the connection: no answer
        return "from flaky"

    clock = Clock()
    with ScriptedOpenAIServer(flaky) as bad, ScriptedOpenAIServer(lambda m: "from good") as good:
        replicas = {url: make_chat_model(settings_for(url, max_retries=0), "agent") for url in (bad.base_url,
                                                                                               good.base_url)}
        pool = ReplicaPool(replicas, cooldown_s=30, clock=clock)
        model = PooledChatModel(pool=pool, replicas=replicas, attempts=2)
        assert (await model.ainvoke("hi")).content == "from good"  # tried the first, moved on
        down.clear()
        assert (await model.ainvoke("hi")).content == "from good"  # the failed one sits out its cooldown
        clock.now += 31
        assert (await model.ainvoke("hi")).content == "from flaky"  # and is tried again after it
        assert pool.counts()[bad.base_url] == {"requests": 2, "failures": 1, "prompt_tokens": 1,
                                               "completion_tokens": 2}
        assert pool.counts()[good.base_url]["requests"] == 2


def test_preflight_of_replicas_tolerates_a_down_one_but_not_a_wrong_model(capsys):
    with ScriptedOpenAIServer(lambda m: "x") as up, ScriptedOpenAIServer(lambda m: "x", model="other") as wrong:
        assert check_endpoint(f"{closed_port_url()},{up.base_url}", "scripted-model") == ["scripted-model"]
        assert "a model replica is down" in capsys.readouterr().err
        with pytest.raises(Exception, match="not served"):
            check_endpoint(f"{up.base_url},{wrong.base_url}", "scripted-model")


def test_a_role_with_its_own_endpoint_keeps_it():
    settings = settings_for("http://127.0.0.1:1/v1,http://127.0.0.1:2/v1",
                            roles={"corrector": {"base_url": "http://127.0.0.1:3/v1"}})
    assert isinstance(make_chat_model(settings, "agent"), PooledChatModel)
    corrector = make_chat_model(settings, "corrector")
    assert not isinstance(corrector, PooledChatModel) and corrector.openai_api_base == "http://127.0.0.1:3/v1"


def test_node_local_endpoints_name_each_workers_own_node():
    from trirole.evals.ray_runner import on_node

    settings = settings_for("http://{node_ip}:8000/v1,http://{node_ip}:8001/v1",
                            roles={"corrector": {"base_url": "http://{node_ip}:9000/v1", "model": "c"}})
    local = on_node(settings, "10.1.2.3")
    assert local.base_url == "http://10.1.2.3:8000/v1,http://10.1.2.3:8001/v1"
    assert local.endpoint("corrector") == replace(local.endpoint("corrector"), base_url="http://10.1.2.3:9000/v1",
                                                  model="c")


async def test_an_evaluation_over_two_replicas_uses_both_and_its_report_says_which_served_what(tmp_path):
    from fakes import ScriptedEnvironment

    from trirole.evals import Dataset, EvalTask, evaluate, write_report

    answer = "Done.\n```python\ncomplete_task(1)\n```"
    tasks = Dataset(name="fake", env="python", tasks=tuple(EvalTask(id=f"x{i}", env="python", difficulty=1,
                                                                    scenario=f"x{i}") for i in range(4)))
    with ScriptedOpenAIServer(lambda m: answer, latency_s=0.2) as first, \
            ScriptedOpenAIServer(lambda m: answer, latency_s=0.2) as second:
        summary = await evaluate(["base"], tasks, tmp_path, settings=settings_for(f"{first.base_url},{second.base_url}"),
                                 concurrency=2, environment=lambda s: ScriptedEnvironment(), progress=False)
        assert summary.ran == 4 and first.requests and second.requests
        served = json.loads((tmp_path / "endpoints.json").read_text())
        assert {url: c["requests"] for url, c in served.items()} == {first.base_url: len(first.requests),
                                                                     second.base_url: len(second.requests)}
    report = write_report(tmp_path)["markdown"].read_text()
    assert "## Model replicas" in report and first.base_url in report and second.base_url in report
