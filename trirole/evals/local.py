"""The local executor: an evaluation's pending runs, N at a time in this process.

Each worker takes the next run from a shared queue (each run is taken exactly once) and
appends its record to ``results.jsonl`` when it finishes. On AppWorld, each worker owns
one AppWorld server (a server holds one task at a time): servers this evaluation starts
are its own, stopped when it ends, however it ends. A worker whose server died gets a new
one, and the pair it was running runs once more (`trirole.evals.pair.run_healing`).
The other workers start once the first pair's model has replied (`_FirstReply`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any, Awaitable, Callable

from langchain_core.callbacks import AsyncCallbackHandler

from trirole.backend import counts_since, replica_counts
from trirole.evals.pair import EnvironmentFactory, build_graphs, pair_context, run_healing, run_pair, server_options
from trirole.evals.planning import EvalSummary, RunPlan, log
from trirole.evals.progress import EvalProgress
from trirole.evals.results import ResultsWriter, record_replica_counts
from trirole.settings import TriroleSettings
from trirole.environments.appworld.server import appworld_servers, is_serving
from trirole.environments.bfcl.errors import BfclScorerError

# -- garbage between pairs ------------------------------------------------------------------------
# Every HTTP response (httpx) is a reference cycle. The ones still in flight when a young
# collection runs are promoted to the oldest generation, which CPython collects only once
# it grew by a quarter of the process's long-lived objects (langchain alone: ~150k), so
# over a run that garbage piles up in proportion to the number of pairs (+17% peak memory
# from 10 to 100 tasks). A full collection after each pair keeps it at one pair's worth;
# with the objects that existed before the evaluation frozen (`gc.freeze`) it scans only
# the run's own objects, microseconds instead of ~100 ms.
_frozen_depth = 0


@contextlib.contextmanager
def _objects_before_frozen():
    """Freeze the objects that exist now (see above) for the duration of the block."""
    global _frozen_depth
    if _frozen_depth == 0:
        gc.freeze()
    _frozen_depth += 1
    try:
        yield
    finally:
        _frozen_depth -= 1
        if _frozen_depth == 0:  # concurrent evaluations in one process: the last one unfreezes
            gc.unfreeze()


class _FirstReply(AsyncCallbackHandler):
    """Sets `answered` once the model has replied (or failed) for the first time.

    The first pair's first model call runs alone: the pairs' prompts open alike (the
    paradigm's system prompt, the dataset's worked examples: ~720 tokens of every BFCL
    prompt), and N cold requests at once would each compute that prefix, where after one
    reply the server's prefix cache serves it to all. On the embedded server that was 7 x
    ~720 tokens of prefill at a BFCL evaluation's start, and ~4 points of its cache rate."""

    run_inline = True  # in the event loop, no thread hop

    def __init__(self, answered: asyncio.Event) -> None:
        self.answered = answered

    async def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.answered.set()

    async def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.answered.set()


class _OwnedServer:
    """One worker's AppWorld server, replaced (within the evaluation's exit stack) when it dies."""

    def __init__(self, server: Any, owned: contextlib.AsyncExitStack, root: Any, isolation: str) -> None:
        self.server, self._owned, self._root, self._isolation = server, owned, root, isolation

    @property
    def options(self) -> dict[str, Any]:
        return server_options(self.server)

    async def alive(self) -> bool:
        return await asyncio.to_thread(is_serving, self.server.url)

    async def replace(self) -> None:
        servers = await self._owned.enter_async_context(appworld_servers(1, self._root, isolation=self._isolation))
        self.server = servers[0]


async def run_local(plan: RunPlan, *, settings: TriroleSettings, concurrency: int, task_timeout_s: float | None,
                    graph_options: dict[str, Any], environment: EnvironmentFactory | None,
                    progress: bool) -> EvalSummary:
    """Run `plan`'s pending runs here, `concurrency` at a time (see the module doc)."""
    data = plan.data
    own_servers = data.env == "appworld" and environment is None and "url" not in settings.env_options
    if data.env == "appworld" and concurrency > 1 and not own_servers:
        log("note: AppWorld's server runs one task at a time; running with concurrency 1", progress)
        concurrency = 1
    own_servers = own_servers and bool(plan.pending)  # nothing left to run: start no server
    async with contextlib.AsyncExitStack() as owned:
        slots: list[_OwnedServer | None] = [None] * concurrency
        if own_servers:
            # An AppWorld server holds one task at a time: one server per worker, owned by
            # this evaluation (stopped when it ends, however it ends).
            log(f"starting {concurrency} AppWorld server(s) of this evaluation (one task at a time each)", progress)
            root = data.env_options.get("root")
            servers = await owned.enter_async_context(
                appworld_servers(concurrency, root, isolation=settings.isolation))
            slots = [_OwnedServer(server, owned, root, settings.isolation) for server in servers]
        starting: Callable[[], Awaitable[None]] | None = None
        if data.env == "bfcl" and plan.pending:
            # One process of BFCL's checkers for the whole evaluation (its import alone takes
            # seconds); the pairs' environments find it (`trirole.environments.bfcl.scorer`).
            # The pairs start while it imports; one that cannot start stops the evaluation.
            from trirole.environments.bfcl.scorer import shared_scorer

            starting = (await owned.enter_async_context(shared_scorer())).ready
        try:
            return await _run_pairs(plan, settings=settings, concurrency=concurrency, task_timeout_s=task_timeout_s,
                                    graph_options=graph_options, environment=environment, progress=progress,
                                    slots=slots, starting=starting)
        except* BfclScorerError as failed:  # the checker's one-line error, not a group of them
            raise failed.exceptions[0] from None


async def _run_pairs(plan: RunPlan, *, settings: TriroleSettings, concurrency: int,
                     task_timeout_s: float | None, graph_options: dict[str, Any],
                     environment: EnvironmentFactory | None, progress: bool,
                     slots: list[_OwnedServer | None],
                     starting: Callable[[], Awaitable[None]] | None = None) -> EvalSummary:
    """Run the pending pairs on `concurrency` workers; `starting` (a helper's start-up,
    awaited beside them) stops them all when it fails."""
    out = plan.out
    log(f"{plan.describe()}; running {len(plan.pending)} with concurrency {concurrency}", progress)
    graphs, run_settings = build_graphs(plan.names, plan.data, settings, environment, graph_options)
    replicas_before = replica_counts()  # endpoints.json: which model replica served what
    finished = 0
    queue = iter(plan.pending)  # shared by the workers: each pair is taken exactly once

    first_reply = asyncio.Event()  # see _FirstReply: the other workers start after it

    async def worker(slot: int, writer: ResultsWriter) -> None:
        nonlocal finished
        server = slots[slot]
        if slot:
            await first_reply.wait()
        for paradigm, task, repeat in queue:
            callbacks = () if first_reply.is_set() else (_FirstReply(first_reply),)

            def run_once(paradigm: str = paradigm, task: Any = task, repeat: int = repeat) -> Any:
                context = pair_context(run_settings[paradigm], server.options if server else {},
                                       plan.experiment(paradigm, repeat))
                return run_pair(graphs[paradigm], paradigm, task, out_dir=out, settings=run_settings[paradigm],
                                task_timeout_s=task_timeout_s, context=context, repeat=repeat,
                                callbacks=callbacks)

            try:
                record = await run_healing(run_once, server)
            finally:
                first_reply.set()  # a pair without a model call (or a failed one) warms nothing
            writer.write(record)
            gc.collect()  # see _objects_before_frozen: one pair's garbage, not the run's
            finished += 1
            display.pair_done(record)

    display = EvalProgress(plan.names, total=plan.total, previous=plan.previous, enabled=progress)
    try:
        with ResultsWriter(out) as writer, _objects_before_frozen(), display:
            async with asyncio.TaskGroup() as group:
                if starting is not None:
                    group.create_task(starting())
                for slot in range(min(concurrency, len(plan.pending))):
                    group.create_task(worker(slot, writer))
    finally:
        record_replica_counts(out, counts_since(replicas_before))
    return plan.summary(finished)
