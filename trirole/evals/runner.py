"""Run every (paradigm, task) pair of an evaluation, N at a time, resumably.

Each finished pair is one JSON line appended to ``out_dir/results.jsonl`` and synced to
disk before the next is written, so a killed run loses only the pairs in flight. A rerun
skips every pair already recorded, overwrites the partial traces of the unfinished ones
and ignores a half-written last line. The file is append-only: when a pair is recorded
twice (``retry_errors`` reruns the pairs whose last record is an infrastructure error),
its last record wins, in `read_results` and everything built on it.

An infrastructure error (the environment or the endpoint failed, the harness cut the pair
off) is never the agent's failure: its record says ``"infra_error": true`` with the reason.

Each pair gets its own environment instance and its own trace,
``out_dir/traces/<paradigm>/<task>.jsonl``. AppWorld servers an evaluation starts are its
own: stopped when it ends, however it ends.

With ``repeats=K`` every pair runs K times; records carry ``repeat`` (0-based; a record
without it is repeat 0, so folders written before repeats existed resume as they are),
and resuming is keyed by (paradigm, task, repeat). Repeat k > 0 traces to
``<task>.r<k>.jsonl``. AppWorld saves each episode's outputs under an experiment name;
each (paradigm, repeat) of an evaluation gets its own (`appworld_experiment`), so AppWorld's
own evaluation can be run on them afterwards (`trirole.evals.agreement`).

When the model endpoint serves Prometheus ``/metrics`` (vLLM does), the server's own
counters (prompt and generated tokens, prefix-cache queries and hits) are read before and
after each run and their difference added to ``out_dir/server_counters.json``
(`trirole.serving.metrics`); for other endpoints the file is simply not written.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from trirole.endpoints import counts_since, parse_base_urls, record_replica_counts, replica_counts
from trirole.evals.datasets import Dataset, EvalTask, load_dataset
from trirole.evals.oracle import ORACLE, oracle_for
from trirole.evals.metrics import repeat_of
from trirole.evals.paradigms import VARIANTS, resolve_paradigms
from trirole.evals.progress import EvalProgress
from trirole.serving.metrics import counters_since, read_counters, record_server_counters
from trirole.settings import ROLES, TriroleSettings, recursion_limit
from trirole.tools import Environment, EnvironmentError_
from trirole.trace import JsonlTrace

RESULTS_FILE = "results.jsonl"
# Statuses that are the infrastructure's failure, not the agent's: the environment or the
# model endpoint failed, the harness cut the pair off at its wall-clock limit, or crashed.
INFRA_STATUSES = frozenset({"env_error", "model_error", "timeout", "error"})
TRACES_DIR = "traces"
EnvironmentFactory = Callable[[TriroleSettings], Environment]

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


# -- results.jsonl ------------------------------------------------------------------------------
def pair_key(record: Mapping[str, Any]) -> tuple:
    """What identifies a pair's record: paradigm, task and repeat."""
    return record["paradigm"], record["task_id"], record.get("repeat", 0)


def read_results(out_dir: str | Path, *, every: bool = False) -> list[dict[str, Any]]:
    """The records of ``out_dir/results.jsonl`` (``[]`` if none): the last one of each
    pair (a retried pair was recorded again), in the order pairs were first recorded;
    `every`: all lines as written. Lines that are not a complete JSON object (a run killed
    mid-write) are skipped."""
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "paradigm" in record and "task_id" in record:
                records.append(record)
    if every:
        return records
    latest: dict[tuple, dict[str, Any]] = {}
    for record in records:
        latest[pair_key(record)] = record
    first = list(dict.fromkeys(pair_key(r) for r in records))
    return [latest[key] for key in first]


def _drop_partial_tail(path: Path) -> None:
    """Cut a half-written last line, so the next record starts on a line of its own."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        data = handle.read()
        handle.truncate(data.rfind(b"\n") + 1)


class _ResultsWriter:
    """Appends one record per line, flushed and fsynced: a finished pair survives a kill."""

    def __init__(self, path: Path) -> None:
        _drop_partial_tail(path)
        self._handle = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def trace_path(out_dir: Path, paradigm: str, task_id: str, repeat: int = 0) -> Path:
    """Where the trace of one pair goes (task ids made safe as file names)."""
    suffix = f".r{repeat}.jsonl" if repeat else ".jsonl"
    return out_dir / TRACES_DIR / paradigm / (re.sub(r"[^\w.-]", "_", task_id) + suffix)


def appworld_experiment(out_dir: Path, paradigm: str, repeat: int) -> str:
    """AppWorld's experiment name (its output folder) for one paradigm's repeat of the
    evaluation in `out_dir`: unique per folder, so paradigms, repeats and evaluations
    never overwrite each other's saved outputs; stable, so a resumed run keeps it."""
    digest = hashlib.sha1(str(Path(out_dir).resolve()).encode()).hexdigest()[:10]
    return f"trirole-{digest}-{paradigm}-r{repeat}"


class _InlineTrace(JsonlTrace):
    """`JsonlTrace` called in the event loop. A sync handler is otherwise sent to a
    thread for every callback event of every node (no-ops included): with N pairs in
    flight those thread hops, not the appends, were the harness's main CPU cost."""

    run_inline = True


# -- one pair --------------------------------------------------------------------------------------
def make_record(paradigm: str, task: EvalTask, final: Mapping[str, Any], *, status: str | None, reason: str,
                wall_s: float, trace: str) -> dict[str, Any]:
    """The results line of one pair from its last known state (the final one, or the
    last streamed before a timeout or crash)."""
    usage = {role: {"calls": u.get("calls", 0), "prompt_tokens": u.get("prompt_tokens", 0),
                    "completion_tokens": u.get("completion_tokens", 0),
                    "latency_s": round(u.get("latency_s", 0.0), 3),
                    **({"cached_prompt_tokens": u["cached_prompt_tokens"]} if "cached_prompt_tokens" in u else {})}
             for role, u in (final.get("usage") or {}).items()}
    counters = final.get("counters") or {}
    evaluation = final.get("evaluation")
    if status is not None:  # cut off or crashed: no verdict, not a success
        success: bool | None = False
    else:
        success = bool(evaluation.get("success")) if evaluation else None
    answer = final.get("answer")
    return {
        "paradigm": paradigm, "task_id": task.id, "env": task.env, "difficulty": task.difficulty,
        "scenario": task.scenario, "success": success, "isolation": final.get("isolation") or "",
        "status": status or final.get("status") or "error",
        "status_reason": reason if status is not None else final.get("status_reason", ""),
        "steps": counters.get("steps", 0),
        "model_calls": sum(u["calls"] for u in usage.values()),
        "prompt_tokens": sum(u["prompt_tokens"] for u in usage.values()),
        "completion_tokens": sum(u["completion_tokens"] for u in usage.values()),
        "usage": usage,
        "summarizations": counters.get("summarizations", 0), "corrections": counters.get("corrections", 0),
        "no_code": counters.get("no_code", 0),
        "wall_s": round(wall_s, 3),
        "answer": None if answer is None else str(answer)[:300],
        "failed_checks": len((evaluation or {}).get("failed") or []),
        "trace": trace,
        **infra_marker(status or final.get("status") or "error",
                       reason if status is not None else final.get("status_reason", "")),
    }


def infra_marker(status: str, reason: str) -> dict[str, Any]:
    """``infra_error`` (bool) and, when true, ``infra_reason``: see INFRA_STATUSES."""
    if status in INFRA_STATUSES:
        return {"infra_error": True, "infra_reason": reason}
    return {"infra_error": False}


async def run_pair(graph: Any, paradigm: str, task: EvalTask, *, out_dir: Path, settings: TriroleSettings,
                   task_timeout_s: float | None, context: dict[str, Any] | None = None,
                   repeat: int = 0) -> dict[str, Any]:
    """Run one task with one paradigm's graph; its results record. Never raises for the
    task's own failures: a timeout is status ``timeout``, an environment failure
    ``env_error``, anything else unexpected ``error`` (with the exception in the reason).
    `context`: per-run settings for the graph (e.g. this worker's environment server).
    `repeat`: which repeat of the pair this is (0-based), recorded as ``repeat``."""
    path = trace_path(out_dir, paradigm, task.id, repeat)
    path.unlink(missing_ok=True)  # a partial trace of an earlier, killed attempt
    config = {"callbacks": [_InlineTrace(path)], "recursion_limit": recursion_limit(settings),
              "run_name": f"{paradigm}:{task.id}"}
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
    except EnvironmentError_ as exc:
        status, reason = "env_error", f"the environment failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - one broken pair must not stop the evaluation
        status, reason = "error", f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    record = make_record(paradigm, task, last, status=status, reason=reason, wall_s=wall,
                         trace=str(path.relative_to(out_dir)))
    experiment = ((context or {}).get("env_options") or {}).get("experiment_name")
    return {**record, "repeat": repeat, **({"experiment": experiment} if experiment else {})}


@dataclass(frozen=True)
class EvalSummary:
    """What `evaluate` did. The records themselves stay on disk (memory does not grow
    with the number of pairs); `records()` reads this evaluation's from results.jsonl.

    pairs: (paradigm, task, repeat) runs of this evaluation; skipped: already recorded
    before this run; ran: finished in this run.
    """

    out_dir: Path
    paradigms: tuple[str, ...]
    task_ids: tuple[str, ...]
    pairs: int
    skipped: int
    ran: int
    repeats: int = 1

    def records(self) -> list[dict[str, Any]]:
        wanted = {(p, t) for t in self.task_ids for p in self.paradigms}
        return [r for r in read_results(self.out_dir)
                if (r["paradigm"], r["task_id"]) in wanted and repeat_of(r) < self.repeats]


# -- the evaluation ----------------------------------------------------------------------------------
def build_graphs(names: Iterable[str], data: Dataset, settings: TriroleSettings,
                 environment: EnvironmentFactory | None, graph_options: Mapping[str, Any],
                 ) -> tuple[dict[str, Any], dict[str, TriroleSettings]]:
    """Each paradigm's compiled graph and run settings (its overrides and the dataset's
    environment on top of `settings`); each run of a graph owns and closes its episode."""
    graphs, run_settings = {}, {}
    for name in names:
        builder, overrides = VARIANTS[name]
        run_settings[name] = replace(settings, env=data.env,
                                     env_options={**data.env_options, **dict(settings.env_options)}, **overrides)
        graphs[name] = builder(settings=run_settings[name], environment=environment, **graph_options)
    return graphs, run_settings


def preflight(settings: TriroleSettings) -> None:
    """Check every distinct role endpoint once; raises `trirole.backend.BackendError`."""
    from trirole.backend import check_endpoint

    for base_url, model in dict.fromkeys((settings.endpoint(r).base_url, settings.endpoint(r).model) for r in ROLES):
        if model != ORACLE:  # the oracle answers in-process: no endpoint
            check_endpoint(base_url, model)


def _check_manifest(out: Path, data: Dataset, settings: TriroleSettings, progress: bool) -> None:
    """Record the dataset and settings in ``run.json``; warn when a resumed folder was
    filled with other ones (its records are kept: results are keyed by pair only)."""
    manifest = {"dataset": data.name, "settings": {k: v for k, v in settings.to_dict().items() if k != "api_key"}}
    path = out / "run.json"
    if path.is_file():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            before = None
        if before is not None and before != json.loads(json.dumps(manifest, default=str)):
            changed = sorted(k for k in manifest["settings"] if before.get("settings", {}).get(k) !=
                             json.loads(json.dumps(manifest["settings"][k], default=str)))
            if before.get("dataset") != data.name:
                changed.insert(0, "dataset")
            _log(f"warning: {out} holds results of a run with other {', '.join(changed)}; "
                 "finished pairs are kept and skipped (use a new --out to start over)", progress)
    path.write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")


def _log(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


async def evaluate(
    paradigms: str | Iterable[str],
    dataset: Dataset | str,
    out_dir: str | Path,
    *,
    settings: TriroleSettings,
    concurrency: int = 4,
    limit: int | None = None,
    task_timeout_s: float | None = 900.0,
    graph_options: Mapping[str, Any] | None = None,
    environment: EnvironmentFactory | None = None,
    check: bool = True,
    progress: bool = True,
    retry_errors: bool = False,
    repeats: int = 1,
    ray: str | None = None,
) -> EvalSummary:
    """Run every (paradigm, task, repeat) not yet in ``out_dir/results.jsonl``.

    Args:
        paradigms: names from `trirole.evals.paradigms.VARIANTS` (list or "a,b").
        dataset: a `Dataset` or a name for `load_dataset`.
        settings: the run settings (endpoint, budgets); each paradigm's overrides and the
            dataset's environment are applied on top.
        concurrency: pairs in flight at once (AppWorld: a pool of that many servers, one per worker).
        limit: only the first `limit` tasks of the dataset.
        task_timeout_s: wall-clock limit per pair (status ``timeout``); ``max_steps``
            in the settings is the step limit.
        graph_options: extra builder options, e.g. ``{"model": fake_model}`` in tests.
        environment: a factory ``settings -> Environment``; default: the graphs build one from
            the settings (`trirole.resources.build_environment`).
        check: preflight the model endpoint(s) once (skipped when a model is injected).
        progress: show progress on stderr (see `trirole.evals.progress`): a live bar in a terminal,
            one line per finished pair otherwise.
        retry_errors: also rerun the pairs whose last record is an infrastructure error
            (``infra_error``); their new record wins.
        repeats: runs of each pair (repeat 0..K-1). Repeats only differ when the model
            samples: give the settings a temperature > 0 (``trirole eval --repeats``
            does, see its help); at temperature 0 a warning is printed.
        ray: run the pairs on the Ray cluster at this address (``auto``: the one this
            machine belongs to), `concurrency` worker slots; see `trirole.evals.ray_runner`.

    Returns an `EvalSummary`; its ``records()`` are this evaluation's pairs, old and new.
    """
    names = resolve_paradigms(list(paradigms) if not isinstance(paradigms, str) else paradigms)
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    tasks = list(data.tasks[:limit] if limit is not None else data.tasks)
    if concurrency < 1 or (limit is not None and limit < 1) or repeats < 1:
        raise ValueError(f"concurrency, limit and repeats must be >= 1 (got {concurrency}, {limit}, {repeats})")
    if repeats > 1 and all(settings.endpoint(role).temperature == 0 for role in ROLES):
        _log(f"warning: {repeats} repeats at temperature 0 repeat the same greedy runs (differences come only "
             "from the server's nondeterminism); set a temperature > 0 to sample", progress)
    graph_options = dict(graph_options or {})
    if not ({"model", "models"} & set(graph_options)) and settings.endpoint("agent").model == ORACLE:
        graph_options["model"] = oracle_for(data)
    urls = counter_urls(settings, graph_options)
    before = await asyncio.to_thread(read_counters, urls)
    try:
        return await _evaluate(names, data, tasks, out_dir, settings=settings, concurrency=concurrency,
                               task_timeout_s=task_timeout_s, graph_options=graph_options, environment=environment,
                               check=check, progress=progress, retry_errors=retry_errors, repeats=repeats, ray=ray)
    finally:
        counters = counters_since(before, await asyncio.to_thread(read_counters, urls) if before else {})
        if Path(out_dir).is_dir() and any(counters.values()):
            record_server_counters(out_dir, counters)


def counter_urls(settings: TriroleSettings, graph_options: Mapping[str, Any]) -> list[str]:
    """The model servers whose own counters (`trirole.serving.metrics`) an evaluation
    records: every role's endpoint and replicas; none when the models are injected."""
    if {"model", "models"} & set(graph_options):
        return []
    endpoints = [settings.endpoint(role) for role in ROLES]
    return list(dict.fromkeys(url for e in endpoints if e.model != ORACLE for url in parse_base_urls(e.base_url)))


async def _evaluate(names: list[str], data: Dataset, tasks: list[EvalTask], out_dir: str | Path, *,
                    settings: TriroleSettings, concurrency: int, task_timeout_s: float | None,
                    graph_options: dict[str, Any], environment: EnvironmentFactory | None, check: bool,
                    progress: bool, retry_errors: bool, repeats: int, ray: str | None) -> EvalSummary:
    """`evaluate` after its arguments were checked: on Ray, or here with owned AppWorld servers."""
    if ray is not None:
        from trirole.evals.ray_runner import evaluate_on_ray

        return await evaluate_on_ray(names, data, tasks, out_dir, address=ray, settings=settings,
                                     concurrency=concurrency, task_timeout_s=task_timeout_s,
                                     graph_options=graph_options, environment=environment, check=check,
                                     progress=progress, retry_errors=retry_errors, repeats=repeats)
    if check and not ({"model", "models"} & set(graph_options)):
        await asyncio.to_thread(preflight, settings)
    plan = plan_runs(out_dir, data, names, tasks, settings, retry_errors=retry_errors, repeats=repeats,
                     progress=progress)
    own_servers = data.env == "appworld" and environment is None and "url" not in settings.env_options
    if data.env == "appworld" and concurrency > 1 and not own_servers:
        _log("note: AppWorld's server runs one task at a time; running with concurrency 1", progress)
        concurrency = 1
    own_servers = own_servers and bool(plan.pending)  # nothing left to run: start no server
    async with contextlib.AsyncExitStack() as owned:
        worker_env_options: list[dict[str, Any]] = [{} for _ in range(concurrency)]
        if own_servers:
            # An AppWorld server holds one task at a time: one server per worker, owned by
            # this evaluation (stopped when it ends, however it ends).
            from trirole.tools.appworld.server import appworld_servers

            _log(f"starting {concurrency} AppWorld server(s) of this evaluation (one task at a time each)", progress)
            servers = await owned.enter_async_context(
                appworld_servers(concurrency, data.env_options.get("root"), isolation=settings.isolation))
            worker_env_options = [{"url": server.url, "root": str(server.root), "lease": False,
                                   "log_path": server.log_path, "isolation": server.isolation}
                                  for server in servers]
        if data.env == "bfcl" and plan.pending:
            # One process of BFCL's checkers for the whole evaluation (its import alone takes seconds).
            from trirole.tools.bfcl.scorer import shared_scorer

            await owned.enter_async_context(shared_scorer())
        return await _run_pairs(plan, settings=settings, concurrency=concurrency, task_timeout_s=task_timeout_s,
                                graph_options=graph_options, environment=environment, progress=progress,
                                worker_env_options=worker_env_options)


def _pending(out: Path, names: list[str], tasks: list[EvalTask], retry_errors: bool,
             repeats: int) -> list[tuple[str, EvalTask, int]]:
    """The (paradigm, task, repeat) runs not recorded yet (and with `retry_errors`, those
    last recorded as an infrastructure error)."""
    done = {pair_key(r) for r in read_results(out)
            if not (retry_errors and r.get("infra_error", r.get("status") in INFRA_STATUSES))}
    return [(p, t, k) for k in range(repeats) for t in tasks for p in names if (p, t.id, k) not in done]


def done_records(out: Path, names: list[str], tasks: list[EvalTask], repeats: int,
                 pending: list[tuple[str, EvalTask, int]]) -> list[dict[str, Any]]:
    """The records of this evaluation's runs that count as done (for the progress display):
    not those `pending` reruns (``--retry-errors``)."""
    wanted = {t.id for t in tasks}
    rerun = {(p, t.id, k) for p, t, k in pending}
    return [r for r in read_results(out) if r["paradigm"] in names and r["task_id"] in wanted
            and repeat_of(r) < repeats and pair_key(r) not in rerun]


@dataclass(frozen=True)
class RunPlan:
    """An evaluation's runs in its results folder: all of them (`names` x `tasks` x
    `repeats`), those still to run, and the records of those done (for the display)."""

    out: Path
    data: Dataset
    names: list[str]
    tasks: list[EvalTask]
    repeats: int
    pending: list[tuple[str, EvalTask, int]]
    previous: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return len(self.tasks) * len(self.names) * self.repeats

    @property
    def skipped(self) -> int:
        return self.total - len(self.pending)

    def describe(self) -> str:
        times = f" x {self.repeats} repeats" if self.repeats > 1 else ""
        return (f"{self.total} pairs ({len(self.names)} paradigms x {len(self.tasks)} tasks of {self.data.name}{times}); "
                f"{self.skipped} already done")

    def summary(self, ran: int) -> EvalSummary:
        return EvalSummary(out_dir=self.out, paradigms=tuple(self.names), task_ids=tuple(t.id for t in self.tasks),
                           pairs=self.total, skipped=self.skipped, ran=ran, repeats=self.repeats)


def plan_runs(out_dir: str | Path, data: Dataset, names: list[str], tasks: list[EvalTask], settings: TriroleSettings,
              *, retry_errors: bool, repeats: int, progress: bool) -> RunPlan:
    """The folder made and its manifest checked, and what is left to run in it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_manifest(out, data, settings, progress)
    pending = _pending(out, names, tasks, retry_errors, repeats)
    return RunPlan(out=out, data=data, names=names, tasks=tasks, repeats=repeats, pending=pending,
                   previous=done_records(out, names, tasks, repeats, pending))


async def _run_pairs(plan: RunPlan, *, settings: TriroleSettings, concurrency: int,
                     task_timeout_s: float | None, graph_options: dict[str, Any],
                     environment: EnvironmentFactory | None, progress: bool,
                     worker_env_options: list[dict[str, Any]]) -> EvalSummary:
    out, data, names = plan.out, plan.data, plan.names
    _log(f"{plan.describe()}; running {len(plan.pending)} with concurrency {concurrency}", progress)

    graphs, run_settings = build_graphs(names, data, settings, environment, graph_options)

    writer = _ResultsWriter(out / RESULTS_FILE)
    replicas_before = replica_counts()  # endpoints.json: which model replica served what
    finished = 0
    queue = iter(plan.pending)  # shared by the workers: each pair is taken exactly once

    async def worker(slot: int) -> None:
        nonlocal finished
        for paradigm, task, repeat in queue:
            context = None
            per_pair = dict(worker_env_options[slot])
            if data.env == "appworld" and "experiment_name" not in run_settings[paradigm].env_options:
                per_pair["experiment_name"] = appworld_experiment(out, paradigm, repeat)
            if per_pair:
                context = {"env_options": {**run_settings[paradigm].env_options, **per_pair}}
            record = await run_pair(graphs[paradigm], paradigm, task, out_dir=out, settings=run_settings[paradigm],
                                    task_timeout_s=task_timeout_s, context=context, repeat=repeat)
            writer.write(record)
            gc.collect()  # see _objects_before_frozen: one pair's garbage, not the run's
            finished += 1
            display.pair_done(record)

    display = EvalProgress(names, total=plan.total, previous=plan.previous, enabled=progress)
    try:
        with _objects_before_frozen(), display:
            async with asyncio.TaskGroup() as group:
                for slot in range(min(concurrency, len(plan.pending))):
                    group.create_task(worker(slot))
    finally:
        writer.close()
        record_replica_counts(out, counts_since(replicas_before))
    return plan.summary(finished)
