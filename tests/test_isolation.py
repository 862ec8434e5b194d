"""Results a user can trust when several trirole processes share one machine.

Everything here is REAL: AppWorld's environment server (its own venv, started on loopback
on free ports), real `trirole eval` processes, trirole's offline task pack and its
ground-truth solutions. The model is the oracle (`--model oracle`), which answers with
each task's ground-truth solution: it needs no endpoint, and every pair must succeed, so
any failure is the harness's.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from trirole.evals import evaluate, load_dataset, read_results
from trirole.evals.paradigms import VARIANTS
from trirole.settings import TriroleSettings
from trirole.environments.appworld import AppWorldEnvironment, AppWorldEpisodeLost
from trirole.environments.appworld.server import APP
from trirole.environments.appworld.client import AppWorldClient
from trirole.environments.appworld.stage import read_stage_record, stage_task, unstage

ORACLE = TriroleSettings(model="oracle", base_url="http://127.0.0.1:9/v1")


def _eval_command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "trirole.cli", "eval", "--model", "oracle", "--dataset", "dev", "--out", str(out),
            "--task-timeout", "300", *extra]


def _private_ports(home: Path) -> set[int]:
    """Ports of the private AppWorld servers started with this TRIROLE_HOME (their logs)."""
    return {int(log.stem.rsplit("-", 1)[1]) for log in (home / "logs").glob("appworld-private-*.log")}


def _servers_on(ports: set[int]) -> list[psutil.Process]:
    """Live processes of AppWorld servers on any of `ports`, found by their command line
    (under bubblewrap a server is two: bwrap and the python it confines)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if APP in cmdline and "--port" in cmdline:
            port = cmdline[cmdline.index("--port") + 1]
            if port.isdigit() and int(port) in ports and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def _none_left(ports: set[int], within_s: float = 15) -> list[psutil.Process]:
    deadline = time.monotonic() + within_s
    while (left := _servers_on(ports)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


# -- isolation across processes -------------------------------------------------------------------
@pytest.mark.appworld
def test_two_evaluations_at_once_beside_the_named_server_both_score_100(isolated_home, tmp_path):
    from trirole.environments.appworld.server import serve_appworld, stop_appworld

    named = serve_appworld()  # as `trirole env serve appworld` (make demo) leaves it
    try:
        outs = [tmp_path / "first", tmp_path / "second"]
        runs = [subprocess.Popen(_eval_command(out, "--paradigms", "base", "--concurrency", "2"),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for out in outs]
        logs = [run.communicate(timeout=600)[0] for run in runs]
        for run, log in zip(runs, logs):
            assert run.returncode == 0, log
        for out in outs:
            records = read_results(out)
            assert len(records) == 18
            assert [r["task_id"] for r in records if r["success"] is not True] == []
            assert not any(r["infra_error"] for r in records)
        # One evaluation held the named server's lease; the other started two private
        # servers, the first one more: three in all, none left running.
        ports = _private_ports(isolated_home)
        assert len(ports) == 3 and named.port not in ports
        assert _none_left(ports) == []
        assert psutil.pid_exists(named.pid)  # the user's named server is left alone
    finally:
        stop_appworld()


@pytest.mark.appworld
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_a_killed_evaluation_leaves_no_server_running(isolated_home, tmp_path, how):
    out = tmp_path / "out"
    # Ctrl-C reaches a program whose SIGINT is not ignored: a test session started in the
    # background of a shell without job control (`bash .ci/run &`) passes SIG_IGN on, and the
    # evaluation would then finish instead of stopping.
    run = subprocess.Popen(_eval_command(out, "--paradigms", "base,react", "--concurrency", "2"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while not read_results(out) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run.poll() is None, "the evaluation ended before it could be killed"
        ports = _private_ports(isolated_home)
        assert len(ports) == 2 and {p.info["cmdline"][p.info["cmdline"].index("--port") + 1]
                                    for p in _servers_on(ports)} == {str(port) for port in ports}
        run.send_signal(how)
        assert run.wait(timeout=60) == (130 if how == signal.SIGINT else -signal.SIGKILL)
        assert _none_left(ports) == []
    finally:
        if run.poll() is None:
            run.kill()


@pytest.mark.appworld
def test_trirole_run_uses_the_named_server_only_while_it_is_free(isolated_home, appworld_server):
    from trirole.environments.appworld.server import lease_server, serve_appworld, stop_appworld

    run = [sys.executable, "-m", "trirole.cli", "run", "--env", "appworld", "--task", appworld_server.task_id,
           "--model", "oracle", "--paradigm", "react"]
    named = serve_appworld()
    try:
        proc = subprocess.run(run, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and "evaluation: PASS" in proc.stdout, proc.stdout + proc.stderr
        assert _private_ports(isolated_home) == set()  # it ran on the free named server
        lease = lease_server(named.url)  # now an episode of another process runs there
        try:
            proc = subprocess.run(run, capture_output=True, text=True, timeout=300)
        finally:
            lease.release()
        assert proc.returncode == 0 and "evaluation: PASS" in proc.stdout, proc.stdout + proc.stderr
        ports = _private_ports(isolated_home)
        assert len(ports) == 1 and _none_left(ports) == []  # its own server, stopped at its end
    finally:
        stop_appworld()


# -- the oracle -------------------------------------------------------------------------------------
@pytest.mark.appworld
async def test_the_oracle_scores_100_with_every_paradigm_on_the_dev_split(isolated_home, tmp_path):
    started = time.monotonic()
    summary = await evaluate(list(VARIANTS), "dev", tmp_path / "out", settings=ORACLE, concurrency=3,
                             task_timeout_s=300, progress=False)
    records = summary.records()
    assert len(records) == len(VARIANTS) * 18
    failed = [(r["paradigm"], r["task_id"], r["status"], r["status_reason"][:200]) for r in records
              if r["success"] is not True]
    assert failed == []
    assert _none_left(_private_ports(isolated_home)) == []
    print(f"oracle, {len(VARIANTS)} paradigms x 18 dev tasks, concurrency 3: {time.monotonic() - started:.0f} s")


def test_the_oracle_on_tasks_without_solutions_is_a_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trirole.cli", "eval", "--model", "oracle", "--dataset", "python",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "has none" in proc.stderr and "--dataset dev" in proc.stderr


# -- lost episodes are infrastructure errors --------------------------------------------------------
class _Interfered(AppWorldEnvironment):
    """An environment whose server is taken over by a foreign client (one that takes no
    lease) right before the first execution of `victim`'s episode: it initialises
    another task there."""

    def __init__(self, victim: str, other: str, **options) -> None:
        super().__init__(**options)
        self.victim, self.other = victim, other

    async def execute(self, code: str):
        if self.task_id == self.victim:
            await _foreign_initialize(self.url, self.root, self.other, "trirole-test-foreign")
        return await super().execute(code)


async def _foreign_initialize(url: str, root, task_id: str, experiment_name: str) -> None:
    """A client that takes no lease starts `task_id` on the server at `url`. The server
    only ever sees the task its stage holds while it starts, so the foreign client stages
    it first, as trirole does (a client that does not cannot start any task there)."""
    record = read_stage_record(url)
    assert record is not None  # the server is one of trirole's, serving a stage
    stage_task(record["stage"], root, task_id)
    foreign = AppWorldClient(url)
    try:
        await foreign.initialize(task_id, experiment_name=experiment_name, load_ground_truth=False)
    finally:
        await foreign.aclose()
        unstage(record["stage"])


@pytest.mark.appworld
async def test_a_server_taken_over_is_an_infrastructure_error_and_retry_errors_reruns_only_it(appworld_server,
                                                                                              tmp_path):
    dataset = load_dataset("dev", appworld_root=str(appworld_server.root))
    dataset = replace(dataset, tasks=dataset.tasks[:3])
    ids = [t.id for t in dataset.tasks]
    victim = ids[1]
    options = dict(url=appworld_server.url, root=str(appworld_server.root),
                   experiment_name=f"trirole-test/{tmp_path.name}")
    out = tmp_path / "out"

    await evaluate("react", dataset, out, settings=ORACLE, concurrency=1, progress=False,
                   environment=lambda settings: _Interfered(victim, ids[0], **options))
    records = {r["task_id"]: r for r in read_results(out)}
    assert records[victim]["infra_error"] is True and records[victim]["status"] == "env_error"
    assert "no longer holds the episode" in records[victim]["infra_reason"]
    assert [records[i]["success"] for i in ids if i != victim] == [True, True]
    assert not any(records[i]["infra_error"] for i in ids if i != victim)

    summary = await evaluate("react", dataset, out, settings=ORACLE, concurrency=1, progress=False,
                             environment=lambda settings: AppWorldEnvironment(**options), retry_errors=True)
    assert summary.ran == 1  # exactly the pair recorded as an infrastructure error
    lines = read_results(out, every=True)
    assert len(lines) == 4 and [r["task_id"] for r in lines].count(victim) == 2
    latest = read_results(out)  # the last record of a pair wins
    assert [r["task_id"] for r in latest] == ids
    assert all(r["success"] is True and r["infra_error"] is False for r in latest)


@pytest.mark.appworld
async def test_an_episode_reset_underneath_is_detected_before_it_is_scored(appworld_server):
    env = AppWorldEnvironment(url=appworld_server.url, root=str(appworld_server.root))
    await env.reset({"instruction": "", "task_id": appworld_server.task_id})
    await env.execute("apis.supervisor.complete_task()")
    # the same task, started again by a foreign client
    await _foreign_initialize(appworld_server.url, appworld_server.root, appworld_server.task_id, env.experiment_name)
    with pytest.raises(AppWorldEpisodeLost, match="reset underneath"):
        await env.evaluate()
    await env.close()
