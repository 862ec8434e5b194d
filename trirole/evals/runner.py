"""Run every (paradigm, task) pair of an evaluation, N at a time, resumably.

Each finished pair is one JSON line appended to ``out_dir/results.jsonl`` and synced to
disk before the next is written, so a killed run loses only the pairs in flight. A rerun
skips every pair already recorded, overwrites the partial traces of the unfinished ones
and ignores a half-written last line. Each pair gets its own environment instance and
its own trace, ``out_dir/traces/<paradigm>/<task>.jsonl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import json
import os
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from trirole.endpoints import counts_since, record_replica_counts, replica_counts
from trirole.evals.datasets import Dataset, EvalTask, load_dataset
from trirole.evals.paradigms import VARIANTS, resolve_paradigms
from trirole.settings import ROLES, TriroleSettings
from trirole.tools import Environment, EnvironmentError_, make_environment
from trirole.trace import JsonlTrace

RESULTS_FILE = "results.jsonl"
TRACES_DIR = "traces"
EnvironmentFactory = Callable[[TriroleSettings], Environment]

# The environments the current pair created, so that a pair cut off by its timeout (its
# graph cancelled before the finish node) still has its sandbox or episode closed. Graph
# nodes run in tasks that copy the pair's context, so they see the pair's list.
_PAIR_ENVIRONMENTS: contextvars.ContextVar[list[Environment] | None] = contextvars.ContextVar(
    "trirole_eval_environments", default=None)


def default_environment(settings: TriroleSettings) -> Environment:
    """A fresh environment for `settings` (what the graphs build when none is injected)."""
    options: dict[str, Any] = {"max_observation_chars": settings.max_observation_chars}
    if settings.env == "python":
        options.update(step_timeout_s=settings.step_timeout_s, memory_limit_mb=settings.memory_limit_mb)
    return make_environment(settings.env, **{**options, **dict(settings.env_options)})


def _tracked(factory: EnvironmentFactory) -> EnvironmentFactory:
    def make(settings: TriroleSettings) -> Environment:
        env = factory(settings)
        created = _PAIR_ENVIRONMENTS.get()
        if created is not None:
            created.append(env)
        return env

    return make


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
def read_results(out_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``out_dir/results.jsonl`` (``[]`` if none). Lines that are not a
    complete JSON object (a run killed mid-write) are skipped."""
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
    return records


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


def trace_path(out_dir: Path, paradigm: str, task_id: str) -> Path:
    """Where the trace of one pair goes (task ids made safe as file names)."""
    return out_dir / TRACES_DIR / paradigm / (re.sub(r"[^\w.-]", "_", task_id) + ".jsonl")


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
                    "latency_s": round(u.get("latency_s", 0.0), 3)}
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
        "scenario": task.scenario, "success": success,
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
    }


async def run_pair(graph: Any, paradigm: str, task: EvalTask, *, out_dir: Path, settings: TriroleSettings,
                   task_timeout_s: float | None, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one task with one paradigm's graph; its results record. Never raises for the
    task's own failures: a timeout is status ``timeout``, an environment failure
    ``env_error``, anything else unexpected ``error`` (with the exception in the reason).
    `context`: per-run settings for the graph (e.g. this worker's environment server)."""
    path = trace_path(out_dir, paradigm, task.id)
    path.unlink(missing_ok=True)  # a partial trace of an earlier, killed attempt
    config = {"callbacks": [_InlineTrace(path)], "recursion_limit": 10 * settings.max_steps + 50,
              "run_name": f"{paradigm}:{task.id}"}
    last: dict[str, Any] = {}

    async def drive() -> None:
        async for values in graph.astream({"task": {"instruction": "", "task_id": task.id}}, config=config,
                                          context=context, stream_mode="values"):
            last.clear()
            last.update(values)

    created: list[Environment] = []
    token = _PAIR_ENVIRONMENTS.set(created)
    status, reason = None, ""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(drive(), task_timeout_s)
    except TimeoutError:
        status, reason = "timeout", f"the task ran past its wall-clock limit of {task_timeout_s:g} s"
    except EnvironmentError_ as exc:
        status, reason = "env_error", f"the environment failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - one broken pair must not stop the evaluation
        status, reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        wall = time.perf_counter() - started
        _PAIR_ENVIRONMENTS.reset(token)
        for env in created:  # idempotent: the finish node has closed them on a normal end
            try:
                await asyncio.wait_for(env.close(), 30)
            except Exception:  # noqa: BLE001 - cleanup of an already failed pair
                pass
    return make_record(paradigm, task, last, status=status, reason=reason, wall_s=wall,
                       trace=str(path.relative_to(out_dir)))


@dataclass(frozen=True)
class EvalSummary:
    """What `evaluate` did. The records themselves stay on disk (memory does not grow
    with the number of pairs); `records()` reads this evaluation's from results.jsonl.

    pairs: (paradigm, task) pairs of this evaluation; skipped: already recorded before
    this run; ran: finished in this run.
    """

    out_dir: Path
    paradigms: tuple[str, ...]
    task_ids: tuple[str, ...]
    pairs: int
    skipped: int
    ran: int

    def records(self) -> list[dict[str, Any]]:
        wanted = {(p, t) for t in self.task_ids for p in self.paradigms}
        return [r for r in read_results(self.out_dir) if (r["paradigm"], r["task_id"]) in wanted]


# -- the evaluation ----------------------------------------------------------------------------------
def build_graphs(names: Iterable[str], data: Dataset, settings: TriroleSettings,
                 environment: EnvironmentFactory | None, graph_options: Mapping[str, Any],
                 ) -> tuple[dict[str, Any], dict[str, TriroleSettings]]:
    """Each paradigm's compiled graph and run settings (its overrides and the dataset's
    environment on top of `settings`); environments they create are closed with their pair."""
    factory = _tracked(environment or default_environment)
    graphs, run_settings = {}, {}
    for name in names:
        builder, overrides = VARIANTS[name]
        run_settings[name] = replace(settings, env=data.env,
                                     env_options={**data.env_options, **dict(settings.env_options)}, **overrides)
        graphs[name] = builder(settings=run_settings[name], environment=factory, **graph_options)
    return graphs, run_settings


def preflight(settings: TriroleSettings) -> None:
    """Check every distinct role endpoint once; raises `trirole.backend.BackendError`."""
    from trirole.backend import check_endpoint

    for base_url, model in dict.fromkeys((settings.endpoint(r).base_url, settings.endpoint(r).model) for r in ROLES):
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
    ray: str | None = None,
) -> EvalSummary:
    """Run every (paradigm, task) pair not yet in ``out_dir/results.jsonl``.

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
        environment: a factory ``settings -> Environment``; default `default_environment`.
        check: preflight the model endpoint(s) once (skipped when a model is injected).
        progress: one line per finished pair on stderr.
        ray: run the pairs on the Ray cluster at this address (``auto``: the one this
            machine belongs to), `concurrency` worker slots; see `trirole.evals.ray_runner`.

    Returns an `EvalSummary`; its ``records()`` are this evaluation's pairs, old and new.
    """
    if ray is not None:
        from trirole.evals.ray_runner import evaluate_on_ray

        return await evaluate_on_ray(paradigms, dataset, out_dir, address=ray, settings=settings,
                                     concurrency=concurrency, limit=limit, task_timeout_s=task_timeout_s,
                                     graph_options=graph_options, environment=environment, check=check,
                                     progress=progress)
    names = resolve_paradigms(list(paradigms) if not isinstance(paradigms, str) else paradigms)
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    tasks = list(data.tasks[:limit] if limit is not None else data.tasks)
    if concurrency < 1 or (limit is not None and limit < 1):
        raise ValueError(f"concurrency and limit must be >= 1 (got {concurrency}, {limit})")
    graph_options = dict(graph_options or {})
    if check and not ({"model", "models"} & set(graph_options)):
        await asyncio.to_thread(preflight, settings)
    worker_env_options: list[dict[str, Any]] = [{} for _ in range(concurrency)]
    if data.env == "appworld" and concurrency > 1 and environment is None and "url" not in settings.env_options:
        # An AppWorld server holds one task at a time: one server per worker.
        from trirole.tools.appworld.server import serve_appworld_pool

        _log(f"starting a pool of {concurrency} AppWorld servers (one task at a time each)", progress)
        servers = await asyncio.to_thread(serve_appworld_pool, concurrency)
        worker_env_options = [{"url": server.url} for server in servers]
    elif data.env == "appworld" and concurrency > 1:
        _log("note: AppWorld's server runs one task at a time; running with concurrency 1", progress)
        concurrency = 1

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_manifest(out, data, settings, progress)
    done = {(r["paradigm"], r["task_id"]) for r in read_results(out)}
    pending = [(p, t) for t in tasks for p in names if (p, t.id) not in done]
    total, skipped = len(tasks) * len(names), len(tasks) * len(names) - len(pending)
    _log(f"{total} pairs ({len(names)} paradigms x {len(tasks)} tasks of {data.name}); {skipped} already done; "
         f"running {len(pending)} with concurrency {concurrency}", progress)

    graphs, run_settings = build_graphs(names, data, settings, environment, graph_options)

    writer = _ResultsWriter(out / RESULTS_FILE)
    replicas_before = replica_counts()  # endpoints.json: which model replica served what
    finished = 0
    queue = iter(pending)  # shared by the workers: each pair is taken exactly once

    async def worker(slot: int) -> None:
        nonlocal finished
        for paradigm, task in queue:
            context = None
            if worker_env_options[slot]:
                env_options = {**run_settings[paradigm].env_options, **worker_env_options[slot]}
                context = {"env_options": env_options}
            record = await run_pair(graphs[paradigm], paradigm, task, out_dir=out, settings=run_settings[paradigm],
                                    task_timeout_s=task_timeout_s, context=context)
            writer.write(record)
            gc.collect()  # see _objects_before_frozen: one pair's garbage, not the run's
            finished += 1
            _log(f"[{skipped + finished}/{total}] {paradigm} {task.id}: {record['status']} "
                 f"success={record['success']} steps={record['steps']} {record['wall_s']:.1f}s", progress)

    try:
        with _objects_before_frozen():
            async with asyncio.TaskGroup() as group:
                for slot in range(min(concurrency, len(pending))):
                    group.create_task(worker(slot))
    finally:
        writer.close()
        record_replica_counts(out, counts_since(replicas_before))
    return EvalSummary(out_dir=out, paradigms=tuple(names), task_ids=tuple(t.id for t in tasks), pairs=total,
                       skipped=skipped, ran=finished)
