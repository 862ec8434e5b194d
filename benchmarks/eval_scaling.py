"""Evaluation throughput over several model endpoints, locally and through Ray.

Pairs per minute with 1, 2 and 4 replicas of a FAKE model (tests/scripted_openai.py in
its own process), each answering ONE request at a time after a fixed latency, as a server
at capacity does: the endpoints are the bottleneck, so N replicas should give about N
times the pairs per minute. The same work runs with the local runner (`--base-url
URL1,URL2,...`) and with `--ray` on a local Ray cluster, with the same number of worker
slots. Workload: the react paradigm, two model calls per pair, an instant in-memory
environment (benchmarks/eval_throughput.py) and the heuristic token counter.

Rate: pairs over the time from the first model request to the end of the evaluation
(it leaves out start-up, which for Ray includes starting the actors; the first request
waits for nothing, so from then on the endpoints set the pace).
Printed as ratios to one endpoint; target: at least 0.8 x the number of endpoints.

The whole benchmark runs in a private network and PID namespace made for it (it re-runs
itself under `unshare`, root needed), so the Ray cluster stays on loopback.

    .venv/bin/python benchmarks/eval_scaling.py [--latency 0.5] [--slots 6] [--pairs-per-endpoint 10]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from eval_throughput import MODEL, InstantEnvironment, dataset, responder  # noqa: E402

from trirole.backend import HeuristicTokenCounter  # noqa: E402
from trirole.evals import evaluate  # noqa: E402
from trirole.settings import TriroleSettings  # noqa: E402

INSIDE = "TRIROLE_SCALING_NAMESPACE"


def serve(count: int, latency_s: float, urls, stop, first_call) -> None:
    """`count` scripted replicas, each serving one request at a time; `first_call` gets
    the monotonic time (system-wide on Linux) of the first request of a measurement."""
    from contextlib import ExitStack

    from scripted_openai import ScriptedOpenAIServer

    def at_capacity():
        busy = threading.Lock()

        def answer(messages):
            if not first_call.value:
                first_call.value = time.monotonic()
            with busy:
                time.sleep(latency_s)
            return responder(messages)

        return answer

    with ExitStack() as stack:
        servers = [stack.enter_context(ScriptedOpenAIServer(at_capacity(), model=MODEL)) for _ in range(count)]
        urls.put(",".join(s.base_url for s in servers))
        stop.wait()


def instant(settings: TriroleSettings) -> InstantEnvironment:
    return InstantEnvironment()


async def steady_rate(base_url: str, pairs: int, slots: int, ray: str | None, first_call) -> float:
    """Pairs per minute from the first model call to the end (see the module doc)."""
    settings = TriroleSettings(base_url=base_url, model=MODEL, max_steps=5)
    first_call.value = 0.0
    with tempfile.TemporaryDirectory() as out:
        summary = await evaluate(["react"], dataset(pairs), out, settings=settings, concurrency=slots,
                                 environment=instant, graph_options={"token_counter": HeuristicTokenCounter()},
                                 progress=False, ray=ray)
        end = time.monotonic()
        bad = [r for r in summary.records() if not r["success"]]
        assert summary.ran == pairs and not bad, f"every benchmark pair should succeed: {bad[:1]}"
    return 60 * pairs / (end - first_call.value)


async def measure(args: argparse.Namespace, ray_address: str | None) -> None:
    modes = [("local", None)] + ([("ray", ray_address)] if ray_address else [])
    print(f"react, 2 model calls per pair, {args.latency:g} s per call, each endpoint one call at a time, "
          f"{args.slots} worker slots, {args.pairs_per_endpoint} pairs per endpoint; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'mode':>5} {'endpoints':>9} {'pairs':>6} {'pairs/min':>10} {'ratio':>6} {'target':>7}")
    for mode, address in modes:
        base_rate = None
        for count in (1, 2, 4):
            spawn = multiprocessing.get_context("spawn")  # not fork: the driver may hold Ray's threads
            urls_queue, stop, first_call = spawn.Queue(), spawn.Event(), spawn.Value("d", 0.0)
            server = spawn.Process(target=serve, args=(count, args.latency, urls_queue, stop, first_call))
            server.start()
            try:
                urls = urls_queue.get(timeout=60)
                if base_rate is None:  # warm-up: imports, connections (and Ray's first actors)
                    await steady_rate(urls, 2 * args.slots, args.slots, address, first_call)
                pairs = args.pairs_per_endpoint * count
                rate = await steady_rate(urls, pairs, args.slots, address, first_call)
            finally:
                stop.set()
                server.join(10)
            base_rate = base_rate or rate
            print(f"{mode:>5} {count:>9} {pairs:>6} {rate:>10.1f} {rate / base_rate:>6.2f} {0.8 * count:>7.1f}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model call (default 0.5)")
    parser.add_argument("--slots", type=int, default=6, help="pairs in flight / Ray worker slots (default 6)")
    parser.add_argument("--pairs-per-endpoint", type=int, default=10, help="pairs per level = this x endpoints")
    parser.add_argument("--no-ray", action="store_true", help="only the local runner")
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":  # re-run inside a private network + PID namespace
        command = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c",
                   'ip link set lo up && exec "$@"', "-", sys.executable, *sys.argv]
        sys.exit(subprocess.run(command, env={**os.environ, INSIDE: "1"}).returncode)
    if args.no_ray:
        asyncio.run(measure(args, None))
        return
    import ray.cloudpickle
    from ray_cluster import local_ray_cluster

    import eval_throughput

    # The workers cannot import the benchmark modules: send the environment by value.
    ray.cloudpickle.register_pickle_by_value(eval_throughput)
    with local_ray_cluster(num_cpus=args.slots) as address:
        asyncio.run(measure(args, address))


if __name__ == "__main__":
    main()
