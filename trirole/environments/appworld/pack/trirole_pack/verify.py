"""Verify a generated task pack with AppWorld's own environment and evaluator (in-process).

Run with the AppWorld virtual environment's python, the folder that holds this package on the
path (``trirole.environments.appworld.pack.run_verifier`` does):

    PYTHONPATH=trirole/environments/appworld/pack <appworld-env>/bin/python -m trirole_pack.verify --root DIR [--tasks ID ...]

For every task it runs, each in a fresh AppWorld world:
  gt          the ground-truth solution.py (solution(main_user, apis, requester, public_data)),
              called in-process on the world's APIs: the evaluation must pass;
  compiled    compiled_solution.py through world.execute (AppWorld's own path for agent code,
              safety guard included): must pass;
  noop        a do-nothing solution (apis.supervisor.complete_task() with no answer): must fail,
              and each check must fail/pass as its test_data label (no_op_fail/no_op_pass) says;
  collateral  the compiled solution followed by a change the task must not make (deleting or
              altering an unrelated record, from data/pack_manifest.json): must fail, on at least
              one check marked as a collateral-damage guard.
Prints a summary table and exits non-zero on any violation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings

warnings.filterwarnings("ignore")

MODES = ("gt", "compiled", "noop", "collateral")
EXPERIMENT_PREFIX = "trirole_pack_verify"


def _load_manifest(root: str) -> dict:
    with open(os.path.join(root, "data", "pack_manifest.json")) as file:
        return json.load(file)


def run_mode(task_id: str, mode: str, manifest: dict) -> tuple[object, str]:
    """Run one mode of one task; returns (TestTracker, environment output)."""
    from appworld.environment import AppWorld

    output = ""
    with AppWorld(task_id=task_id, experiment_name=f"{EXPERIMENT_PREFIX}_{mode}",
                  ground_truth_mode="full") as world:
        ground_truth = world.task.ground_truth
        if mode == "gt":
            module = ground_truth.solution_module()
            try:
                module.solution(world.task.supervisor, world.apis, world.requester, ground_truth.public_data)
            except Exception as exception:  # noqa: BLE001 - reported, then evaluated anyway
                output = f"Execution failed. {type(exception).__name__}: {exception}"
            # world.execute() does this after every cell; the evaluator reloads the end state's
            # model-change counters from there (changed_model_names() depends on them).
            world._save_state(world.output_db_home_path_on_disk)
        else:
            codes = []
            if mode in ("compiled", "collateral"):
                codes.append(ground_truth.compiled_solution_code + "\n\nsolution(apis, requester)")
            if mode == "collateral":
                codes.append(manifest["tasks"][task_id]["perturbation"])
            if mode == "noop":
                codes.append("apis.supervisor.complete_task()")
            outputs = [world.execute(code) for code in codes]
            output = "\n".join(outputs)
        tracker = world.evaluate()
    return tracker, output


def verify(root: str, task_ids: list[str] | None = None, modes: tuple[str, ...] = MODES,
           quiet: bool = False) -> tuple[list[dict], list[str]]:
    root = os.path.abspath(root)
    os.environ["APPWORLD_ROOT"] = root
    from appworld import update_root

    update_root(root)
    manifest = _load_manifest(root)
    task_ids = task_ids or list(manifest["tasks"])
    rows: list[dict] = []
    violations: list[str] = []
    started = time.perf_counter()
    for task_id in task_ids:
        info = manifest["tasks"][task_id]
        row = {"task_id": task_id, "scenario": info["scenario"], "difficulty": info["difficulty"],
               "kind": info["kind"]}
        for mode in modes:
            tracker, output = run_mode(task_id, mode, manifest)
            failed = [f["requirement"] for f in tracker.failures]
            passed = [p["requirement"] for p in tracker.passes]
            execution_failed = "Execution failed" in output
            if mode in ("gt", "compiled"):
                ok = tracker.success and not execution_failed
                row[mode] = "pass" if tracker.success else "FAIL"
                if not ok:
                    violations.append(f"{task_id} {mode}: ground truth did not pass: failed={failed} output={output[-2000:]}")
            elif mode == "noop":
                row[mode] = "fail" if not tracker.success else "PASS"
                if tracker.success:
                    violations.append(f"{task_id} noop: the do-nothing solution passed")
                labels = {d["requirement"]: d["label"] for d in tracker.test_data}
                wrong = [r for r in failed if labels.get(r) == "no_op_pass"]
                wrong += [r for r in passed if labels.get(r) == "no_op_fail"]
                if wrong:
                    violations.append(f"{task_id} noop: test_data labels disagree with a real no-op run: {wrong}")
                    row[mode] += " (labels!)"
            elif mode == "collateral":
                guards = set(info["collateral_requirements"])
                caught = [r for r in failed if r in guards]
                row[mode] = "fail" if not tracker.success and caught else ("PASS" if tracker.success else "fail?")
                if execution_failed:
                    violations.append(f"{task_id} collateral: the solution or the perturbation did not run: {output[-2000:]}")
                if tracker.success:
                    violations.append(f"{task_id} collateral: passed despite an unrelated change")
                elif not caught:
                    violations.append(f"{task_id} collateral: failed, but on no collateral check: {failed}")
        rows.append(row)
        if not quiet:
            cells = " ".join(f"{mode}={row[mode]}" for mode in modes)
            print(f"{task_id:<11} {info['scenario']:<14} d{info['difficulty']} {cells}", flush=True)
    if not quiet:
        print(f"verified {len(rows)} tasks in {time.perf_counter() - started:.1f}s")
    for mode in modes:
        shutil.rmtree(os.path.join(root, "experiments", "outputs", f"{EXPERIMENT_PREFIX}_{mode}"),
                      ignore_errors=True)
    return rows, violations


def summary_table(rows: list[dict], modes: tuple[str, ...]) -> str:
    header = ["task_id", "scenario", "difficulty", "kind", *modes]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for row in rows:
        lines.append(" | ".join(str(row[key]) for key in header))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an AppWorld task pack.")
    parser.add_argument("--root", required=True, help="the pack's APPWORLD_ROOT (contains data/)")
    parser.add_argument("--tasks", nargs="*", default=None, help="only these task ids")
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    modes = tuple(args.modes)
    rows, violations = verify(args.root, args.tasks, modes, quiet=args.quiet)
    print()
    print(summary_table(rows, modes))
    print()
    if violations:
        print(f"{len(violations)} VIOLATION(S):")
        for violation in violations:
            print(" -", violation)
    else:
        print(f"OK: {len(rows)} tasks verified ({', '.join(modes)}).")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"rows": rows, "violations": violations}, file, indent=2)
    sys.stdout.flush()
    os._exit(1 if violations else 0)


if __name__ == "__main__":
    sys.exit(main())
