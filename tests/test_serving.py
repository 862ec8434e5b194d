"""trirole.serving: process records, venvs, the serve command, and the real vLLM server.

Unit tests run in a temporary TRIROLE_HOME and start nothing heavy. Tests marked
``server`` use the session's real embedded vLLM server (tests/fixtures_server.py).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from trirole.serving import local_model, process
from trirole.cli import main
from trirole.serving.local_model import (
    EMBEDDED_MODEL_NAME,
    InsufficientMemoryError,
    check_memory,
    find_local_server,
    serve,
)
from trirole.serving.process import (
    ServerRecord,
    ServerStartError,
    free_port,
    log_tail,
    port_is_free,
    read_record,
    record_path,
    start_server,
    stop_server,
    write_record,
)
from trirole.serving.venvs import VenvInstallError, ensure_venv, read_stamp
from trirole.settings import PRESETS


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIROLE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def listening_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def _contains_run(seq: list[str], run: tuple[str, ...]) -> bool:
    n = len(run)
    return any(tuple(seq[i:i + n]) == run for i in range(len(seq) - n + 1))


# --------------------------------------------------------------------------- dry run

def test_dry_run_embedded_default(home, capsys):
    cmd = serve(dry_run=True, port=8123)
    assert isinstance(cmd, list)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert _contains_run(cmd, ("--served-model-name", EMBEDDED_MODEL_NAME))
    assert _contains_run(cmd, ("--port", "8123"))
    assert _contains_run(cmd, ("--max-model-len", "4096"))
    assert _contains_run(cmd, ("--gpu-memory-utilization", "0.5"))
    assert cmd[cmd.index("--model") + 1].endswith("models/smollm2-135m-instruct")
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("VLLM_CPU_KVCACHE_SPACE=1 ")
    assert "vllm.entrypoints.openai.api_server" in printed
    # nothing was installed or started
    assert not (home / "vllm-env").exists()
    assert read_record("model") is None


def test_the_embedded_server_serves_tool_calls_in_the_pythonic_format(home):
    from trirole.serving.local_model import TOOLS_CHAT_TEMPLATE

    cmd = serve(dry_run=True, port=8123, quiet=True)
    assert "--enable-auto-tool-choice" in cmd and _contains_run(cmd, ("--tool-call-parser", "pythonic"))
    assert _contains_run(cmd, ("--chat-template", str(TOOLS_CHAT_TEMPLATE))) and TOOLS_CHAT_TEMPLATE.is_file()


SMOLLM2_TEMPLATE = (  # SmolLM2-135M-Instruct's own chat template, as its tokenizer ships it
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
RUN_PYTHON = {"type": "function", "function": {"name": "run_python", "description": "Run Python code.", "parameters": {
    "type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}}}


def _render(template: str, **values) -> str:
    import json

    import jinja2

    env = jinja2.Environment()
    env.filters["tojson"] = json.dumps
    return env.from_string(template).render(**values)


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
     {"role": "user", "content": "c"}],
])
def test_the_tools_chat_template_renders_prompts_without_tools_exactly_as_smollm2s_own(messages):
    # trirole's prompts (and the server's prefix cache) do not change with tool calling on.
    from trirole.serving.local_model import TOOLS_CHAT_TEMPLATE

    ours = TOOLS_CHAT_TEMPLATE.read_text()
    for generation_prompt in (True, False):
        expected = _render(SMOLLM2_TEMPLATE, messages=messages, add_generation_prompt=generation_prompt)
        assert _render(ours, messages=messages, add_generation_prompt=generation_prompt) == expected
        assert _render(ours, messages=messages, add_generation_prompt=generation_prompt, tools=None) == expected


def test_the_tools_chat_template_shows_the_tools_and_renders_calls_and_results():
    from trirole.serving.local_model import TOOLS_CHAT_TEMPLATE

    messages = [{"role": "user", "content": "What is 17 * 23?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "run_python",
                                                                 "arguments": {"code": "print(17 * 23)"}}}]},
                {"role": "tool", "content": "391", "tool_call_id": "1"}]
    text = _render(TOOLS_CHAT_TEMPLATE.read_text(), messages=messages, add_generation_prompt=True, tools=[RUN_PYTHON])
    assert "- run_python(code: string): Run Python code." in text
    assert '[run_python(code="...")]' in text  # the format vLLM's pythonic parser reads
    assert '<|im_start|>assistant\n[run_python(code="print(17 * 23)")]<|im_end|>' in text
    assert "<|im_start|>tool\n391<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")


def test_dry_run_embedded_with_other_server_options(home, capsys):
    # What benchmarks/local_model.py --compare varies: the environment and extra arguments.
    cmd = serve(dry_run=True, port=8123, env={"OMP_NUM_THREADS": "2"}, extra_args=["--dtype", "float32"])
    assert _contains_run(cmd, ("--dtype", "float32"))
    printed = capsys.readouterr().out.strip()
    assert "OMP_NUM_THREADS=2 " in printed and "OMP_NUM_THREADS=1" not in printed


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_dry_run_presets(home, capsys, preset):
    p = PRESETS[preset]
    cmd = serve(model=p.model, preset=preset, dry_run=True, port=8124, vllm="/opt/bin/vllm")
    assert cmd[:3] == ["/opt/bin/vllm", "serve", p.model]
    assert _contains_run(cmd, tuple(p.vllm_args))
    assert _contains_run(cmd, ("--port", "8124"))
    assert _contains_run(cmd, ("--host", "127.0.0.1"))
    assert capsys.readouterr().out.strip().startswith(f"/opt/bin/vllm serve {p.model} ")


def test_dry_run_preset_alone_uses_its_model_and_cli_prints_it(home, capsys):
    assert main(["model", "serve", "--preset", "qwen3-8b-awq", "--dry-run", "--vllm", "vllm", "--port", "8125"]) == 0
    out = capsys.readouterr().out
    assert "vllm serve Qwen/Qwen3-8B-AWQ --max-model-len 32768 --quantization awq_marlin" in out
    assert "--port 8125" in out


def test_dry_run_served_model_name(home, capsys):
    cmd = serve(model="Qwen/Qwen3-8B", preset="qwen3-8b-fp16", dry_run=True, port=8126,
                vllm="vllm", served_model_name="qwen3")
    assert _contains_run(cmd, ("--served-model-name", "qwen3"))


def test_unknown_preset(home):
    with pytest.raises(local_model.ServeError, match="unknown preset"):
        serve(preset="nope", dry_run=True)


# --------------------------------------------------------------------------- errors

def test_port_taken_start_server(home, listening_port):
    with pytest.raises(ServerStartError, match=f"port {listening_port} is taken.*--port"):
        start_server("x", [sys.executable, "-c", "pass"], port=listening_port, url="",
                     ready_url="", log_path=home / "x.log")
    assert not port_is_free(listening_port)


def test_port_taken_serve_fails_before_installing(home, listening_port):
    with pytest.raises(ServerStartError, match=f"port {listening_port} is taken"):
        serve(port=listening_port, name="model-unit", quiet=True)
    assert not (home / "vllm-env").exists()


def test_port_taken_cli_one_line_exit_1(home, listening_port, capsys):
    assert main(["model", "serve", "--port", str(listening_port)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"port {listening_port} is taken" in err and "Traceback" not in err


def test_memory_check_message():
    with pytest.raises(InsufficientMemoryError) as e:
        check_memory(4.0, available_gib=1.25)
    msg = str(e.value)
    assert "4.0 GiB" in msg and "1.2 GiB" in msg and "available memory" in msg
    check_memory(4.0, available_gib=8.0)  # enough: no error


def test_memory_check_before_install(home, monkeypatch):
    monkeypatch.setattr(local_model, "mem_available_gib", lambda: 0.5)
    with pytest.raises(InsufficientMemoryError, match="0.5 GiB is available"):
        serve(port=free_port(), name="model-unit", quiet=True)
    assert not (home / "vllm-env").exists()


def test_server_dies_while_starting(home):
    log = home / "logs" / "dies.log"
    code = "import sys; print('loading the model'); print('boom: out of memory'); sys.exit(3)"
    with pytest.raises(ServerStartError) as e:
        start_server("dies", [sys.executable, "-c", code], port=free_port(),
                     url="", ready_url=f"http://127.0.0.1:{free_port()}/", log_path=log,
                     poll_interval_s=0.1)
    msg = str(e.value)
    assert "exited with code 3" in msg and str(log) in msg and "boom: out of memory" in msg
    assert read_record("dies") is None


def test_server_not_ready_times_out_and_is_killed(home):
    port = free_port()
    with pytest.raises(ServerStartError, match="not ready after"):
        start_server("slow", [sys.executable, "-c", "import time; time.sleep(60)"], port=port,
                     url="", ready_url=f"http://127.0.0.1:{port}/", log_path=home / "slow.log",
                     timeout_s=1, poll_interval_s=0.1)


def test_timeout_kills_the_whole_process_group(home):
    port = free_port()
    log = home / "group.log"
    code = ("import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print('child', c.pid, flush=True); time.sleep(60)")
    with pytest.raises(ServerStartError):
        start_server("group", [sys.executable, "-c", code], port=port, url="",
                     ready_url=f"http://127.0.0.1:{port}/", log_path=log, timeout_s=2,
                     poll_interval_s=0.1)
    child = int(next(line for line in log.read_text().splitlines() if line.startswith("child")).split()[1])
    assert not process.pid_alive(child)


def test_cli_status_and_stop_without_server(home, capsys):
    assert main(["model", "status"]) == 1
    assert "no model server running" in capsys.readouterr().out
    assert main(["model", "stop"]) == 0
    assert "no model server was running" in capsys.readouterr().out


# --------------------------------------------------------------------------- records

def test_stale_record_is_removed(home):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    write_record(ServerRecord(name="model", pid=proc.pid, port=1, url="http://127.0.0.1:1/v1",
                              log_path="", started_at=time.time(), command=["x"], extra={}))
    assert record_path("model").exists()
    assert read_record("model") is None
    assert not record_path("model").exists()
    assert find_local_server() is None
    assert stop_server("model") is False


def test_start_read_stop_http_server(home):
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    record = start_server("web", cmd, port=port, url=f"http://127.0.0.1:{port}",
                          ready_url=f"http://127.0.0.1:{port}/", log_path=home / "web.log",
                          timeout_s=30, poll_interval_s=0.1, extra={"k": 1})
    try:
        assert record.extra["k"] == 1
        again = read_record("web")
        assert again is not None and again.pid == record.pid
        assert json.loads(record_path("web").read_text())["port"] == port
        assert not port_is_free(port)
    finally:
        assert stop_server("web") is True
    assert read_record("web") is None
    assert port_is_free(port)


def test_log_tail(tmp_path):
    f = tmp_path / "a.log"
    f.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(f, 3) == "line 97\nline 98\nline 99"
    assert log_tail(tmp_path / "missing.log") == ""


# --------------------------------------------------------------------------- venvs

def test_ensure_venv_stamp_makes_second_call_a_noop(home):
    post = [["{python}", "-c", "import pathlib; p = pathlib.Path('{bin}').parent / 'runs'; "
             "p.write_text(p.read_text() + 'x' if p.exists() else 'x')"]]
    t0 = time.monotonic()
    venv = ensure_venv("tiny", [], post_install=post)
    first = time.monotonic() - t0
    assert (venv / "bin" / "python").exists()
    assert (venv / "runs").read_text() == "x"
    stamp = read_stamp("tiny")
    assert stamp and stamp["requirements"] == [] and "hash" in stamp

    t0 = time.monotonic()
    assert ensure_venv("tiny", [], post_install=post) == venv
    second = time.monotonic() - t0
    assert (venv / "runs").read_text() == "x"  # post-install did not run again
    assert second < 0.5 < first or second < first / 10

    # a different requirement set re-runs the steps (into the same venv)
    post2 = post + [["{python}", "-c", "pass"]]
    ensure_venv("tiny", [], post_install=post2)
    assert (venv / "runs").read_text() == "xx"
    assert read_stamp("tiny")["hash"] != stamp["hash"]


def test_ensure_venv_failure_names_step_and_log(home):
    with pytest.raises(VenvInstallError) as e:
        ensure_venv("broken", [], post_install=[["{python}", "-c", "raise SystemExit(7)"]])
    msg = str(e.value)
    assert "'broken'" in msg and "post-install 1" in msg and "exit code 7" in msg
    assert e.value.log_path.exists()
    assert read_stamp("broken") is None


# --------------------------------------------------------------------------- real server

@pytest.mark.server
def test_server_lists_model(vllm_server):
    assert vllm_server.url.endswith("/v1")
    assert vllm_server.extra["model"] == EMBEDDED_MODEL_NAME
    data = httpx.get(vllm_server.url + "/models", timeout=10).json()
    assert EMBEDDED_MODEL_NAME in [m["id"] for m in data["data"]]


@pytest.mark.server
def test_server_chat_completion_with_usage(vllm_server):
    resp = httpx.post(vllm_server.url + "/chat/completions", timeout=120, json={
        "model": vllm_server.extra["model"],
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 24, "temperature": 0,
    })
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["choices"][0]["message"]["content"].strip()
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5 and 0 < usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.server
def test_server_tokenize_at_root(vllm_server):
    root = vllm_server.url.removesuffix("/v1")
    resp = httpx.post(root + "/tokenize", timeout=30,
                      json={"model": vllm_server.extra["model"], "prompt": "hello world"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == len(body["tokens"]) > 0
    chat = httpx.post(root + "/tokenize", timeout=30, json={
        "model": vllm_server.extra["model"],
        "messages": [{"role": "user", "content": "hello world"}],
    }).json()
    assert chat["count"] > body["count"]  # the chat template adds tokens


@pytest.mark.server
def test_second_serve_reuses_running_server(vllm_server, capsys):
    again = serve(name=vllm_server.name)
    assert again.pid == vllm_server.pid and again.url == vllm_server.url
    assert "reusing" in capsys.readouterr().out
    found = find_local_server(vllm_server.name)
    assert found is not None and found.pid == vllm_server.pid


@pytest.mark.server
def test_serving_other_model_while_running_is_an_error(vllm_server):
    with pytest.raises(local_model.ServeError, match="stop it first"):
        serve(model="Qwen/Qwen3-8B", preset="qwen3-8b-fp16", name=vllm_server.name, vllm="vllm")


def test_a_stale_record_whose_pid_now_belongs_to_another_process_is_not_signalled(home):
    # A server recorded under this pid died; its pid now belongs to an unrelated process
    # (after a reboot or pid reuse): same pid, another start time.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        write_record(ServerRecord(name="model", pid=other.pid, port=1, url="http://127.0.0.1:1/v1", log_path="",
                                  started_at=time.time() - 3600, command=["vllm"], extra={},
                                  create_time=process.psutil.Process(other.pid).create_time() - 3600))
        assert stop_server("model") is False  # nothing of ours was running
        assert not record_path("model").exists()
        write_record(ServerRecord(name="model", pid=other.pid, port=1, url="", log_path="", started_at=0,
                                  command=["vllm"], create_time=1.0))
        assert read_record("model") is None and not record_path("model").exists()
        time.sleep(0.3)
        assert other.poll() is None  # never signalled
    finally:
        other.kill()
        other.wait()


def test_an_owned_server_dies_with_the_process_that_started_it(home, tmp_path):
    # The owner (a python process) starts an owned server, prints its pid, and is SIGKILLed.
    owner_code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from trirole.serving.process import spawn, free_port\n"
        "s = spawn('owned', [sys.executable, '-c', 'import time; time.sleep(120)'], port=free_port(), url='',"
        f" log_path=Path({str(tmp_path / 'owned.log')!r}), owned=True)\n"
        "print(s.proc.pid, flush=True)\n"
        "time.sleep(120)\n")
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, text=True)
    server_pid = int(owner.stdout.readline())
    assert process.pid_alive(server_pid)
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 10
    while process.pid_alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process.pid_alive(server_pid)
