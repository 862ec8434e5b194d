"""A self-healing evaluation: an AppWorld server that dies mid-evaluation is replaced.

REAL parts: the AppWorld environment servers the evaluation starts for itself (one per
worker, from AppWorld's own venv, on the offline task pack), the evaluation, and a real
SIGKILL of the worker's server process while the evaluation runs. The model is the
oracle (each task's ground-truth solution), so every pair must be solved: the pair the
dead server was running is run again on the new server, and every later pair runs there.
"""

from __future__ import annotations

import asyncio
import shutil
import signal

import psutil
import pytest

from trirole.evals import evaluate, load_dataset, read_results
from trirole.evals.results import RESULTS_FILE
from trirole.environments.appworld.server import APP  # (how its servers show in a process list)
from trirole.settings import TriroleSettings

pytestmark = pytest.mark.appworld


def evaluation_servers(session_server=None) -> list[psutil.Process]:
    """The AppWorld server processes this test process started (through the evaluation);
    not the test session's own server (`session_server`), which later tests still use."""
    found = []
    skip = f"--port {session_server.url.rsplit(':', 1)[1]}" if session_server is not None else None
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
            if APP in cmdline and not (skip and skip in cmdline):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


async def test_a_killed_appworld_server_is_replaced_and_every_later_pair_is_solved(appworld_server, tmp_path):
    root = appworld_server.root
    data = load_dataset("dev", appworld_root=str(root))
    out = tmp_path / "out"
    run = asyncio.create_task(evaluate(["react"], data, out, settings=TriroleSettings(model="oracle"), concurrency=1,
                                       limit=5, progress=False))
    killed: list[int] = []
    try:
        while not run.done():  # the first pair recorded: kill the server the second one runs on
            lines = (out / RESULTS_FILE).read_text().splitlines() if (out / RESULTS_FILE).is_file() else []
            if lines:
                servers = evaluation_servers(appworld_server)
                assert servers, "the evaluation runs on a server of its own"
                for process in servers:
                    killed.append(process.pid)
                    process.send_signal(signal.SIGKILL)
                break
            await asyncio.sleep(0.2)
        summary = await run
    finally:
        if not run.done():
            run.cancel()
        for name in {r.get("experiment") for r in read_results(out)} - {None}:
            shutil.rmtree(root / "experiments" / "outputs" / name, ignore_errors=True)

    assert killed, "the first pair finished after the whole evaluation: nothing was killed"
    records = read_results(out, every=True)
    assert summary.ran == 5 and len(records) == 5  # one record per pair: the retry is not a second line
    assert [r["success"] for r in records] == [True] * 5, [(r["task_id"], r["status"], r["status_reason"])
                                                           for r in records]
    retried = [r for r in records if r.get("retried_after")]
    assert len(retried) == 1 and records.index(retried[0]) == 1  # the pair that met the dead server
    assert not any(r["infra_error"] for r in records)
    assert not any(p.pid in killed for p in evaluation_servers(appworld_server))  # the evaluation stopped its new server too


async def test_a_ray_workers_dead_appworld_server_is_replaced_and_its_pair_run_again(appworld_server, tmp_path):
    # The Ray executor's worker slot, run here as a plain object (Ray's actor machinery is
    # tested in tests/test_ray_eval.py): its own private AppWorld server, killed between pairs.
    pytest.importorskip("ray")
    from trirole.evals.oracle import oracle_for
    from trirole.evals.ray_runner import PairWorker

    data = load_dataset("dev", appworld_root=str(appworld_server.root))
    tasks = data.tasks[:3]
    worker = PairWorker(["react"], data, TriroleSettings(model="oracle"), environment=None,
                        graph_options={"model": oracle_for(data)}, task_timeout_s=300, check=False)
    records = []
    try:
        for number, task in enumerate(tasks):
            if number == 1:
                servers = evaluation_servers(appworld_server)
                assert servers and worker.server is not None
                for process in servers:
                    process.send_signal(signal.SIGKILL)
            record, trace = await worker.run("react", task, 0, "trirole-healing-test-ray")
            records.append(record)
            assert trace  # the pair's trace goes back to the driver
    finally:
        worker.close()
        shutil.rmtree(appworld_server.root / "experiments" / "outputs" / "trirole-healing-test-ray", ignore_errors=True)
    assert [r["success"] for r in records] == [True, True, True], [(r["status"], r["status_reason"]) for r in records]
    assert [bool(r.get("retried_after")) for r in records] == [False, True, False]
    assert worker.server is None and not evaluation_servers(appworld_server)  # close stopped the new server


async def test_a_server_killed_between_two_episodes_fails_the_next_as_the_environment(appworld_server):
    """The kill can land between two pairs, before the next one's reset: that reset must fail
    as the environment (``env_error``, which the evaluation heals by replacing the server),
    never as a file error from the dead server's stage under /proc."""
    from trirole.environments.appworld import AppWorldEnvironment
    from trirole.environments.appworld.server import private_server
    from trirole.environments.base import EnvironmentFailure

    root = appworld_server.root
    with private_server(root) as server:
        env = AppWorldEnvironment(url=server.url, root=str(root))
        try:
            await env.reset({"instruction": "", "task_id": appworld_server.task_id})
            assert (await env.execute("print(6 * 7)"))["output"].startswith("42")
            port = f"--port {server.url.rsplit(':', 1)[1]}"
            doomed = [p for p in evaluation_servers(appworld_server) if port in " ".join(p.cmdline())]
            assert doomed, "the private server runs as a child of this test"
            for process in doomed:
                process.send_signal(signal.SIGKILL)
            psutil.wait_procs(doomed, timeout=10)
            with pytest.raises(EnvironmentFailure) as failure:
                await env.reset({"instruction": "", "task_id": appworld_server.task_id})
            assert not isinstance(failure.value, OSError), failure.value
        finally:
            await env.close()
