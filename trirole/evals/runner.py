"""Run every (paradigm, task) pair of an evaluation, N at a time, resumably: `evaluate`.

The evaluation is planned in its results folder (`trirole.evals.planning`: what is left
to run, the folder's manifest), each pair runs through `trirole.evals.pair` and is
recorded in ``results.jsonl`` (`trirole.evals.results`), here (`trirole.evals.local`) or
on a Ray cluster (`trirole.evals.ray_runner`). A rerun skips every pair already recorded,
overwrites the partial traces of the unfinished ones and ignores a half-written last line.

When the model endpoint serves Prometheus ``/metrics`` (vLLM does), the server's own
counters (prompt and generated tokens, prefix-cache queries and hits) are read before and
after each run and their difference added to ``out_dir/server_counters.json``
(`trirole.serving.metrics`); for other endpoints the file is simply not written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Iterable, Mapping

from trirole.evals.datasets import Dataset, EvalTask, load_dataset
from trirole.evals.local import run_local
from trirole.evals.oracle import ORACLE, oracle_for
from trirole.evals.pair import EnvironmentFactory, models_injected, preflight
from trirole.evals.paradigms import resolve_paradigms
from trirole.evals.planning import EvalSummary, check_folder, experiment_manifest, folder_lock, log, plan_runs
from trirole.evals.prompt_fit import check_prompts_fit
from trirole.evals.ray_runner import evaluate_on_ray
from trirole.evals.results import read_results
from trirole.serving.metrics import counters_since, read_counters, record_server_counters, serving_engine
from trirole.settings import ROLES, TriroleSettings, parse_base_urls

__all__ = ["EvalSummary", "evaluate", "read_results"]


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
    extend: bool = False,
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
        extend: let this evaluation add pairs (paradigms, tasks, repeats) to the
            experiment `out_dir` holds; its configuration must be the folder's either way
            (`trirole.evals.planning.check_folder` raises `FolderError` otherwise).

    Returns an `EvalSummary`; its ``records()`` are this evaluation's pairs, old and new.
    """
    names = resolve_paradigms(list(paradigms) if not isinstance(paradigms, str) else paradigms)
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    tasks = list(data.tasks[:limit] if limit is not None else data.tasks)
    if concurrency < 1 or (limit is not None and limit < 1) or repeats < 1:
        raise ValueError(f"concurrency, limit and repeats must be >= 1 (got {concurrency}, {limit}, {repeats})")
    if repeats > 1 and all(settings.endpoint(role).temperature == 0 for role in ROLES):
        log(f"warning: {repeats} repeats at temperature 0 repeat the same greedy runs (differences come only "
             "from the server's nondeterminism); set a temperature > 0 to sample", progress)
    # One experiment per folder: refused before any endpoint is checked or server started.
    check_folder(Path(out_dir), experiment_manifest(data, names, tasks, settings, repeats=repeats,
                                                    task_timeout_s=task_timeout_s), extend=extend)
    with folder_lock(Path(out_dir)):  # one evaluation at a time per folder
        graph_options = dict(graph_options or {})
        if not models_injected(graph_options) and settings.endpoint("agent").model == ORACLE:
            graph_options["model"] = oracle_for(data)
        # Function docs are never clipped: a context too small for a task's is refused before any pair.
        await check_prompts_fit(data, tasks, settings, graph_options)
        urls = counter_urls(settings, graph_options)
        before = await asyncio.to_thread(read_counters, urls)
        try:
            return await _evaluate(names, data, tasks, out_dir, settings=settings, concurrency=concurrency,
                                   task_timeout_s=task_timeout_s, graph_options=graph_options, environment=environment,
                                   check=check, progress=progress, retry_errors=retry_errors, repeats=repeats, ray=ray,
                                   extend=extend)
        finally:
            counters = counters_since(before, await asyncio.to_thread(read_counters, urls) if before else {})
            if Path(out_dir).is_dir() and any(counters.values()):
                record_server_counters(out_dir, counters)


def counter_urls(settings: TriroleSettings, graph_options: Mapping[str, Any]) -> list[str]:
    """The model servers whose own counters (`trirole.serving.metrics`) an evaluation
    records: every role's endpoint and replicas; none when the models are injected."""
    if models_injected(graph_options):
        return []
    endpoints = [settings.endpoint(role) for role in ROLES]
    return list(dict.fromkeys(url for e in endpoints if e.model != ORACLE for url in parse_base_urls(e.base_url)))


async def _evaluate(names: list[str], data: Dataset, tasks: list[EvalTask], out_dir: str | Path, *,
                    settings: TriroleSettings, concurrency: int, task_timeout_s: float | None,
                    graph_options: dict[str, Any], environment: EnvironmentFactory | None, check: bool,
                    progress: bool, retry_errors: bool, repeats: int, ray: str | None,
                    extend: bool) -> EvalSummary:
    """`evaluate` after its arguments were checked: on Ray, or here."""
    # The engines serving the model (when they say): a folder's evaluation resumes only on the same.
    engines = [e for e in await asyncio.to_thread(lambda: [serving_engine(u) for u in counter_urls(
        settings, graph_options)]) if e] or None
    if ray is not None:
        return await evaluate_on_ray(names, data, tasks, out_dir, address=ray, settings=settings,
                                     concurrency=concurrency, task_timeout_s=task_timeout_s,
                                     graph_options=graph_options, environment=environment, check=check,
                                     progress=progress, retry_errors=retry_errors, repeats=repeats,
                                     extend=extend, server_engines=engines)
    if check and not models_injected(graph_options):
        await asyncio.to_thread(preflight, settings)
    plan = plan_runs(out_dir, data, names, tasks, settings, retry_errors=retry_errors, repeats=repeats,
                     task_timeout_s=task_timeout_s, extend=extend, width=concurrency, server_engines=engines)
    return await run_local(plan, settings=settings, concurrency=concurrency, task_timeout_s=task_timeout_s,
                           graph_options=graph_options, environment=environment, progress=progress)
