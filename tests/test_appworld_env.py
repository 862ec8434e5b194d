"""AppWorld adapter: a real ``appworld serve environment`` process (fixture
`appworld_server`), real HTTP, real task data. Parsing helpers are tested on their own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trirole.serving.process import free_port
from trirole.environments import make_environment
from trirole.environments.appworld import (
    AppWorldDataMissing,
    AppWorldEnvironment,
    AppWorldNotInstalled,
    AppWorldServerError,
    AppWorldUnknownDataset,
    AppWorldUnknownTask,
    AppWorldUnreachable,
    list_tasks,
    task_metadata,
)
from trirole.environments.appworld.output import literal_answer, stored_answer
from trirole.environments.base import Environment, EnvironmentFailure, EnvironmentInfo, Evaluation


def _env(server, **options) -> AppWorldEnvironment:
    return AppWorldEnvironment(url=server.url, root=str(server.root), **options)


# --------------------------------------------------------------------- the real server

@pytest.mark.appworld
async def test_full_episode(appworld_server):
    env = make_environment("appworld", url=appworld_server.url, root=str(appworld_server.root), max_observation_chars=400)
    assert isinstance(env, Environment) and env.name == "appworld"
    info = await env.reset({"instruction": "", "task_id": appworld_server.task_id})
    assert isinstance(info, EnvironmentInfo)
    assert info.instruction
    assert set(info.context) == {"first_name", "last_name", "email", "phone_number"}
    assert all(info.context.values())
    assert "apis.api_docs.show_api_doc(app_name=" in info.reference
    assert "spotify" in info.reference
    assert info.completion_hint.startswith("apis.supervisor.complete_task(answer=")
    # Per-app references for specialists: their app, plus api_docs and supervisor only.
    assert "venmo" in info.apps and "supervisor" not in info.apps
    assert "- venmo:" in info.apps["venmo"] and "- spotify:" not in info.apps["venmo"]

    # an API call, run by AppWorld's server
    result = await env.execute("print(apis.supervisor.show_active_task())")
    assert result["error"] is False and result["task_completed"] is False
    assert json.loads(result["output"])["instruction"] == info.instruction
    # each API call is recorded with its result (what the artifact store reads, like the output)
    (call,) = result["calls"]
    assert call["name"] == "apis.supervisor.show_active_task" and call["error"] is None
    assert call["result"]["instruction"] == info.instruction

    # notebook semantics: variables persist
    await env.execute("counter = 41")
    result = await env.execute("print(counter + 1)")
    assert result["output"].strip() == "42"

    # long outputs are clipped keeping head and tail
    result = await env.execute("print('a' * 2000 + 'END')")
    assert len(result["output"]) <= 400 and result["output"].startswith("aaa") and result["output"].endswith("END")

    # exceptions come back as errors with their type and message
    result = await env.execute("{}['missing_key']")
    assert result["error"] is True
    assert result["error_type"] == "KeyError" and result["error_message"] == "'missing_key'"
    assert "Traceback" in result["output"]
    result = await env.execute("apis.spotify.login(username='nobody@example.com', password='wrong')")
    assert result["error"] is True and result["error_type"] == "Exception"
    assert result["error_message"].startswith("Response status code is 401")
    assert "<setup>" not in result["output"]  # the traceback shows the agent's frames only
    result = await env.execute("apis.spotify.login('nobody@example.com', 'wrong')")
    assert result["error_type"] == "TypeError" and "keyword arguments only" in result["error_message"]
    result = await env.execute("apis.spotify.login(username={'x'}, password='y')")
    assert result["error_type"] == "TypeError" and "apis.spotify.login() must be JSON values" in result["error_message"]
    result = await env.execute("apis.spotfy.login(username='x', password='y')")
    assert result["error_type"] == "Exception" and result["error_message"] == "No app named 'spotfy' found."
    result = await env.execute("def broken(:\n    pass")
    assert result["error"] is True and result["error_type"] == "SyntaxError"

    # completion through AppWorld's own supervisor app
    result = await env.execute("apis.supervisor.complete_task(answer='no idea')")
    assert result["error"] is False
    assert result["task_completed"] is True and env.completed is True
    assert result["answer"] == "no idea"

    verdict = await env.evaluate()
    assert isinstance(verdict, Evaluation)
    details = verdict.details
    assert details["num_tests"] == len(verdict.passed) + len(verdict.failed) > 0
    assert details["difficulty"] == task_metadata(appworld_server.task_id, root=appworld_server.root)["difficulty"]
    assert verdict.success is (not verdict.failed)
    assert all({"requirement", "trace", "label"} <= set(f) for f in verdict.failed)

    await env.close()
    await env.close()  # idempotent
    with pytest.raises(EnvironmentFailure, match="reset"):
        await env.execute("print(1)")


@pytest.mark.appworld
async def test_complete_without_answer_and_reset_again(appworld_server):
    env = _env(appworld_server)
    await env.reset({"instruction": "", "task_id": appworld_server.task_id})
    result = await env.execute("apis.supervisor.complete_task()")
    assert result["task_completed"] is True and result["answer"] is None
    # a second reset starts a fresh episode of the task (the first is closed on the server)
    await env.reset({"instruction": "", "task_id": appworld_server.task_id})
    result = await env.execute("print(apis.supervisor.show_active_task()['status'])")
    assert result["output"].strip() == "None" and result["task_completed"] is False
    await env.close()


@pytest.mark.appworld
async def test_unknown_and_missing_task_id(appworld_server):
    env = _env(appworld_server)
    with pytest.raises(AppWorldUnknownTask, match="unknown AppWorld task id 'no_such_task_1'") as info:
        await env.reset({"instruction": "", "task_id": "no_such_task_1"})
    assert "trirole env tasks appworld --dataset" in str(info.value)
    with pytest.raises(AppWorldUnknownTask, match="task_id"):
        await env.reset({"instruction": "do something"})
    await env.close()


@pytest.mark.appworld
async def test_one_episode_per_server_at_a_time(appworld_server):
    first, second = _env(appworld_server), _env(appworld_server, queue_timeout_s=0.5)
    await first.reset({"instruction": "", "task_id": appworld_server.task_id})
    with pytest.raises(AppWorldServerError, match="one task at a time"):
        await second.reset({"instruction": "", "task_id": appworld_server.task_id})
    await first.close()
    await second.reset({"instruction": "", "task_id": appworld_server.task_id})  # now free
    assert (await second.execute("print(2 + 2)"))["output"].strip() == "4"
    await second.close()


@pytest.mark.appworld
def test_the_named_server_is_reused_and_lists(appworld_server, isolated_home):
    from trirole.environments.appworld.server import RECORD_NAME, appworld_status, lease_server, serve_appworld, stop_appworld

    record = serve_appworld(root=appworld_server.root)
    try:
        again = serve_appworld(root=appworld_server.root)
        assert again.url == record.url and again.pid == record.pid
        with pytest.raises(AppWorldServerError, match="already runs"):
            serve_appworld(root=appworld_server.root / "elsewhere")
        status = appworld_status(RECORD_NAME)
        assert status["running"] and status["responding"] and status["root"] == str(appworld_server.root)
        assert status["in_use"] is False
        lease = lease_server(record.url)  # an episode runs on it: nobody else gets it
        assert lease is not None and lease_server(record.url) is None and appworld_status()["in_use"] is True
        lease.release()
        assert appworld_status()["in_use"] is False
    finally:
        assert stop_appworld() is True
    assert appworld_status(RECORD_NAME)["running"] is False
    datasets = sorted(p.stem for p in (appworld_server.root / "data" / "datasets").glob("*.txt"))
    assert any(appworld_server.task_id in list_tasks(d, root=appworld_server.root) for d in datasets)


@pytest.mark.appworld
def test_cli_tasks_lists_the_split(appworld_server):
    from trirole.cli import main

    proc = subprocess.run([sys.executable, "-m", "trirole.cli", "env", "tasks", "appworld",
                           "--root", str(appworld_server.root), "--dataset", "nope"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("trirole env tasks: error: no dataset 'nope'") and proc.stderr.count("\n") == 1
    assert main(["env", "tasks", "appworld", "--root", str(appworld_server.root), "--dataset",
                 sorted(p.stem for p in (appworld_server.root / "data" / "datasets").glob("*.txt"))[0]]) == 0


# --------------------------------------------------------------------- error paths

@pytest.mark.appworld
async def test_unreachable_server_names_url_and_fix():
    url = f"http://127.0.0.1:{free_port()}"
    env = AppWorldEnvironment(url=url)
    with pytest.raises(AppWorldUnreachable) as info:
        await env.reset({"instruction": "", "task_id": "any_1"})
    assert url in str(info.value) and "trirole env serve appworld" in str(info.value)
    await env.close()


@pytest.mark.appworld
async def test_no_server_and_no_autostart(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIROLE_HOME", str(tmp_path))  # no recorded servers here
    env = AppWorldEnvironment(autostart=False)
    with pytest.raises(AppWorldUnreachable, match="trirole env serve appworld"):
        await env.reset({"instruction": "", "task_id": "any_1"})


@pytest.mark.appworld
def test_missing_data_says_how_to_download(tmp_path, monkeypatch):
    from trirole.environments.appworld.data import default_root
    from trirole.environments.appworld.server import serve_appworld

    monkeypatch.setenv("APPWORLD_ROOT", str(tmp_path))
    with pytest.raises(AppWorldDataMissing) as info:
        default_root()
    message = str(info.value)
    assert f"APPWORLD_ROOT={tmp_path}" in message
    assert f"appworld download data --root {tmp_path}" in message and f"export APPWORLD_ROOT={tmp_path}" in message
    with pytest.raises(AppWorldDataMissing):
        serve_appworld(root=tmp_path, name="appworld-test-missing")
    with pytest.raises(AppWorldDataMissing):
        list_tasks("dev", root=tmp_path)


@pytest.mark.appworld
def test_not_installed_with_installs_disabled(tmp_path, monkeypatch):
    from trirole.environments.appworld.install import ensure_appworld_env

    monkeypatch.setenv("TRIROLE_HOME", str(tmp_path))
    monkeypatch.setenv("TRIROLE_NO_INSTALL", "1")
    with pytest.raises(AppWorldNotInstalled, match="trirole env serve appworld"):
        ensure_appworld_env()


# --------------------------------------------------------------------- parsing (no server)

def test_answers_from_code_and_from_saved_changes(tmp_path):
    assert literal_answer("apis.supervisor.complete_task(answer='10')") == (True, "10")
    assert literal_answer("apis.supervisor.complete_task()") == (True, None)
    assert literal_answer("x = 3\napis.supervisor.complete_task(answer=x)") == (False, None)
    assert literal_answer("print(1)") == (False, None)
    changes = tmp_path / "supervisor.jsonl"
    changes.write_text(json.dumps(["UPDATE tasks SET status=?, record_hash=?, answer=? WHERE tasks.id = ?",
                                   ["success", "h", "11.0", 1], False]) + "\n")
    assert stored_answer(changes) == (True, 11.0)
    assert stored_answer(tmp_path / "missing.jsonl") == (False, None)


def test_list_tasks_and_metadata_read_the_files(tmp_path):
    data = tmp_path / "data"
    (data / "datasets").mkdir(parents=True)
    (data / "datasets" / "dev.txt").write_text("abc_1\nabc_2:tagged\n\n")
    task = data / "tasks" / "abc_1"
    (task / "ground_truth").mkdir(parents=True)
    (task / "specs.json").write_text(json.dumps({"instruction": "Do it.", "datetime": "2023-05-18T12:00:00"}))
    (task / "ground_truth" / "metadata.json").write_text(json.dumps({"difficulty": 2, "num_apps": 1}))
    assert list_tasks("dev", root=tmp_path) == ["abc_1", "abc_2"]
    meta = task_metadata("abc_1", root=tmp_path)
    assert meta["difficulty"] == 2 and meta["instruction"] == "Do it." and meta["num_apps"] == 1
    with pytest.raises(AppWorldUnknownDataset, match="available: dev"):
        list_tasks("test_normal", root=tmp_path)
    with pytest.raises(AppWorldUnknownTask):
        task_metadata("abc_9", root=tmp_path)


@pytest.mark.appworld
async def test_a_timeout_restarts_the_sandbox_not_the_world(appworld_server):
    """Agent code runs in trirole's python sandbox: a step past the time limit costs the
    agent its variables (it is told), never the world, which lives in the server."""
    env = _env(appworld_server, timeout_s=2)
    await env.reset({"instruction": "", "task_id": appworld_server.task_id})
    before = await env.execute("name = apis.supervisor.show_profile()['first_name']\nprint(name)")
    result = await env.execute("n = 0\nwhile True:\n    n += 1")
    assert result["error"] is True and result["error_type"] == "TimeoutError"
    assert "the sandbox restarted" in result["output"]
    after = await env.execute("print('name' in globals(), apis.supervisor.show_profile()['first_name'])")
    assert after["output"] == f"False {before['output']}", after["output"]
    # Imports AppWorld's shell refused run, confined (no network, no files of the user's).
    assert not (await env.execute("import subprocess, socket"))["error"]
    done = await env.execute("apis.supervisor.complete_task(answer='x')")
    assert done["task_completed"] and (await env.evaluate()).details["num_tests"] > 0
    await env.close()


@pytest.mark.appworld
async def test_appworlds_limits_on_steps_and_api_calls_hold(appworld_server):
    """AppWorld's own limits, kept with agent code in the sandbox: API calls per step (its
    requester counts them in the server) and steps per episode."""
    env = _env(appworld_server, max_api_calls_per_interaction=3, max_interactions=3)
    await env.reset({"instruction": "", "task_id": appworld_server.task_id})
    many = await env.execute("for i in range(5):\n    apis.supervisor.show_profile()\n    print(i)")
    assert many["error"] and many["error_type"] == "Exception", many["output"]
    assert many["output"].startswith("0\n1\n2\n") and "exceeded the limit of 3" in many["error_message"]
    assert not (await env.execute("apis.supervisor.show_profile()"))["error"]  # counted per step
    await env.execute("x = 1")
    over = await env.execute("print('ran')")
    assert over["error"] and over["error_message"] == "Maximum number of executions (3) reached.", over["output"]
    assert "ran" not in over["output"]
    await env.close()


_MUNCH = """
class _Munch(dict):
    __getattr__ = dict.__getitem__
def _munch(value):
    if isinstance(value, dict):
        return _Munch({key: _munch(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_munch(item) for item in value]
    return value
MainUserMunch = Munch = AnswerType = object
"""


@pytest.mark.appworld
async def test_ground_truth_solution_passes_the_evaluator(appworld_server):
    """The task's own solution (AppWorld's ``solution(main_user, apis, requester, public_data)``),
    run through execute(), completes the task and passes every check."""
    truth = appworld_server.root / "data" / "tasks" / appworld_server.task_id / "ground_truth"
    if not (truth / "solution.py").is_file():
        pytest.skip("this data ships no solution.py (ground truth in minimal mode)")
    code = "\n".join(line for line in (truth / "solution.py").read_text().splitlines()
                     if not line.startswith(("from ", "import ")))  # AppWorld forbids those imports
    public_data = (truth / "public_data.json").read_text()
    env = _env(appworld_server)
    await env.reset({"instruction": "", "task_id": appworld_server.task_id})
    result = await env.execute(_MUNCH + code + f"\nsolution(None, apis, requester, _munch(json.loads({public_data!r})))")
    assert result["error"] is False, result["output"]
    assert result["task_completed"] is True
    expected = json.loads((truth / "answer.json").read_text())
    assert str(result["answer"]) == str(expected) or result["answer"] == expected
    verdict = await env.evaluate()
    assert verdict.success is True and not verdict.failed and verdict.passed
    await env.close()
