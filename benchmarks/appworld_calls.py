"""The cost of an AppWorld API call from agent code: trirole's sandbox against AppWorld's shell.

Side by side in one run, interleaved (the order alternates per repeat), on the same task
of the offline pack:
- sandbox: trirole's path. Agent code runs in the python sandbox (bubblewrap); each
  ``apis.<app>.<api>(...)`` crosses the sandbox's channel to trirole, which forwards it to
  the confined AppWorld server (``/trirole/call``); after the step the server saves the
  world (``/trirole/end_step``). `AppWorldEnvironment.execute`.
- shell: AppWorld's own path, as trirole ran it before agent code left the server: the code
  sent to a plain ``appworld.serve.environment`` server (``/execute``), run in its IPython
  shell, in the process holding the world; it saves the world after the step too.

Measured per repeat (medians): a step without API calls (``x = 1``), a step with one call,
and the cost of one call (a step making `calls` calls of ``apis.supervisor.show_profile()``,
divided by `calls`).

    .venv/bin/python benchmarks/appworld_calls.py [--steps 20] [--calls 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import time

import httpx

from trirole.environments.appworld import AppWorldEnvironment
from trirole.environments.appworld.data import default_root, list_tasks
from trirole.environments.appworld.install import ensure_appworld_env
from trirole.environments.appworld.server import private_server
from trirole.environments.isolation import minimal_env
from trirole.serving.process import free_port

EXPERIMENT = "trirole-benchmark-appworld-calls"
CASES = {"step, no call": "x = 1", "step, one call": "p = apis.supervisor.show_profile()"}


def loop(calls: int) -> str:
    return f"for _ in range({calls}):\n    p = apis.supervisor.show_profile()"


async def timed(run, code: str, steps: int) -> float:
    samples = []
    for _ in range(steps):
        began = time.perf_counter()
        await run(code)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


async def measure(run, steps: int, calls: int) -> dict[str, float]:
    await run("x = 0")  # warm-up
    out = {label: await timed(run, code, steps) for label, code in CASES.items()}
    out["one call (of a loop)"] = await timed(run, loop(calls), max(steps // 4, 3)) / calls
    return out


def start_shell_server(root, port: int) -> subprocess.Popen:
    """AppWorld's own server on the data root (benchmark only: it runs code it is sent)."""
    python = ensure_appworld_env() / "bin" / "python"
    return subprocess.Popen([str(python), "-m", "uvicorn", "appworld.serve.environment:app", "--host", "127.0.0.1",
                             "--port", str(port), "--no-access-log"], cwd=root,
                            env=minimal_env(str(root), {"APPWORLD_ROOT": str(root)}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


async def main(steps: int, calls: int, repeats: int) -> None:
    root = default_root()
    task_id = list_tasks("dev", root=root)[0]
    port = free_port()
    shell = start_shell_server(root, port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=300) as http:
            for _ in range(600):
                try:
                    if (await http.get("/")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
            with private_server(root) as server:
                env = AppWorldEnvironment(url=server.url, root=str(root))

                async def sandbox(code: str) -> None:
                    result = await env.execute(code)
                    assert not result["error"], result["output"]

                async def in_shell(code: str) -> None:
                    response = await http.post("/execute", json={"task_id": task_id, "code": code})
                    assert "Execution failed" not in response.json()["output"], response.text

                measured: dict[str, dict[str, list[float]]] = {"sandbox": {}, "shell": {}}
                for repeat in range(repeats):
                    order = ["sandbox", "shell"] if repeat % 2 == 0 else ["shell", "sandbox"]
                    for path in order:
                        if path == "sandbox":
                            await env.reset({"instruction": "", "task_id": task_id})
                            got = await measure(sandbox, steps, calls)
                        else:
                            (await http.post("/initialize", json={"task_id": task_id, "experiment_name": EXPERIMENT}
                                             )).raise_for_status()
                            got = await measure(in_shell, steps, calls)
                            await http.post("/close", json={"task_id": task_id})
                        for key, value in got.items():
                            measured[path].setdefault(key, []).append(value)
                await env.close()
    finally:
        shell.kill()  # (uvicorn's own shutdown can take 10 s and more with a world loaded)
        shell.wait()
        shutil.rmtree(os.path.join(root, "experiments", "outputs", EXPERIMENT), ignore_errors=True)
    print(f"AppWorld API calls from agent code, task {task_id}: median of {repeats} interleaved repeats "
          f"({steps} steps each; one call = a step of {calls} calls / {calls})")
    print(f"{'':>22} {'sandbox':>10} {'shell':>10} {'ratio':>7}")
    for key in measured["sandbox"]:
        s, h = statistics.median(measured["sandbox"][key]), statistics.median(measured["shell"][key])
        print(f"{key:>22} {s * 1000:>8.2f}ms {h * 1000:>8.2f}ms {s / h:>6.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.calls, args.repeats))
