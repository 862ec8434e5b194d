"""One (paradigm, task) pair of an evaluation: its graphs, its context, its run.

What the local and the Ray executor share: the paradigms' graphs and run settings
(`build_graphs`), the endpoint preflight, the per-pair context (this worker's AppWorld
server and the pair's AppWorld experiment: `pair_context`) and the run itself
(`run_pair`), which turns whatever happens into a results record. Each pair gets its own
environment episode (owned and closed by the graph's run) and its own trace,
``out_dir/traces/<paradigm>/<task>.jsonl`` (repeat k > 0: ``<task>.r<k>.jsonl``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol, Sequence

from trirole.backend import check_endpoint
from trirole.evals.datasets import Dataset, EvalTask
from trirole.evals.oracle import ORACLE, TASK_METADATA
from trirole.evals.paradigms import VARIANTS
from trirole.evals.results import PairRecord, make_record, trace_path
from trirole.prompts import substitutes
from trirole.settings import ROLES, TriroleSettings, recursion_limit
from trirole.environments import Environment, EnvironmentFailure
from trirole.trace import JsonlTrace

EnvironmentFactory = Callable[[TriroleSettings], Environment]


def models_injected(graph_options: Mapping[str, Any]) -> bool:
    """Whether the graphs get their models from the caller (a fake, the oracle): then no
    endpoint is checked or measured."""
    return bool({"model", "models"} & set(graph_options))


def build_graphs(names: Iterable[str], data: Dataset, settings: TriroleSettings,
                 environment: EnvironmentFactory | None, graph_options: Mapping[str, Any],
                 ) -> tuple[dict[str, Any], dict[str, TriroleSettings]]:
    """Each paradigm's compiled graph and run settings (its overrides and the dataset's
    environment on top of `settings`); each run of a graph owns and closes its episode."""
    graphs, run_settings = {}, {}
    if data.prompts and "prompts" not in graph_options:  # the dataset's own templates, unless the caller's
        graph_options = {**graph_options, "prompts": substitutes(data.prompts)}
    for name in names:
        builder, overrides = VARIANTS[name]
        run_settings[name] = replace(settings, env=data.env,
                                     env_options={**data.env_options, **dict(settings.env_options)}, **overrides)
        graphs[name] = builder(settings=run_settings[name], environment=environment, **graph_options)
    return graphs, run_settings


def preflight(settings: TriroleSettings) -> None:
    """Check every distinct role endpoint once; raises `trirole.backend.BackendError`."""
    for base_url, model in dict.fromkeys((settings.endpoint(r).base_url, settings.endpoint(r).model) for r in ROLES):
        if model != ORACLE:  # the oracle answers in-process: no endpoint
            check_endpoint(base_url, model)


def server_options(server: Any) -> dict[str, Any]:
    """The environment options that send a pair's episode to `server`, an AppWorld
    server this worker owns (`trirole.environments.appworld.server.AppWorldServer`): no lease
    to take, it is this worker's alone."""
    return {"url": server.url, "root": str(server.root), "lease": False, "log_path": server.log_path,
            "isolation": server.isolation}


def pair_context(settings: TriroleSettings, worker_options: Mapping[str, Any],
                 experiment: str | None) -> dict[str, Any] | None:
    """The LangGraph context of one pair's run: the paradigm's environment options with
    this worker's server (`worker_options`) and the pair's AppWorld `experiment` (unless the
    settings name one). None when there is nothing to add."""
    per_pair = dict(worker_options)
    if experiment is not None and "experiment_name" not in settings.env_options:
        per_pair["experiment_name"] = experiment
    return {"env_options": {**settings.env_options, **per_pair}} if per_pair else None


class ServerSlot(Protocol):
    """The environment server a worker owns (its AppWorld server), as seen by the retry."""

    async def alive(self) -> bool: ...

    async def replace(self) -> None:
        """Stop the dead server and start a new one for this worker's later pairs."""


async def run_healing(run_once: Callable[[], Awaitable[PairRecord]], server: ServerSlot | None) -> PairRecord:
    """Run a pair with `run_once` (it builds the context from the worker's current
    server); when its environment failed because the worker's server died, replace the
    server and run the pair once more. The second record stands, whatever it says, with
    ``retried_after``: the first failure's reason. A second failure stays an
    infrastructure error (``--retry-errors`` reruns it)."""
    record = await run_once()
    if server is None or record["status"] != "env_error" or await server.alive():
        return record
    await server.replace()
    retried = await run_once()
    return {**retried, "retried_after": record["status_reason"]}  # type: ignore[typeddict-item]


class _InlineTrace(JsonlTrace):
    """`JsonlTrace` called in the event loop. A sync handler is otherwise sent to a
    thread for every callback event of every node (no-ops included): with N pairs in
    flight those thread hops, not the appends, were the harness's main CPU cost."""

    run_inline = True


async def run_pair(graph: Any, paradigm: str, task: EvalTask, *, out_dir: Path, settings: TriroleSettings,
                   task_timeout_s: float | None, context: dict[str, Any] | None = None,
                   repeat: int = 0, callbacks: Sequence[Any] = ()) -> PairRecord:
    """Run one task with one paradigm's graph; its results record. Never raises for the
    task's own failures: a timeout is status ``timeout``, an environment failure
    ``env_error``, anything else unexpected ``error`` (with the exception in the reason).
    `context`: per-run settings for the graph (e.g. this worker's environment server).
    `repeat`: which repeat of the pair this is (0-based), recorded as ``repeat``.
    `callbacks`: LangChain callback handlers of this run besides its trace."""
    path = trace_path(out_dir, paradigm, task.id, repeat)
    path.unlink(missing_ok=True)  # a partial trace of an earlier, killed attempt
    config = {"callbacks": [_InlineTrace(path), *callbacks], "recursion_limit": recursion_limit(settings),
              "run_name": f"{paradigm}:{task.id}", "metadata": {TASK_METADATA: task.id}}
    last: dict[str, Any] = {}

    async def drive() -> None:
        async for values in graph.astream({"task": {"instruction": "", "task_id": task.id}}, config=config,
                                          context=context, stream_mode="values"):
            last.clear()
            last.update(values)

    # The graph's run owns its environment episode and closes it however the run ends,
    # the timeout's cancellation included: nothing to clean up here.
    status, reason = None, ""
    started = time.perf_counter()
    try:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns normally when the
        # pair finishes as a Ctrl-C's cancellation arrives, and the cancellation is lost.
        async with asyncio.timeout(task_timeout_s):
            await drive()
    except TimeoutError:
        status, reason = "timeout", f"the task ran past its wall-clock limit of {task_timeout_s:g} s"
    except EnvironmentFailure as exc:
        status, reason = "env_error", f"the environment failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - one broken pair must not stop the evaluation
        status, reason = "error", f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    record = make_record(paradigm, task, last, status=status, reason=reason, wall_s=wall,
                         trace=str(path.relative_to(out_dir)))
    experiment = ((context or {}).get("env_options") or {}).get("experiment_name")
    return {**record, "repeat": repeat, **({"experiment": experiment} if experiment else {})}  # type: ignore[typeddict-item]
