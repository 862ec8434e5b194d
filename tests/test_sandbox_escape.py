"""Escape attempts against the python sandbox and the AppWorld server, each under the REAL
bubblewrap (``bwrap``, installed by ``make setup``): real worker subprocesses, a real
loopback listener, the real home folder, the real AppWorld server (tests marked
``appworld``, fixture `appworld_server`). Each attempt must fail with an exception the
agent reads, and the episode must go on (the next step still runs, variables kept unless
the worker had to restart). The graph-level test uses LangChain's fake chat model for the
agent only; the sandbox behind it is real.

Control tests run the same attempts with ``isolation="process"`` where it shows that the
attempt would work without bubblewrap, so an escape test cannot pass for a wrong reason.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
from pathlib import Path

import psutil
import pytest
from fakes import code, replies

from trirole import TriroleSettings, build_scaffold_graph
from trirole.environments import EnvironmentFailure
from trirole.environments.python_sandbox import PythonSandbox
from trirole.trace import JsonlTrace, read_trace
from trirole.transcript import TranscriptPrinter, print_run

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (`make setup` installs it)")


@pytest.fixture
async def box():
    async with PythonSandbox(step_timeout_s=10, memory_limit_mb=512) as sandbox:
        info = await sandbox.reset({"instruction": "escape", "context": {"a": 1}})
        assert info.isolation == "bwrap"
        await sandbox.execute("kept = 'still here'")
        yield sandbox


async def refused(sandbox: PythonSandbox, attempt: str, *errors: str) -> dict:
    """Run `attempt`, check it failed with one of `errors`, and that the episode goes on
    with its variables."""
    result = await sandbox.execute(attempt)
    assert result["error"], result["output"]
    assert result["error_type"] in errors, result["output"]
    after = await sandbox.execute("kept")
    assert after["output"] == "'still here'\n", after["output"]
    return result


@pytest.fixture
def home_secret():
    """A file in the user's real home folder, removed afterwards."""
    path = Path.home() / f".trirole-sandbox-test-{secrets.token_hex(4)}"
    path.write_text("secret-in-home")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 (free port), like a user's local database or server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    try:
        yield server
    finally:
        server.close()


# ------------------------------------------------------------------- the escape attempts

async def test_writing_outside_the_scratch_folder_fails(box, tmp_path):
    target = tmp_path / "escaped.txt"
    await refused(box, f"open({str(target)!r}, 'w').write('x')", "FileNotFoundError", "PermissionError", "OSError")
    await refused(box, "open('/usr/escaped.txt', 'w')", "OSError", "PermissionError")
    await refused(box, "open('/escaped.txt', 'w')", "OSError", "PermissionError")
    assert not target.exists() and not Path("/usr/escaped.txt").exists() and not Path("/escaped.txt").exists()


async def test_the_users_home_is_invisible(box, home_secret):
    await refused(box, f"open({str(home_secret)!r}).read()", "FileNotFoundError", "PermissionError")
    listing = await box.execute(f"import os\nos.path.exists({str(Path.home())!r}) and os.listdir({str(Path.home())!r})")
    assert home_secret.name not in listing["output"]


async def test_the_project_and_trirole_are_invisible(box):
    project = Path(__file__).resolve().parents[1]
    await refused(box, f"open({str(project / 'pyproject.toml')!r}).read()", "FileNotFoundError", "PermissionError")
    await refused(box, "import trirole", "ModuleNotFoundError")


async def test_a_loopback_listener_is_unreachable(box, listener):
    port = listener.getsockname()[1]
    await refused(box, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)",
                  "ConnectionRefusedError", "OSError")
    with pytest.raises(BlockingIOError):  # nothing ever connected
        listener.accept()
    await refused(box, "socket.create_connection(('example.com', 80), timeout=3)", "gaierror", "OSError")


async def test_a_fork_loop_is_contained(box):
    result = await refused(box, "import os\nwhile True:\n    os.fork()", "BlockingIOError", "OSError")
    assert "Resource temporarily unavailable" in result["output"]
    assert "process limit was used up: every other process in it was stopped" in result["output"]
    # The forked copies die, and are reaped (the worker reaps its own children, bubblewrap's
    # init the orphans, within moments; an agent's next step comes after a model call).
    for _ in range(100):
        count = await box.execute("sum(p.isdigit() for p in os.listdir('/proc'))")
        if int(count["output"]) <= 2:
            break
        await asyncio.sleep(0.1)
    assert int(count["output"]) <= 2, count["output"]
    # Then threads (which count as processes) start again.
    threads = await box.execute("import threading\nts = [threading.Thread(target=sum, args=([1],)) "
                                "for _ in range(8)]\n[t.start() for t in ts]; [t.join() for t in ts]; len(ts)")
    assert threads["output"] == "8\n", threads["output"]


async def test_a_1_gib_write_fails(box):
    await refused(box, "with open('big', 'wb') as f:\n    for _ in range(1024):\n        f.write(b'x' * 2**20)",
                  "OSError")
    # Many smaller files hit the scratch folder's size instead of the per-file limit.
    await refused(box, "for i in range(16):\n    with open(f'part{i}', 'wb') as f:\n"
                       "        for _ in range(100):\n            f.write(b'x' * 2**20)", "OSError")
    cleaned = await box.execute("import os\nfor n in os.listdir('.'):\n    os.remove(n)\n"
                                "open('small', 'w').write('ok'); open('small').read()")
    assert cleaned["output"] == "'ok'\n", cleaned["output"]


async def test_signalling_the_parent_and_trirole_fails(box):
    await refused(box, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "PermissionError")
    await refused(box, f"os.kill({os.getpid()}, signal.SIGKILL)", "ProcessLookupError", "PermissionError")
    await refused(box, "os.kill(1, signal.SIGKILL)", "PermissionError")  # the sandbox's init
    os.kill(os.getpid(), 0)  # still alive


async def test_other_processes_are_invisible(box):
    listing = await box.execute("import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit())")
    pids = eval(listing["output"])
    assert len(pids) <= 3 and os.getpid() not in pids  # bwrap's init and the worker
    await refused(box, f"open('/proc/{os.getpid()}/environ').read()", "FileNotFoundError", "PermissionError")


async def test_ordinary_code_still_works(box):
    result = await box.execute(
        "import json, re, threading, collections, decimal, sqlite3, tempfile, subprocess, sys\n"
        "out = []\n"
        "t = threading.Thread(target=lambda: out.append(sum(range(10))))\n"
        "t.start(); t.join()\n"
        "open('notes.txt', 'w').write(json.dumps({'n': out[0]}))\n"
        "with tempfile.NamedTemporaryFile(dir='.') as tmp:\n"
        "    tmp.write(b'x')\n"
        "child = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout\n"
        "json.load(open('notes.txt'))['n'], child.strip(), sqlite3.connect(':memory:').execute('select 1').fetchone()")
    assert result["output"] == "(45, '42', (1,))\n", result["output"]


async def test_a_crash_restarts_a_fresh_sandbox_and_the_episode_goes_on(box):
    await box.execute("open('mine.txt', 'w').write('x')")
    crashed = await box.execute("import os\nos._exit(3)")
    assert crashed["error_type"] == "WorkerCrashed" and "files you wrote were reset" in crashed["error_message"]
    after = await box.execute("import os\nsorted(os.listdir('.')), context")
    assert after["output"].startswith("([") and "mine.txt" not in after["output"] and "{'a': 1}" in after["output"]


def _host_processes_with(marker: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


async def _gone(marker: str) -> bool:
    """Whether the processes are gone within 30 s (the kernel ends a pid namespace's
    processes after its init died, asynchronously: slowly on a loaded machine)."""
    for _ in range(300):
        if not _host_processes_with(marker):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_processes_the_agent_leaves_die_with_the_sandbox():
    marker = f"{secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"  # a unique sleep length
    async with PythonSandbox(step_timeout_s=2) as sandbox:
        await sandbox.reset({"instruction": "leave processes behind"})
        started = await sandbox.execute(f"import subprocess\np = subprocess.Popen(['sleep', '{marker}'], "
                                        f"start_new_session=True)\np.pid")
        assert not started["error"], started["output"]
        assert _host_processes_with(marker)
        timed_out = await sandbox.execute("while True:\n    pass")  # the restart kills the sandbox
        assert timed_out["error_type"] == "TimeoutError"
        assert await _gone(marker)
        again = await sandbox.execute(f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'], "
                                      f"start_new_session=True)")
        assert not again["error"], again["output"]
        assert _host_processes_with(marker)
    assert await _gone(marker)  # closed: gone too


def test_the_cli_chooses_the_isolation():
    from trirole.cli import build_parser, settings_from_args

    common = ["run", "--instruction", "x", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    assert settings_from_args(build_parser().parse_args(common)).isolation == "bwrap"
    chosen = settings_from_args(build_parser().parse_args([*common, "--isolation", "process"]))
    assert chosen.isolation == "process"


async def test_input_files_are_placed_in_the_scratch_folder():
    task = {"id": "read-file", "instruction": "Sum the numbers in numbers.txt.", "files": {"numbers.txt": "1\n2\n3\n"}}
    async with PythonSandbox(tasks=[task], step_timeout_s=10) as sandbox:
        info = await sandbox.reset({"instruction": "", "task_id": "read-file"})
        assert "numbers.txt" in info.reference
        result = await sandbox.execute("sum(int(x) for x in open('numbers.txt'))")
        assert result["output"] == "6\n"


# ------------------------------------------------------- the setting, and what says which

async def test_process_isolation_only_when_asked_and_it_is_unconfined(home_secret, listener):
    assert TriroleSettings().isolation == "bwrap" and PythonSandbox().isolation == "bwrap"
    with pytest.raises(ValueError, match="isolation must be one of bwrap, process"):
        TriroleSettings(isolation="docker")
    async with PythonSandbox(step_timeout_s=10, isolation="process") as sandbox:
        info = await sandbox.reset({"instruction": "control"})
        assert info.isolation == "process"
        # The control: without bubblewrap the same attempts succeed.
        read = await sandbox.execute(f"open({str(home_secret)!r}).read()")
        assert read["output"] == "'secret-in-home'\n"
        port = listener.getsockname()[1]
        connect = await sandbox.execute(f"import socket\nsocket.create_connection(('127.0.0.1', {port})).close()")
        assert connect["error"] is False, connect["output"]


@pytest.mark.parametrize("how", ["path", "PATH"])
async def test_missing_bwrap_is_a_clear_error_never_a_downgrade(how, tmp_path, monkeypatch):
    if how == "path":
        sandbox = PythonSandbox(bwrap=str(tmp_path / "no-bwrap"))
    else:
        monkeypatch.setenv("PATH", str(tmp_path))
        sandbox = PythonSandbox()
    async with sandbox:
        with pytest.raises(EnvironmentFailure) as caught:
            await sandbox.reset({"instruction": "x"})
    message = str(caught.value)
    assert "apt-get install bubblewrap" in message and "make setup" in message and 'isolation="process"' in message
    assert "\n" not in message


async def test_a_run_goes_on_after_refusals_and_says_its_isolation(tmp_path, home_secret):
    agent = replies(code(f"print(open({str(home_secret)!r}).read())"),
                    code("import os\nos.kill(os.getppid(), 9)"),
                    code("complete_task(6 * 7)"))
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies(), "summarizer": replies()},
                                 settings={"use_corrector": False, "use_summarizer": False, "step_timeout_s": 10})
    trace = tmp_path / "trace.jsonl"
    printed = tmp_path / "transcript.txt"
    with printed.open("w") as out:
        final = await print_run(graph, {"task": {"instruction": "Escape, then answer 42."}},
                                config={"callbacks": [JsonlTrace(trace)]}, printer=TranscriptPrinter(out))
    assert final["status"] == "completed" and final["answer"] == 42
    assert final["isolation"] == "bwrap"
    records = read_trace(trace)
    errors = [r["error_type"] for r in records if r["type"] == "execution"]
    assert errors == ["FileNotFoundError", "PermissionError", None]
    assert records[-1]["type"] == "final" and records[-1]["isolation"] == "bwrap"
    assert "isolation: bwrap" in printed.read_text()


def test_the_eval_record_and_report_say_the_isolation(tmp_path):
    from trirole.evals.datasets import EvalTask
    from trirole.evals.report import render_markdown
    from trirole.evals.results import make_record

    task = EvalTask(id="t1", env="python")
    record = make_record("scaffold", task, {"isolation": "bwrap", "status": "completed"}, status=None, reason="",
                         wall_s=1.0, trace="t.jsonl")
    assert record["isolation"] == "bwrap"
    assert "Agent code isolation: bwrap: 1 pairs." in render_markdown([record], {}, {}, [])


# ------------------------------------------------------------------- the AppWorld server

@pytest.mark.appworld
async def test_appworld_agent_code_is_refused_by_bubblewrap(appworld_server, home_secret, listener):
    """AppWorld's agent code runs in the python sandbox (its server, under bubblewrap too,
    runs none): what AppWorld's own guard refused (sockets, writes, imports) runs, and
    bubblewrap refuses what matters."""
    import psutil

    from trirole.environments.appworld import AppWorldEnvironment
    from trirole.environments.appworld.server import APP

    port = appworld_server.url.rsplit(":", 1)[1]
    confined = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0].endswith("bwrap")
                and APP in p.info["cmdline"] and port in p.info["cmdline"]]
    assert appworld_server.isolation == "bwrap" and confined  # the server runs under bubblewrap
    env = AppWorldEnvironment(url=appworld_server.url)
    escaped = home_secret.with_name(home_secret.name + "-escaped-dir")
    try:
        info = await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        assert info.isolation == "bwrap"
        await env.execute("kept = 'still here'")
        made = await env.execute(f"import os\nos.makedirs({str(escaped)!r})")
        assert made["error"] and made["error_type"] in ("OSError", "PermissionError"), made["output"]
        assert not escaped.exists()
        read = await env.execute(f"import pathlib\nprint(pathlib.Path({str(home_secret)!r}).read_text())")
        assert read["error"] and "secret-in-home" not in read["output"], read["output"]
        for url in (f"127.0.0.1:{listener.getsockname()[1]}", appworld_server.url.split("//")[1]):
            host, number = url.split(":")
            reached = await env.execute(f"import socket\nsocket.create_connection(({host!r}, {number}), timeout=3)")
            assert reached["error"] and reached["error_type"] in ("ConnectionRefusedError", "OSError"), reached["output"]
        # ...and the episode goes on, its variables and APIs intact.
        after = await env.execute("print(kept, len(apis.supervisor.show_account_passwords()) > 0)")
        assert after["output"].strip() == "still here True", after["output"]
    finally:
        await env.close()
        shutil.rmtree(escaped, ignore_errors=True)


def test_the_workers_uid_is_one_this_user_namespace_maps(monkeypatch):
    from trirole.environments import isolation

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    rootless = {"/proc/self/uid_map": [(0, 0), (1, 65536)], "/proc/self/gid_map": [(0, 0), (1, 65536)]}
    monkeypatch.setattr(isolation, "_mapped_ids", rootless.__getitem__)
    assert all(1000 <= isolation.sandbox_uid() <= 65536 for _ in range(50))
    monkeypatch.setattr(isolation, "_mapped_ids", lambda path: [(0, 2**32 - 2)])  # a plain root
    assert all(1_000_000 <= isolation.sandbox_uid() < 2**31 for _ in range(50))
    monkeypatch.setattr(isolation, "_mapped_ids", lambda path: [(0, 0)])  # only root is mapped
    with pytest.raises(EnvironmentFailure, match='isolation="process"'):
        isolation.sandbox_uid()


async def test_a_bwrap_that_cannot_sandbox_names_the_way_out(tmp_path):
    broken = tmp_path / "bwrap"  # what bubblewrap prints in a container without namespace rights
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    async with PythonSandbox(bwrap=str(broken)) as sandbox:
        with pytest.raises(EnvironmentFailure) as caught:
            await sandbox.reset({"instruction": "x"})
    assert "No permissions to create new namespace" in str(caught.value)
    assert 'isolation="process"' in str(caught.value)


def test_an_environment_server_whose_venv_is_under_tmp_runs(tmp_path):
    """The AppWorld server's private /tmp must not hide its own venv when that lives under
    /tmp (TRIROLE_HOME there: a cold `make demo` with HOME=/tmp/... failed with
    "execvp .../appworld-env/bin/python: No such file or directory")."""
    import subprocess
    import sys

    from trirole.environments.isolation import appworld_server_command, minimal_env, sandbox_uid

    venv, app, stage = tmp_path / "env", tmp_path / "app", tmp_path / "stage"
    assert str(venv.resolve()).startswith("/tmp/")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    app.mkdir()
    (stage / "data").mkdir(parents=True)
    (stage / "experiments").mkdir()
    # `python -m site` stands in for the server's module: it prints where it runs from.
    command = appworld_server_command([str(venv / "bin" / "python"), "-m", "site"], stage=stage,
                                      uid=sandbox_uid(), app_dir=app, die_with_parent=True)
    done = subprocess.run(command, env=minimal_env(str(stage)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert str(venv) in done.stdout  # the venv's own python ran (its site-packages on sys.path)
