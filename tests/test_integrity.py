"""Benchmark integrity: agent code never reaches the answers, the evaluator's secrets, or a
sandbox it broke. Everything here is REAL: bubblewrap, the python sandbox's worker,
AppWorld's environment server (marker ``appworld``) with trirole's offline task pack and its
ground truth, AppWorld's own evaluator. The attempts are those of a scripted model trying
shortcuts (issue 21); the model in the evaluation tests is LangChain's fake chat model
(its code is the attack), the environments behind it are real.

AppWorld's agent code runs in trirole's python sandbox, whose ``apis`` reach the world
held by the server only through its API calls; the attempts (by path, by walking the
filesystem, through ``__import__``, through the garbage collector, through the databases,
through loopback) are each first shown to work on something the agent may reach, so an
attempt cannot come back empty for a wrong reason.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest
from fakes import code, replies

from trirole.settings import TriroleSettings
from trirole.environments.python_sandbox import PythonSandbox

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (`make setup` installs it)")

SECRETS = {"OPENAI_API_KEY": "sk-trirole-sentinel-0a1b2c3d4e5f", "HF_TOKEN": "hf_triroleSentinel9z8y7x6w",
           "AWS_SECRET_ACCESS_KEY": "trirole/Sentinel+AwsSecret/0123456789abcd"}


@pytest.fixture
def evaluator_secrets(monkeypatch):
    """The evaluating user's environment holds secret-looking values (sentinels)."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


def _leaked(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


# ---------------------------------------------------------------- the python sandbox: secrets

@pytest.mark.parametrize("isolation", ["bwrap", "process"])
async def test_no_variable_of_the_evaluator_reaches_python_agent_code(evaluator_secrets, isolation):
    async with PythonSandbox(step_timeout_s=10, isolation=isolation) as box:
        await box.reset({"instruction": "read the environment"})
        seen = await box.execute("import os\nprint(dict(os.environ))\n"
                                 "try:\n    print(open('/proc/self/environ', 'rb').read())\n"
                                 "except OSError as e:\n    print(type(e).__name__)\n"
                                 "import subprocess\nprint(subprocess.run(['env'], capture_output=True, text=True).stdout)")
    assert not seen["error"], seen["output"]
    assert "PATH" in seen["output"] and _leaked(seen["output"]) == []
    assert "OPENAI_API_KEY" not in seen["output"]


# -------------------------------------------------- the python sandbox: recovering from bombs

ORDINARY = ("import threading, json, collections\nout = []\n"
            "ts = [threading.Thread(target=lambda: out.append(1)) for _ in range(8)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "open('notes.txt', 'w').write(json.dumps(out)); len(json.load(open('notes.txt')))")

BOMBS = {
    # forks until the process limit; each copy that fails to fork frees a slot
    "fork loop": "import os\nwhile True:\n    os.fork()",
    # the issue's case: children kept by Popen objects stay zombies unless collected
    "popen loop": "import subprocess\nkept = []\nwhile True:\n    kept.append(subprocess.Popen(['sleep', '100']))",
    # a fork loop left running in the background by a step that succeeds
    "background fork loop": "import os\nif os.fork() == 0:\n    while True:\n        try:\n            os.fork()\n"
                            "        except OSError:\n            pass\nprint('started')",
    "memory": "hog = []\nwhile True:\n    hog.append(' ' * 2**20)",
    "disk": "i = 0\ntry:\n    while True:\n        with open(f'junk{i}', 'wb') as f:\n"
            "            f.write(b'x' * 2**23)\n        i += 1\nexcept OSError as e:\n    print('caught', e)",
}


@pytest.mark.parametrize("bomb", list(BOMBS))
async def test_after_a_bomb_the_next_step_runs_ordinary_code(bomb):
    async with PythonSandbox(step_timeout_s=20, memory_limit_mb=512, scratch_limit_mb=128) as box:
        await box.reset({"instruction": "bomb"})
        await box.execute("kept_before = 'here'")
        hit = await box.execute(BOMBS[bomb])
        # A subprocess step in between (the issue's sequence), then threads, stdlib, files.
        await box.execute("import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'print(1)'], "
                          "capture_output=True)")
        after = await box.execute(ORDINARY)
        # (a fork loop left running is stopped before this step, which then says so)
        assert not after["error"] and after["output"].startswith("8\n"), (hit["output"], after["output"])
        notes = hit["output"]
        if bomb == "memory":  # ordinary code could not have run: restarted, and the agent is told
            assert "the sandbox restarted, so all variables and files you wrote were reset" in notes, notes
        elif bomb == "disk":  # the scratch folder emptied, variables kept, and the agent is told
            assert "the working directory was full: the files in it were removed" in notes, notes
            assert (await box.execute("kept_before"))["output"] == "'here'\n"
        elif bomb != "background fork loop":
            assert "every other process in it was stopped" in notes, notes
        processes = await box.execute("import os\nsum(p.isdigit() for p in os.listdir('/proc'))")
        assert int(processes["output"]) <= 3, processes["output"]


async def test_the_fork_loop_then_threads_of_the_issue():
    """Issue 21's sequence: a fork loop, a step running subprocess, then threads."""
    async with PythonSandbox(step_timeout_s=20) as box:
        await box.reset({"instruction": "bomb"})
        await box.execute(BOMBS["popen loop"])
        await box.execute("import subprocess\nsubprocess.run(['true'])")
        for _ in range(3):
            threads = await box.execute("import threading\nt = threading.Thread(target=print, args=('thread',))\n"
                                        "t.start(); t.join()")
            assert threads["output"] == "thread\n", threads["output"]
        assert (await box.execute("kept[0].poll() is not None"))["output"] == "True\n"  # the Popen learnt it ended


# ------------------------------------------------------------- AppWorld: no answers in view

def _walk() -> str:
    """Agent code listing every file from / by name, without following links (bind mounts
    of the system folders hold loops)."""
    return (
        "import os, stat\n"
        "def walk(folder, found):\n"
        "    try:\n"
        "        names = os.listdir(folder)\n"
        "    except OSError:\n"
        "        return\n"
        "    for name in names:\n"
        "        path = folder.rstrip('/') + '/' + name\n"
        "        if path in ('/proc', '/sys', '/dev', '/usr', '/lib', '/lib64', '/bin', '/sbin', '/etc'):\n"
        "            continue\n"
        "        try:\n"
        "            mode = os.lstat(path).st_mode\n"
        "        except OSError:\n"
        "            continue\n"
        "        found.append(path)\n"
        "        if stat.S_ISDIR(mode):\n"
        "            walk(path, found)\n"
        "found = []\n"
        "walk('/', found)\n"
    )


_MARKERS = ("ground_truth", "solution", "evaluation.py", "answer.json", "private_data", "trirole_pack",
            "pyproject.toml", "base_dbs", ".db", "specs.json", "results.jsonl", "appworld")


@pytest.mark.appworld
async def test_appworld_agent_code_finds_no_ground_truth_on_disk(appworld_server):
    from trirole.environments.appworld import AppWorldEnvironment, list_tasks
    from trirole.environments.appworld.install import venv_dir
    from trirole.environments.isolation import interpreter_prefix

    root = appworld_server.root
    task = root / "data" / "tasks" / appworld_server.task_id
    other = next(t for t in list_tasks("dev", root=root) if t != appworld_server.task_id)
    env = AppWorldEnvironment(url=appworld_server.url, root=str(root), max_observation_chars=10**8)
    try:
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        stage = Path(env._stage["stage"])
        # The walk itself works: it finds the standard library.
        walked = await env.execute(_walk() + "print(len(found), [p for p in found if p.endswith('/json/decoder.py')])")
        assert not walked["error"] and "json/decoder.py" in walked["output"], walked["output"]
        paths = json.loads((await env.execute("print(json.dumps(found))"))["output"])
        # Beside the interpreter: its scratch folder and the worker; nothing with an answer,
        # no AppWorld (its venv, its server's stage), no data root, no checkout.
        prefix = interpreter_prefix(sys.executable)[1]
        data = [p for p in paths if not p.startswith(prefix)]
        assert [p for p in data if any(m in p.lower() for m in _MARKERS)] == [], data
        assert [p for p in paths if str(root) in p or str(stage) in p or "/work/" in p
                or str(venv_dir().resolve()) in p or str(Path.home() / ".ssh") in p] == []
        # By path (builtins.open and os.open): the standard library reads (the control), the
        # ground truth, another task, the base databases, the server's stage and AppWorld's code do not.
        opens = ("open({path!r}).read()[:30]", "__import__('os').read(__import__('os').open({path!r}, 0), 30)")
        appworld_code = next(venv_dir().resolve().glob("lib/python3*/site-packages/appworld/__init__.py"))
        for attempt in opens:
            control = await env.execute("print(" + attempt.format(path=str(Path(json.__file__).resolve())) + ")")
            assert not control["error"], control["output"]
            for path in (task / "ground_truth" / "answer.json", task / "ground_truth" / "solution.py",
                         root / "data" / "tasks" / other / "specs.json", root / "data" / "base_dbs" / "spotify.db",
                         stage / "experiments", appworld_code):
                read = await env.execute("print(" + attempt.format(path=str(path)) + ")")
                assert read["error"] and read["error_type"] in ("FileNotFoundError", "PermissionError"), read["output"]
        # The pack generator's solutions and AppWorld itself, by sys.path and __import__:
        pack = Path(__file__).resolve().parents[1] / "trirole" / "environments" / "appworld" / "pack"
        for module, folder in (("trirole_pack.solutions", pack), ("appworld", appworld_code.parent.parent)):
            imported = await env.execute(f"import sys\nsys.path.insert(0, {str(folder)!r})\nprint(__import__({module!r}))")
            assert imported["error"] and imported["error_type"] == "ModuleNotFoundError", imported["output"]
        # The databases: sqlite works for the agent's own files (the control), the world's are not there.
        sql = ("import sqlite3\nc = sqlite3.connect('file:{path}?mode=ro', uri=True)\n"
               "print(c.execute('select count(*) from sqlite_master').fetchone())")
        control = await env.execute(sql.format(path="/scratch/own.db").replace("mode=ro", "mode=rwc"))
        assert control["output"].strip() in ("(0,)", "[0]"), control["output"]  # (print shows a tuple as JSON)
        for db in (root / "data" / "base_dbs" / "spotify.db", task / "dbs" / "supervisor.db"):
            opened = await env.execute(sql.format(path=db))
            assert opened["error"] and "unable to open database" in opened["output"], opened["output"]
        # ...and the episode goes on through the APIs.
        api = await env.execute("print(apis.supervisor.show_active_task()['instruction'])")
        assert not api["error"] and api["output"].strip(), api["output"]
    finally:
        await env.close()


@pytest.mark.appworld
async def test_appworld_world_is_not_in_agent_codes_memory(appworld_server):
    """Through the garbage collector agent code finds only what came through the APIs: the
    world (its databases, its task, AppWorld) lives in the server's process."""
    from trirole.environments.appworld import AppWorldEnvironment

    truth = appworld_server.root / "data" / "tasks" / appworld_server.task_id / "ground_truth"
    answer = json.loads((truth / "answer.json").read_text())
    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root))
    try:
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        scan = ("import gc, sys\n"
                "def strings():\n"
                "    found = set()\n"
                "    for o in gc.get_objects():\n"
                "        for v in (o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()):\n"
                "            if isinstance(v, str):\n"
                "                found.add(v)\n"
                "    return found\n")
        found = await env.execute(
            scan + "before = strings()\n"
            "kinds = {type(o).__module__.split('.')[0] for o in gc.get_objects() if hasattr(type(o), '__module__')}\n"
            f"print(sorted(k for k in kinds | set(sys.modules) if k in ('appworld', 'sqlmodel', 'sqlalchemy', "
            f"'sqlite3', 'munch', 'trirole', 'trirole_pack')), {json.dumps(str(answer))} in before)")
        assert not found["error"] and found["output"].strip() == "[] False", found["output"]
        # The scan works: a password the API returns is in memory after the call, not before.
        fetched = await env.execute("pw = apis.supervisor.show_account_passwords()[0]['password']\n"
                                    "print(pw in before, pw in strings())")
        assert fetched["output"].strip() == "False True", fetched["output"]
        assert truth.is_dir() and answer is not None  # the ground truth exists, outside the sandbox
        solved = await env.execute("apis.supervisor.complete_task(answer=None)")
        assert solved["task_completed"]
        verdict = await env.evaluate()  # scored in a process of its own, with the ground truth
        assert verdict.details["num_tests"] > 0 and verdict.details["difficulty"] is not None
    finally:
        await env.close()


@pytest.mark.appworld
async def test_appworld_agent_code_cannot_read_other_runs_outputs(appworld_server):
    from trirole.environments.appworld import AppWorldEnvironment

    earlier = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root))
    await earlier.reset({"instruction": "", "task_id": appworld_server.task_id})
    await earlier.execute("apis.supervisor.complete_task(answer='earlier run')")
    await earlier.close()
    saved = appworld_server.root / "experiments" / "outputs" / earlier.experiment_name / "tasks" / appworld_server.task_id
    assert (saved / "dbs" / "supervisor.jsonl").is_file()  # collected into the data root
    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root))
    try:
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        for path in (saved / "dbs" / "supervisor.jsonl", Path(env._stage["stage"]) / "experiments" / "outputs"):
            read = await env.execute(f"import os\nprint(os.listdir({str(path)!r}) if {path.is_dir()} "
                                     f"else open({str(path)!r}).read())")
            assert read["error"] and read["error_type"] in ("FileNotFoundError", "PermissionError"), read["output"]
    finally:
        await env.close()


@pytest.mark.appworld
async def test_appworld_agent_code_reaches_no_loopback_service(appworld_server):
    """A service on the user's loopback (a tiny HTTP server of the test's, AppWorld's own
    server holding the world) answers the test, never agent code: it has no network."""
    import http.server
    import threading
    import urllib.request

    from trirole.environments.appworld import AppWorldEnvironment

    service = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{service.server_address[1]}/"
    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root))
    try:
        assert (await asyncio.to_thread(urllib.request.urlopen, url, timeout=5)).status == 200  # the control
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        for target in (url, appworld_server.url + "/"):
            reached = await env.execute(f"import urllib.request\nurllib.request.urlopen({target!r}, timeout=5).read()")
            assert reached["error"] and reached["error_type"] == "URLError", reached["output"]
            assert "Connection refused" in reached["output"] or "unreachable" in reached["output"], reached["output"]
    finally:
        await env.close()
        service.shutdown()
        service.server_close()


@pytest.mark.appworld
async def test_appworld_agent_code_sees_no_variable_of_the_evaluator(evaluator_secrets):
    from trirole.environments.appworld import AppWorldEnvironment
    from trirole.environments.appworld.data import default_root, list_tasks
    from trirole.environments.appworld.server import private_server

    root = default_root()
    with private_server(root) as server:  # started while the evaluator's environment holds the secrets
        env = AppWorldEnvironment(url=server.url, root=str(root))
        try:
            await env.reset({"instruction": "", "task_id": list_tasks("dev", root=root)[0]})
            seen = await env.execute("import os\nprint(repr(os.environ))")
            own = await env.execute("print(open('/proc/self/environ', 'rb').read())")
            init = await env.execute("try:\n    print(open('/proc/1/environ', 'rb').read())\n"
                                     "except OSError as e:\n    print(type(e).__name__)")
            seen["output"] += own["output"] + init["output"]
            # The server (which agent code cannot reach) starts from a minimal environment too.
            server_environ = Path(f"/proc/{await env._server()}/environ").read_bytes().decode(errors="replace")
        finally:
            await env.close()
    assert "PATH" in seen["output"] and "APPWORLD_ROOT" in server_environ
    assert _leaked(seen["output"]) == [] and "OPENAI_API_KEY" not in seen["output"], seen["output"]
    assert _leaked(server_environ) == [] and "OPENAI_API_KEY" not in server_environ


APPWORLD_BOMBS = {
    "fork loop": BOMBS["fork loop"],
    "memory": BOMBS["memory"],
    "disk": BOMBS["disk"],
}


@pytest.mark.appworld
@pytest.mark.parametrize("bomb", list(APPWORLD_BOMBS))
async def test_appworld_after_a_bomb_the_next_step_runs(appworld_server, bomb):
    """Fork loop, memory, disk: the next step of the same episode runs threads, stdlib and
    scratch files, and reaches the world (after a restart, said so); the episode is scored."""
    from trirole.environments.appworld import AppWorldEnvironment

    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root), timeout_s=20,
                              memory_limit_mb=512)
    try:
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        await env.execute("kept = 'still here'")
        hit = await env.execute(APPWORLD_BOMBS[bomb])
        after = await env.execute(ORDINARY)
        assert not after["error"] and after["output"].startswith("8"), (hit["output"], after["output"])
        notes = hit["output"]
        if bomb == "memory":
            assert "the sandbox restarted, so all variables and files you wrote were reset" in notes, notes
        elif bomb == "disk":
            assert "the working directory was full: the files in it were removed" in notes, notes
        else:
            assert "every other process in it was stopped" in notes, notes
        world = await env.execute("print(globals().get('kept'), len(apis.supervisor.show_account_passwords()) > 0)")
        assert world["output"].strip() == ("None True" if bomb == "memory" else "still here True"), world["output"]
        done = await env.execute("apis.supervisor.complete_task(answer=None)")
        assert done["task_completed"]
        assert (await env.evaluate()).details["num_tests"] > 0
    finally:
        await env.close()


# --------------------------------------------- secrets never reach prompts, traces or reports

async def test_secrets_never_reach_prompts_traces_or_the_report_python(evaluator_secrets, tmp_path):
    from trirole.evals import evaluate
    from trirole.evals.report import write_report

    attack = code("import os\nprint(dict(os.environ))\ncomplete_task(str(dict(os.environ)))")
    await evaluate(["react"], "python", tmp_path, settings=TriroleSettings(max_steps=2), limit=1, concurrency=1,
                   graph_options={"model": replies(attack, attack)}, progress=False)
    write_report(tmp_path)
    written = {p: p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    assert any(p.name == "report.md" for p in written) and any(p.suffix == ".jsonl" for p in written)
    assert any("PATH" in text for text in written.values())  # the environment was printed and recorded
    assert {p.name: _leaked(text) for p, text in written.items() if _leaked(text)} == {}


@pytest.mark.appworld
async def test_secrets_never_reach_prompts_traces_or_the_report_appworld(evaluator_secrets, tmp_path, isolated_home):
    from trirole.evals import evaluate
    from trirole.evals.report import write_report

    attack = code("import os\nprint(repr(os.environ))\napis.supervisor.complete_task(answer=repr(os.environ))")
    await evaluate(["react"], "dev", tmp_path, settings=TriroleSettings(max_steps=2), limit=1, concurrency=1,
                   graph_options={"model": replies(attack, attack)}, progress=False)
    write_report(tmp_path)
    written = {p: p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    assert any(p.name == "report.md" for p in written)
    assert any("'PATH'" in text for text in written.values())  # printed and recorded
    assert {p.name: _leaked(text) for p, text in written.items() if _leaked(text)} == {}


# ------------------------------------------- python tasks: scored where no agent code ran

async def test_python_checker_runs_where_no_agent_code_ran():
    from trirole.evals.datasets import load_dataset

    tasks = load_dataset("python").env_options.get("tasks")
    async with PythonSandbox(tasks=tasks, step_timeout_s=10) as box:
        await box.reset({"instruction": "", "task_id": "sum-prices"})
        # The checker compares with abs(); agent code that rigs builtins in its own process
        # cannot rig the checker's.
        rigged = await box.execute("import builtins\nbuiltins.abs = lambda x: 0\nabs(-5)")
        assert rigged["output"] == "0\n"
        await box.execute("complete_task(1)")
        verdict = await box.evaluate()
        assert verdict.success is False and "expected 55.89, got 1" in verdict.failed[0]["message"]
        # The episode's saved state still reaches the checker (a task that checks a variable).
        await box.reset({"instruction": "", "task_id": "orders-by-customer"})
        solved = await box.execute(
            "import csv, io\norders = [dict(order_id=int(r['order_id']), customer=r['customer'], "
            "quantity=int(r['quantity']), unit_price=float(r['unit_price'])) "
            "for r in csv.DictReader(io.StringIO(context['orders_csv']))]\n"
            "totals = {}\nfor o in orders:\n    totals[o['customer']] = round(totals.get(o['customer'], 0) "
            "+ o['quantity'] * o['unit_price'], 2)\ncomplete_task(totals)")
        assert not solved["error"], solved["output"]
        verdict = await box.evaluate()
        assert verdict.success is True, verdict.failed


@pytest.mark.appworld
async def test_appworld_server_starts_no_task_its_stage_does_not_hold(appworld_server):
    """A client other than trirole on the server's loopback (never agent code: it has no
    network) cannot make the server load another task, its ground truth, or anything of
    the data root, nor run code in it."""
    from trirole.environments.appworld import AppWorldEnvironment, AppWorldServerError, list_tasks
    from trirole.environments.appworld.client import AppWorldClient

    other = next(t for t in list_tasks("dev", root=appworld_server.root) if t != appworld_server.task_id)
    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root))
    foreign = AppWorldClient(appworld_server.url)
    try:
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        await env.execute("kept = 'still here'")
        for task_id in (other, appworld_server.task_id):
            with pytest.raises(AppWorldServerError):  # (HTTP 500, or the connection dropped)
                await foreign.initialize(task_id, experiment_name="trirole-test-foreign", load_ground_truth=True)
        assert (await env.execute("print(kept)"))["output"].strip() == "still here"
        # ...nor run code in it: the server trirole starts has no route that executes code.
        with pytest.raises(AppWorldServerError, match="HTTP 404"):
            await foreign.execute(appworld_server.task_id, "print(open('/proc/self/environ').read())")
    finally:
        await foreign.aclose()
        await env.close()
