"""Generate trirole's offline AppWorld task pack (an APPWORLD_ROOT with data/ in it).

Run with the AppWorld virtual environment's python (it imports appworld, never trirole), with
the folder that holds this package on the path (``trirole.environments.appworld.pack.run_generator`` does):

    PYTHONPATH=trirole/environments/appworld/pack <appworld-env>/bin/python -m trirole_pack.generate --root DIR --seed 0

Writes DIR/data/{base_dbs,api_docs,tasks,datasets} in the format of the official AppWorld data,
plus DIR/data/pack_manifest.json (per-task metadata for verify.py and the README table).
Deterministic: the same seed gives the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def _real_clock() -> float:
    # freezegun patches time.time / perf_counter while the world clock is frozen.
    try:
        from freezegun.api import real_perf_counter

        return real_perf_counter()
    except ImportError:  # pragma: no cover
        return time.perf_counter()


def generate(root: str, seed: int, limit: int | None = None, only: list[str] | None = None,
             quiet: bool = False) -> dict:
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    os.environ["APPWORLD_ROOT"] = root
    from appworld import update_root

    update_root(root)

    from appworld.api_docs import prepare_api_docs
    from appworld.apps.api_lib import save_local_dbs, set_local_date_and_time, unset_local_date_and_time
    from appworld.apps.model_lib import CachedDBHandler
    from appworld.common.constants import CANARY_STRING, DB_VERSION
    from appworld.common.random import set_random_seed
    from appworld.common.utils import write_json

    # Imported only now: AppWorld's modules read APPWORLD_ROOT (set above) when they load.
    from .common import ALL_APPS, WORLD_NOW, Ctx, stable_id
    from .scenarios import SCENARIOS, SPLITS
    from .world import WorldBuilder

    started = _real_clock()
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    data_dir = os.path.join(root, "data")
    shutil.rmtree(data_dir, ignore_errors=True)
    os.makedirs(data_dir)

    freezer = set_local_date_and_time(WORLD_NOW)
    try:
        # ------------------------------------------------------------ base world
        set_random_seed(seed, python=True, faker_=True, model_factory=True)
        base_memory = f":memory:trirole_pack_base_{seed}"
        ctx = Ctx(base_memory, base_memory, create_db=True)
        world = WorldBuilder(ctx, seed).build()
        base_dir = os.path.join(data_dir, "base_dbs")
        save_local_dbs(from_db_home_path=base_memory, to_db_home_path=base_dir, format="full",
                       app_names=list(ALL_APPS), delete_if_exists=True)
        CachedDBHandler.reset(base_memory)
        log(f"base world: {len(world.people)} people, saved to {base_dir} "
            f"({_real_clock() - started:.1f}s)")

        # ------------------------------------------------------------ api docs
        # ("openapi" would need the optional openapi_spec_validator package; AppWorld reads "standard".)
        for doc_format in ("standard", "function_calling"):
            os.makedirs(os.path.join(data_dir, "api_docs", doc_format), exist_ok=True)
        for app in ALL_APPS:
            if app == "admin":
                continue
            standard = {}
            for doc in prepare_api_docs(app, include_private_apis=False, format="standard"):
                standard[doc["api_name"]] = {**doc, "canary_string": CANARY_STRING}
            write_json(standard, os.path.join(data_dir, "api_docs", "standard", f"{app}.json"), silent=True)
            function_calling = [
                {**doc, "canary_string": CANARY_STRING}
                for doc in prepare_api_docs(app, include_private_apis=False, format="function_calling")
            ]
            write_json(function_calling,
                       os.path.join(data_dir, "api_docs", "function_calling", f"{app}.json"), silent=True)

        # ------------------------------------------------------------ tasks
        scenarios = [s for s in SCENARIOS if not only or s.slug in only]
        if limit is not None:
            scenarios = scenarios[:limit]
        manifest: dict = {"seed": seed, "datetime": WORLD_NOW.isoformat(), "db_version": DB_VERSION,
                          "supervisor": None, "scenarios": {}, "tasks": {}}
        s = world.supervisor
        supervisor_spec = {"first_name": s.first_name, "last_name": s.last_name, "email": s.email,
                           "phone_number": s.phone_number}
        manifest["supervisor"] = supervisor_spec
        for scenario in scenarios:
            scenario_id = stable_id(scenario.slug)
            specs = scenario.make_variants(world)
            body = scenario.solution_body()
            evaluation = scenario.evaluation()
            manifest["scenarios"][scenario_id] = {
                "slug": scenario.slug, "title": scenario.title, "difficulty": scenario.difficulty,
                "apps": scenario.apps, "kind": scenario.kind,
                "split": next(name for name, slugs in SPLITS.items() if scenario.slug in slugs),
            }
            for number, spec in enumerate(specs, start=1):
                task_id = f"{scenario_id}_{number}"
                task_memory = f":memory:trirole_pack_task-{task_id}"
                ctx.switch(task_memory, base_dir)
                ctx.m.supervisor.Task.create_save(
                    supervisor_id=world.data["supervisor_id"], instruction=spec.instruction
                )
                task_dir = os.path.join(data_dir, "tasks", task_id)
                save_local_dbs(from_db_home_path=task_memory, to_db_home_path=os.path.join(task_dir, "dbs"),
                               format="changes", app_names=list(ALL_APPS), delete_if_exists=True)
                CachedDBHandler.reset(task_memory)
                write_json({
                    "instruction": spec.instruction,
                    "supervisor": supervisor_spec,
                    "datetime": WORLD_NOW.isoformat(),
                    "db_version": DB_VERSION,
                    "canary_string": CANARY_STRING,
                }, os.path.join(task_dir, "specs.json"), silent=True)
                _write_ground_truth(os.path.join(task_dir, "ground_truth"), scenario, spec, body, evaluation)
                manifest["tasks"][task_id] = {
                    "scenario": scenario.slug, "instruction": spec.instruction,
                    "difficulty": scenario.difficulty, "apps": scenario.apps, "kind": scenario.kind,
                    "collateral_requirements": [c.requirement for c in evaluation.checks if c.collateral],
                    "perturbation": spec.perturbation,
                }
                log(f"  {task_id} ({scenario.slug}, difficulty {scenario.difficulty}): {spec.instruction}")
        ctx.close()
    finally:
        unset_local_date_and_time(freezer)

    # ---------------------------------------------------------------- datasets
    os.makedirs(os.path.join(data_dir, "datasets"), exist_ok=True)
    for split_name, slugs in SPLITS.items():
        task_ids = [task_id for slug in slugs for task_id, info in manifest["tasks"].items()
                    if info["scenario"] == slug]
        with open(os.path.join(data_dir, "datasets", f"{split_name}.txt"), "w") as file:
            file.write("\n".join(task_ids) + ("\n" if task_ids else ""))
    with open(os.path.join(data_dir, "pack_manifest.json"), "w") as file:
        json.dump(manifest, file, indent=2, sort_keys=True)
    elapsed = _real_clock() - started
    log(f"generated {len(manifest['tasks'])} tasks in {elapsed:.1f}s into {data_dir}")
    return manifest


def _write_ground_truth(directory: str, scenario, spec, body: str, evaluation) -> None:
    """ground_truth/ in AppWorld's "full" mode (solution, compiled solution, evaluation, data)."""
    from appworld.common.utils import write_json

    from .common import compiled_solution_py, evaluation_py, solution_py

    os.makedirs(directory, exist_ok=True)
    files = {
        "solution.py": solution_py(body),
        "compiled_solution.py": compiled_solution_py(body, spec.public_data),
        "evaluation.py": evaluation_py(evaluation.body),
    }
    for name, content in files.items():
        with open(os.path.join(directory, name), "w") as file:
            file.write(content)
    write_json(spec.public_data, os.path.join(directory, "public_data.json"), silent=True)
    write_json(spec.private_data, os.path.join(directory, "private_data.json"), silent=True)
    with open(os.path.join(directory, "answer.json"), "w") as file:
        file.write(json.dumps(spec.answer))
    test_data = [{"requirement": c.requirement, "label": c.label} for c in evaluation.checks]
    write_json(test_data, os.path.join(directory, "test_data.json"), silent=True)
    write_json(scenario.apps, os.path.join(directory, "required_apps.json"), silent=True)
    body_code = body.splitlines()
    # the official generator also records num_api_calls and timings; they need a solved run.
    metadata = {
        "mode": "full",
        "difficulty": scenario.difficulty,
        "num_apps": len(scenario.apps),
        "num_apis": len(set(re.findall(r"apis\.(\w+\.\w+)", body))),
        "num_solution_code_lines": len([line for line in body_code if line.strip() and not line.strip().startswith("#")]),
    }
    write_json(metadata, os.path.join(directory, "metadata.json"), silent=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="APPWORLD_ROOT to write (its data/ is replaced)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N scenarios")
    parser.add_argument("--only", nargs="*", default=None, help="only these scenario slugs")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    generate(args.root, args.seed, limit=args.limit, only=args.only, quiet=args.quiet)
    # AppWorld leaves non-daemon threads/handles around; exit without waiting on them.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
