"""Benchmark integrity: agent code never reaches the answers, the evaluator's secrets, or a
sandbox it broke. Everything here is REAL: bubblewrap, the python sandbox's worker,
AppWorld's environment server (marker ``appworld``) with trirole's offline task pack and its
ground truth, AppWorld's own evaluator. The attempts are those of a scripted model trying
shortcuts (issue 21); the model in the evaluation tests is LangChain's fake chat model
(its code is the attack), the environments behind it are real.

The AppWorld attempts go around AppWorld's own guard (it only reads ``import`` statements
and a few literal calls): ``posix`` instead of ``os``, ``getattr(builtins, 'op' + 'en')``
instead of ``open``; each is first shown to work on something the agent may read, so an
attempt cannot come back empty for a wrong reason.
"""

from __future__ import annotations

import json
import shutil
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

def _posix_walk() -> str:
    """Agent code (around AppWorld's guard) listing every file from / by name, without
    following links (bind mounts of the system folders hold loops)."""
    return (
        "px = __import__('posix')\n"
        "def walk(folder, found):\n"
        "    try:\n"
        "        names = px.listdir(folder)\n"
        "    except OSError:\n"
        "        return\n"
        "    for name in names:\n"
        "        path = folder.rstrip('/') + '/' + name\n"
        "        if path in ('/proc', '/sys', '/dev', '/usr', '/lib', '/lib64', '/bin', '/sbin', '/etc'):\n"
        "            continue\n"
        "        try:\n"
        "            mode = px.lstat(path).st_mode\n"
        "        except OSError:\n"
        "            continue\n"
        "        found.append(path)\n"
        "        if mode & 0o170000 == 0o040000:\n"
        "            walk(path, found)\n"
        "found = []\n"
        "walk('/', found)\n"
    )


_MARKERS = ("ground_truth", "solution", "evaluation.py", "answer.json", "private_data", "trirole_pack",
            "pyproject.toml", "base_dbs", ".db", "specs.json", "results.jsonl")


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
        # The walk itself works: it finds AppWorld's own code.
        walked = await env.execute(_posix_walk() + "print(len(found), [p for p in found if p.endswith('/appworld/evaluator.py')])")
        assert not walked["error"] and "appworld/evaluator.py" in walked["output"], walked["output"]
        listing = await env.execute("print(json.dumps(found))")
        paths = json.loads(listing["output"])
        # What it sees beside AppWorld's own code (its venv) and the interpreter: its own
        # stage (empty data, its outputs), /tmp and the launcher; nothing with an answer.
        code = (str(venv_dir().resolve()), interpreter_prefix(str(venv_dir() / "bin" / "python"))[1])
        data = [p for p in paths if not p.startswith(code)]
        assert [p for p in data if any(m in p.rsplit("/", 1)[-1] for m in _MARKERS)] == []
        assert [p for p in paths if str(root) in p or "/work/" in p or str(Path.home() / ".ssh") in p] == []
        # By path, through builtins.open and posix.open: AppWorld's own code reads (the
        # control), the ground truth, another task and the base databases do not.
        opens = ("getattr(__import__('builtins'), 'op' + 'en')({path!r}).read()[:30]",
                 "__import__('posix').read(getattr(__import__('posix'), 'op' + 'en')({path!r}, 0), 30)")
        for attempt in opens:
            control = await env.execute("print(" + attempt.format(path=str(next(venv_dir().resolve().glob(
                "lib/python3*/site-packages/appworld/__init__.py")))) + ")")
            assert not control["error"], control["output"]
            for path in (task / "ground_truth" / "answer.json", task / "ground_truth" / "solution.py",
                         root / "data" / "tasks" / other / "specs.json", root / "data" / "base_dbs" / "spotify.db"):
                read = await env.execute("print(" + attempt.format(path=str(path)) + ")")
                assert read["error"] and read["error_type"] in ("FileNotFoundError", "PermissionError"), read["output"]
        # The pack generator's solutions, by sys.path and __import__:
        pack = Path(__file__).resolve().parents[1] / "trirole" / "environments" / "appworld" / "pack"
        imported = await env.execute(f"s = __import__('sys')\ns.path.insert(0, {str(pack)!r})\n"
                                     "print(__import__('trirole_pack.solutions'))")
        assert imported["error"] and imported["error_type"] == "ModuleNotFoundError", imported["output"]
        # The databases: the stage holds none once the episode runs; the data root's are not there.
        stage = await env.execute("px = __import__('posix')\nroot = px.environ[b'APPWORLD_ROOT'].decode()\n"
                                  "print(px.listdir(root + '/data'))")
        assert stage["output"].strip() == "[]", stage["output"]
        sql = ("c = __import__('_sqlite3').connect('file:{path}?mode=ro', uri=True)\n"
               "print(c.execute('select count(*) from sqlite_master').fetchone())")
        control = await env.execute(sql.format(path="/tmp/own.db").replace("mode=ro", "mode=rwc"))
        assert control["output"].strip() in ("(0,)", "[0]"), control["output"]  # sqlite works for its own files
        for db in (root / "data" / "base_dbs" / "spotify.db", root / "data" / "base_dbs" / "supervisor.db"):
            opened = await env.execute(sql.format(path=db))
            assert opened["error"] and "unable to open database" in opened["output"], opened["output"]
        # ...and the episode goes on through the APIs.
        api = await env.execute("print(apis.supervisor.show_active_task()['instruction'])")
        assert not api["error"] and api["output"].strip(), api["output"]
    finally:
        await env.close()


@pytest.mark.appworld
async def test_appworld_ground_truth_is_not_in_the_servers_memory(appworld_server):
    from trirole.environments.appworld import AppWorldEnvironment

    truth = appworld_server.root / "data" / "tasks" / appworld_server.task_id / "ground_truth"
    answer = json.loads((truth / "answer.json").read_text())
    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root))
    try:
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        found = await env.execute(
            "g = __import__('gc')\ns = __import__('sys')\n"
            "tasks = [o for o in g.get_objects() if type(o).__name__ == 'Task' and type(o).__module__ == 'appworld.task']\n"
            "truths = [o for o in g.get_objects() if type(o).__name__ == 'GroundTruth']\n"
            "print(len(tasks), [t.ground_truth for t in tasks], len(truths), "
            "sorted(m for m in s.modules if 'evaluation' in m or 'solution' in m or 'trirole' in m))")
        assert not found["error"], found["output"]
        count, rest = found["output"].strip().split(" ", 1)
        assert int(count) >= 1  # the task object is there (the probe works) ...
        assert rest == "[" + ", ".join(["None"] * int(count)) + "] 0 []", found["output"]  # ... without its truth
        assert truth.is_dir() and answer is not None  # the ground truth exists, outside the server
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
        read = await env.execute(f"print(getattr(__import__('builtins'), 'op' + 'en')"
                                 f"({str(saved / 'dbs' / 'supervisor.jsonl')!r}).read())")
        assert read["error"] and read["error_type"] in ("FileNotFoundError", "PermissionError"), read["output"]
        mine = await env.execute("px = __import__('posix')\nprint(px.listdir(px.environ[b'APPWORLD_ROOT'].decode() "
                                 "+ '/experiments/outputs'))")
        assert earlier.experiment_name.split("/")[0] not in mine["output"] or \
            earlier.experiment_name.split("/")[1] not in mine["output"], mine["output"]
    finally:
        await env.close()


@pytest.mark.appworld
async def test_appworld_server_sees_no_variable_of_the_evaluator(evaluator_secrets):
    from trirole.environments.appworld import AppWorldEnvironment
    from trirole.environments.appworld.data import default_root, list_tasks
    from trirole.environments.appworld.server import private_server

    root = default_root()
    with private_server(root) as server:  # started while the evaluator's environment holds the secrets
        env = AppWorldEnvironment(url=server.url, root=str(root))
        try:
            await env.reset({"instruction": "", "task_id": list_tasks("dev", root=root)[0]})
            seen = await env.execute("print(repr(__import__('posix').environ))")
            own = await env.execute("print(getattr(__import__('builtins'), 'op' + 'en')('/proc/self/environ', 'rb').read())")
            init = await env.execute("try:\n    print(getattr(__import__('builtins'), 'op' + 'en')('/proc/1/environ', 'rb')"
                                     ".read())\nexcept OSError as e:\n    print(type(e).__name__)")
            seen["output"] += own["output"] + init["output"]
        finally:
            await env.close()
    assert "APPWORLD_ROOT" in seen["output"] and "PATH" in seen["output"]
    assert _leaked(seen["output"]) == [] and "OPENAI_API_KEY" not in seen["output"], seen["output"]


@pytest.mark.appworld
async def test_appworld_fork_loop_then_the_next_step_runs(appworld_server):
    from trirole.environments.appworld import AppWorldEnvironment

    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root), timeout_s=20)
    try:
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        await env.execute("kept = 'still here'")
        bomb = await env.execute("px = __import__('posix')\nwhile True:\n    px.fork()")
        # The copies still running when it ended are stopped (every one, before the step's
        # result is returned), and the agent told how many.
        assert bomb["error"] and "Resource temporarily unavailable" in bomb["output"], bomb["output"]
        assert "processes the code started were stopped" in bomb["output"], bomb["output"]
        after = await env.execute("t = __import__('threading').Thread(target=print, args=('thread',))\n"
                                  "t.start(); t.join()\nprint(kept, len(apis.supervisor.show_account_passwords()) > 0)")
        assert after["output"] == "thread\nstill here True", after["output"]
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

    attack = code("px = __import__('posix')\nprint(repr(px.environ))\napis.supervisor.complete_task(answer=repr(px.environ))")
    await evaluate(["react"], "dev", tmp_path, settings=TriroleSettings(max_steps=2), limit=1, concurrency=1,
                   graph_options={"model": replies(attack, attack)}, progress=False)
    write_report(tmp_path)
    written = {p: p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    assert any(p.name == "report.md" for p in written)
    assert any("APPWORLD_ROOT" in text for text in written.values())  # printed and recorded
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
    """A client other than trirole (or agent code reaching the server on loopback) cannot
    make the server load another task, its ground truth, or anything of the data root."""
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
    finally:
        await foreign.aclose()
        await env.close()


@pytest.mark.appworld
async def test_appworld_disk_filler_then_the_next_step_runs(appworld_server):
    """Agent code fills the only writable place of the server's (its outputs' tmpfs, around
    AppWorld's guard with posix): the host's disk is untouched, the junk is removed, the
    agent is told, and the episode goes on and is scored."""
    from trirole.environments.appworld import AppWorldEnvironment

    fill = ("px = __import__('posix')\nroot = px.environ[b'APPWORLD_ROOT'].decode() + '/experiments/junk'\n"
            "try:\n    for i in range(100):\n        fd = px.open(root + str(i), px.O_WRONLY | px.O_CREAT, 0o644)\n"
            "        for _ in range(100):\n            px.write(fd, b'x' * 2**20)\n        px.close(fd)\n"
            "except OSError as e:\n    print('filled', e)")
    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root), timeout_s=60)
    try:
        await env.reset({"instruction": "", "task_id": appworld_server.task_id})
        await env.execute("kept = 'still here'")
        filled = await env.execute(fill)
        assert "No space left on device" in filled["output"], filled["output"]
        assert "disk space was used up: the files the code wrote were removed" in filled["output"]
        host = sum(p.stat().st_size for p in Path(env._stage["stage"]).rglob("*") if p.is_file())
        assert host < 1024 * 1024  # nothing reached the host's disk
        after = await env.execute("print(kept, len(apis.supervisor.show_account_passwords()) > 0)")
        assert after["output"].strip() == "still here True", after["output"]
        done = await env.execute("apis.supervisor.complete_task(answer=None)")
        assert done["task_completed"]
        verdict = await env.evaluate()
        assert verdict.details["num_tests"] > 0
    finally:
        await env.close()
