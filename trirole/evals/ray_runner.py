"""``trirole eval --ray auto|ADDRESS``: the pairs of an evaluation on a Ray cluster.

Each worker slot is a `PairWorker` actor (one CPU, spread over the nodes) that runs one
pair at a time with `trirole.evals.pair.run_pair` (as the local executor does) and owns
what the pair needs on its node: its AppWorld server (started on first use, replaced when
it dies, stopped by `close`), the python sandboxes of its pairs, its model clients. The
driver hands out the pairs planned by `trirole.evals.planning` and writes each returned
record (and its trace) with `trirole.evals.results.ResultsWriter`, so ``results.jsonl`` is
exactly as a local run writes it and resume works unchanged.

A worker process or node lost mid-run loses only the pair it was running: the pair goes
back in the queue and the slot gets a new actor (a pair that lost its worker
`MAX_LOSSES` times is left for the next run, which reruns every unrecorded pair).

Endpoints are global (any ``--base-url``), or each node's own: ``{node_ip}`` in a base URL
is replaced on each worker by its node's address, e.g. ``http://{node_ip}:8000/v1`` for a
vLLM server on every node. Every node needs trirole installed (the same version).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import Counter, deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from trirole.backend import counts_since, merge_counts, replica_counts
from trirole.errors import TriroleError
from trirole.evals.datasets import Dataset, EvalTask
from trirole.evals.pair import (EnvironmentFactory, build_graphs, models_injected, pair_context, preflight,
                                run_healing, run_pair, server_options)
from trirole.evals.planning import EvalSummary, log, plan_runs
from trirole.evals.progress import EvalProgress
from trirole.evals.results import PairRecord, ResultsWriter, record_replica_counts
from trirole.settings import TriroleSettings
from trirole.environments.appworld.server import is_serving, private_server

NODE_IP = "{node_ip}"


class RayError(TriroleError, ValueError):
    """The cluster cannot be used (Ray missing, no cluster at the address, a worker's own error)."""


MAX_LOSSES = 3  # times a pair may lose its worker in one run before it is left for the next run
SLOT_CPUS = 1  # Ray CPUs reserved per worker slot (a pair's sandbox or AppWorld episode)


def on_node(settings: TriroleSettings, node_ip: str) -> TriroleSettings:
    """`settings` with ``{node_ip}`` in the base URLs (shared and per role) set to this node."""
    roles = {role: {**o, "base_url": o["base_url"].replace(NODE_IP, node_ip)} if o.get("base_url") else o
             for role, o in settings.roles.items()}
    return replace(settings, base_url=settings.base_url.replace(NODE_IP, node_ip), roles=roles)


class PairWorker:
    """One worker slot: a Ray actor that runs pairs one at a time (see the module doc)."""

    def __init__(self, names: list[str], data: Dataset, settings: TriroleSettings, *,
                 environment: EnvironmentFactory | None, graph_options: Mapping[str, Any],
                 task_timeout_s: float | None, check: bool) -> None:
        import ray

        self.settings = on_node(settings, ray.util.get_node_ip_address())
        self.graphs, self.run_settings = build_graphs(names, data, self.settings, environment, graph_options)
        self.env, self.task_timeout_s = data.env, task_timeout_s
        self.check = check and not models_injected(graph_options)
        self.scratch = Path(tempfile.mkdtemp(prefix="trirole-ray-"))  # traces before they go to the driver
        self.root = data.env_options.get("root")
        self._server: contextlib.ExitStack | None = None
        self.server: Any = None
        self.replicas_before = replica_counts()

    def _start(self) -> None:
        """On the first pair: check this node's endpoints, start this slot's AppWorld server
        (a private one, owned by this actor: it dies with the actor's process). Called in
        the actor's own thread, not a pool thread: an owned server dies with the thread that
        started it."""
        if self.check:
            preflight(self.settings)
            self.check = False
        if self.env == "appworld" and self._server is None and "url" not in self.settings.env_options:
            self._server = contextlib.ExitStack()
            self.server = self._server.enter_context(private_server(self.root, isolation=self.settings.isolation))

    # The worker's AppWorld server as `trirole.evals.pair.run_healing` sees it.
    async def alive(self) -> bool:
        return await asyncio.to_thread(is_serving, self.server.url)

    async def replace(self) -> None:
        """A new private server in place of the dead one (started in the actor's thread, see `_start`)."""
        self._stop_server()
        self._start()

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server, self.server = None, None

    async def run(self, paradigm: str, task: EvalTask, repeat: int, experiment: str | None) -> tuple[PairRecord, str]:
        """One run of a pair: its results record and its trace (JSON lines). `experiment`:
        the AppWorld output folder the driver chose for (paradigm, repeat)."""
        self._start()
        settings = self.run_settings[paradigm]

        def run_once() -> Any:
            context = pair_context(settings, server_options(self.server) if self.server else {}, experiment)
            return run_pair(self.graphs[paradigm], paradigm, task, out_dir=self.scratch, settings=settings,
                            task_timeout_s=self.task_timeout_s, context=context, repeat=repeat)

        record = await run_healing(run_once, self if self.server is not None else None)
        trace = self.scratch / record["trace"]
        text = trace.read_text(encoding="utf-8") if trace.is_file() else ""
        trace.unlink(missing_ok=True)
        return record, text

    def close(self) -> dict[str, dict[str, int]]:
        """Stop what this slot started; its per-replica model counts."""
        self._stop_server()
        return counts_since(self.replicas_before)


def connect(address: str) -> bool:
    """Join the Ray cluster at `address` (``auto``: this machine's); one-line errors.
    False when this process had joined one already (then it is not ours to leave)."""
    try:
        import ray
    except ImportError:
        raise RayError("--ray needs Ray: pip install 'trirole[ray]'") from None
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        return True
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayError(f"cannot join a Ray cluster at {address!r} ({' '.join(str(exc).split())[:200]}); "
                         "start one with `ray start --head` or pass --ray HOST:PORT") from None


async def evaluate_on_ray(
    names: list[str],
    data: Dataset,
    tasks: list[EvalTask],
    out_dir: str | Path,
    *,
    address: str,
    settings: TriroleSettings,
    concurrency: int,
    task_timeout_s: float | None,
    graph_options: Mapping[str, Any],
    environment: EnvironmentFactory | None,
    check: bool,
    progress: bool,
    retry_errors: bool,
    repeats: int,
    extend: bool = False,
    server_engines: list[str] | None = None,
) -> EvalSummary:
    """The runs `trirole.evals.runner.evaluate` planned (`names` x `tasks` x `repeats`), on
    the Ray cluster at `address` with `concurrency` worker slots; same results folder."""
    node_local = NODE_IP in settings.base_url or any(NODE_IP in str(o.get("base_url", "")) for o in settings.roles.values())
    if check and not node_local and not models_injected(graph_options):
        await asyncio.to_thread(preflight, settings)  # global endpoints: once; node-local: on each worker

    plan = plan_runs(out_dir, data, names, tasks, settings, retry_errors=retry_errors, repeats=repeats,
                     task_timeout_s=task_timeout_s, extend=extend, width=concurrency,
                     server_engines=server_engines)
    out, pending = plan.out, deque(plan.pending)
    if not pending:
        log(f"{plan.describe()}; running 0", progress)
        return plan.summary(0)
    joined = connect(address)
    import ray
    from ray.exceptions import RayActorError

    log(f"{plan.describe()}; running {len(pending)} on Ray ({address}) with "
         f"{concurrency} worker slots", progress)
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < min(concurrency, len(pending)) * SLOT_CPUS:
        log(f"note: the cluster has {cpus:g} CPUs for {concurrency} worker slots of {SLOT_CPUS} CPU; "
             "the slots beyond that wait for a free CPU", progress)
    worker_class = ray.remote(num_cpus=SLOT_CPUS, max_restarts=0)(PairWorker)
    losses: Counter[tuple[str, str, int]] = Counter()
    replicas: dict[str, dict[str, int]] = {}
    writer = ResultsWriter(out)
    finished = 0

    def new_worker() -> Any:
        return worker_class.options(scheduling_strategy="SPREAD").remote(
            names, data, settings, environment=environment, graph_options=graph_options,
            task_timeout_s=task_timeout_s, check=check)

    async def slot() -> None:
        nonlocal finished
        worker = None
        try:
            while pending:
                paradigm, task, repeat = pending.popleft()
                key = (paradigm, task.id, repeat)
                worker = worker or new_worker()
                experiment = plan.experiment(paradigm, repeat)
                try:
                    record, trace = await worker.run.remote(paradigm, task, repeat, experiment)
                except RayActorError as exc:  # the worker process or its node is gone
                    worker = None
                    losses[key] += 1
                    if losses[key] < MAX_LOSSES:
                        pending.append((paradigm, task, repeat))
                    display.note(f"worker lost while running {paradigm} {task.id} ({type(exc).__name__}); "
                                 + ("it runs again" if losses[key] < MAX_LOSSES else "left for the next run"))
                    continue
                path = out / record["trace"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(trace, encoding="utf-8")
                writer.write(record)
                finished += 1
                display.pair_done(record)
        finally:
            if worker is not None:
                with contextlib.suppress(RayActorError):
                    merge_counts(replicas, await worker.close.remote())
                ray.kill(worker)

    display = EvalProgress(names, total=plan.total, previous=plan.previous, enabled=progress)
    try:
        with display:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(concurrency, len(pending))):
                    group.create_task(slot())
    except* ray.exceptions.RayTaskError as failures:  # a worker's own error (e.g. its endpoint is down)
        raise RayError(f"a Ray worker failed: {failures.exceptions[0].cause}") from None
    finally:
        writer.close()
        record_replica_counts(out, replicas)
        if joined:
            ray.shutdown()  # leaves the cluster; the cluster itself is not ours
    return plan.summary(finished)

